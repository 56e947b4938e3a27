"""Did it sing the lyrics: a transcript of a song's vocals scored against the lines the model was given.

* Both sides become comparable tokens (``tokens``: words case-folded without punctuation or apostrophes, digits as
  written, Han characters as toneless pinyin so that a homophone counts as sung, kana and hangul per character).
* The heard tokens are aligned to the whole sheet's tokens at once (``align``: Levenshtein with a backtrace; the
  fewest edits, then the most heard tokens inside their own line's window), so a dropped word, a missing line and a
  line sung twice each show up as edits in the right line.
* Errors are counted per line: its sheet tokens substituted or not heard, and the heard tokens inserted in it. A
  heard token inserted between two lines belongs to the one of those two whose window holds its time (else the one
  nearer to it), and to the line before where it has no time (so a line sung twice flags that line); one inserted
  before the first line belongs to the first line, one after the last to the last.
* A line's ``score`` is ``1 - errors / its tokens``, clipped to [0, 1]; it is ``flagged`` below ``FLAG_BELOW``.
  The song's ``lyrics_accuracy`` is ``1 - all errors / all sheet tokens``, clipped to [0, 1].
* A song without a sung line (instrumental, or lines with nothing to sing) has no report: ``score_lyrics`` returns
  ``None``.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from inference_container.lyrics_check.align import Step, align
from inference_container.lyrics_check.inputs import HeardWord, SheetLine
from inference_container.lyrics_check.tokens import Token, join, raw_tokens, read_han, tokenize

FLAG_BELOW = 0.9  # a line scoring below this is flagged: one error in a line of up to 9 tokens


@dataclass(frozen=True)
class LineScore:
    """One sung line: the sheet's text, what was heard in it (its aligned heard tokens), its score and window, and
    its errors: sheet tokens not heard (``missing``), heard but not these (``substituted``), heard in addition
    (``extra``)."""

    expected: str
    heard: str
    score: float
    start_s: float
    end_s: float
    flagged: bool
    missing: int = 0
    substituted: int = 0
    extra: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"expected": self.expected, "heard": self.heard, "score": round(self.score, 3),
                "start_s": round(self.start_s, 3), "end_s": round(self.end_s, 3), "flagged": self.flagged,
                "missing": self.missing, "substituted": self.substituted, "extra": self.extra}


@dataclass(frozen=True)
class LyricsReport:
    """The song's lyric check: every sung line in order, and the song's accuracy."""

    lines: tuple[LineScore, ...]
    lyrics_accuracy: float
    flag_below: float = FLAG_BELOW

    @property
    def flagged(self) -> tuple[int, ...]:
        """The indexes (in ``lines``) of the flagged lines."""
        return tuple(index for index, line in enumerate(self.lines) if line.flagged)

    def to_json(self) -> dict[str, Any]:
        """The report as ``lyrics.json`` carries it (JSON-ready: ``json.dumps(report.to_json())``)."""
        return {"lyrics_accuracy": round(self.lyrics_accuracy, 3), "flag_below": self.flag_below,
                "lines": [line.to_json() for line in self.lines]}


def heard_tokens(heard: Sequence[HeardWord]) -> tuple[list[Token], list[float | None]]:
    """The transcript's tokens and each one's time: a word's middle, or its chunk's span shared out evenly over the
    chunk's tokens (the start or end alone where only one is known). Han characters are read across chunks."""
    tokens: list[Token] = []
    times: list[float | None] = []
    for word in heard:
        found = raw_tokens(word.text)
        start = word.start_s if word.start_s is not None else word.end_s
        end = word.end_s if word.end_s is not None else start
        tokens += found
        if start is None or end is None:
            times += [None] * len(found)
        else:
            times += [start + (index + 0.5) * (max(end, start) - start) / len(found) for index in range(len(found))]
    return read_han(tokens), times


def _rank(time_s: float, line: SheetLine) -> tuple[int, float]:
    """How far ``time_s`` is from ``line``'s window: (0, 0) inside it, else (1, the distance)."""
    if line.start_s <= time_s < line.end_s:
        return 0, 0.0
    return 1, line.start_s - time_s if time_s < line.start_s else time_s - line.end_s


