"""Benchmarks (scripts, not tests): each prints a table and writes JSON to ``benchmarks/results/``.

``python -m benchmarks.model --quick`` times the DiT (ours beside an upstream-like reference path) on this machine.
"""
