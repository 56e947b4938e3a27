"""Grouping claimed jobs into sampling calls.

At most ``max_rows`` rows (variations) go into one sampling call: compatible jobs are grouped up to that many, and a
job with more variations is sampled in several calls (``JobRunner.generate``).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

from inference_container.diffrhythm.songs import SongRequest
from inference_container.worker.lease import Claimed


def groups(claims: list[Claimed], batch_key: Callable[[SongRequest], Hashable], max_rows: int) -> list[list[Claimed]]:
    """Groups of jobs with equal ``batch_key`` (the pipeline's) and at most ``max_rows`` rows (variations), in arrival
    order; a job with more rows than that is a group of its own (sampled in several calls)."""
    found: list[list[Claimed]] = []
    open_groups: dict[Hashable, list[Claimed]] = {}
    for claimed in claims:
        key = batch_key(claimed.song)
        group = open_groups.get(key)
        rows = claimed.song.variations
        if group is None or sum(c.song.variations for c in group) + rows > max_rows:
            group = open_groups[key] = []
            found.append(group)
        group.append(claimed)
    return found