def nearest_line(time_s: float, lines: Sequence[SheetLine], starts: Sequence[float]) -> int:
    """The index of the line whose window holds ``time_s``, else the nearest (the earlier on a tie)."""
    index = max(0, bisect.bisect_right(starts, time_s) - 1)
    candidates = [index, *([index + 1] if index + 1 < len(lines) else [])]
    return min(candidates, key=lambda candidate: (_rank(time_s, lines[candidate]), candidate))


def _owner(before: int | None, after: int | None, time_s: float | None, lines: Sequence[SheetLine]) -> int:
    """The line a heard token inserted between sheet lines ``before`` and ``after`` belongs to."""
    if before is None or after is None:
        return before if before is not None else after if after is not None else 0
    if before == after or time_s is None:
        return before
    return min((before, after), key=lambda line: (_rank(time_s, lines[line]), line))


def _owners(steps: Sequence[Step], sheet_lines: Sequence[int], times: Sequence[float | None],
            lines: Sequence[SheetLine]) -> list[int]:
    """Each step's line: its sheet token's, or for an insertion the line ``_owner`` gives it."""
    before: list[int | None] = []
    last: int | None = None
    for step in steps:
        last = sheet_lines[step.sheet] if step.sheet is not None else last
        before.append(last)
    owners = [0] * len(steps)
    after: int | None = None
    for index in range(len(steps) - 1, -1, -1):
        step = steps[index]
        if step.sheet is not None:
            owners[index] = after = sheet_lines[step.sheet]
        else:
            heard = step.heard if step.heard is not None else 0
            owners[index] = _owner(before[index], after, times[heard], lines)
    return owners


def score_lyrics(sheet: Sequence[SheetLine], heard: Sequence[HeardWord]) -> LyricsReport | None:
    """Score what was heard against the sheet (the rules are in the module's docstring); ``None`` when no line of
    the sheet has anything to sing.

    Example
    -------
    >>> sheet = [SheetLine("Hold me close,", 0.0, 4.0), SheetLine("don't let go", 4.0, 8.0)]
    >>> report = score_lyrics(sheet, [HeardWord("hold me close dont let go")])
    >>> report.lyrics_accuracy, report.flagged
    (1.0, ())
    >>> report = score_lyrics(sheet, [HeardWord("hold me close hold me close")])
    >>> [(line.heard, round(line.score, 2), line.flagged) for line in report.lines]
    [('hold me close', 1.0, False), ('hold me close', 0.0, True)]
    >>> score_lyrics([SheetLine("...", 0.0, 4.0)], []) is None
    True
    """
    sung = [(line, found) for line in sheet if (found := tokenize(line.text))]
    if not sung:
        return None
    lines = [line for line, _ in sung]
    sheet_tokens = [token for _, found in sung for token in found]
    sheet_lines = [index for index, (_, found) in enumerate(sung) for _ in found]
    tokens, times = heard_tokens(heard)
    starts = [line.start_s for line in lines]
    heard_lines = [-1 if time_s is None else nearest_line(time_s, lines, starts) for time_s in times]
    steps = align(sheet_tokens, tokens, sheet_lines, heard_lines)
    owners = _owners(steps, sheet_lines, times, lines)
    counts = [{"missing": 0, "substituted": 0, "extra": 0} for _ in lines]
    heard_in: list[list[Token]] = [[] for _ in lines]
    operation = {"deletion": "missing", "substitution": "substituted", "insertion": "extra"}
    for step, owner in zip(steps, owners, strict=True):
        if step.op in operation:
            counts[owner][operation[step.op]] += 1
        if step.heard is not None:
            heard_in[owner].append(tokens[step.heard])
    scores = []
    for index, (line, found) in enumerate(sung):
        score = min(1.0, max(0.0, 1.0 - sum(counts[index].values()) / len(found)))
        scores.append(LineScore(line.text, join(heard_in[index]), score, line.start_s, line.end_s,
                                score < FLAG_BELOW, **counts[index]))
    errors = sum(sum(count.values()) for count in counts)
    return LyricsReport(tuple(scores), min(1.0, max(0.0, 1.0 - errors / len(sheet_tokens))))
