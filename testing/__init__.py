"""Test code, never shipped in the worker image: the TINY RANDOM model bundle in the published formats (``tiny``,
``tiny_mulan``, ``tiny_g2p``) and the check against golden vectors (``golden``). The tests, the benchmarks and the
local stack use it; ``python -m testing`` (and the development ``diffrhythm`` command) runs its commands."""
