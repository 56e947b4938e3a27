"""LRC lyrics: parse, validate and place on the song's time line, with line-numbered errors.

Accepts ``[mm:ss]``, ``[mm:ss.xx]`` and ``[mm:ss.xxx]`` time tags and skips metadata tags such as ``[ar:...]``.
Lyrics without any time tag are accepted too: their lines are spread evenly over the song and the result says so.
Token counts here are estimates (the exact phonemes come from the worker's G2P); they catch lines that cannot fit
in the time before the next line, where the model would push every later line out of place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from shared.timeline import LATENT_RATE, end_frame, frame_at

_TAG = re.compile(r"^\s*\[(?P<tag>[^\]]*)\](?P<rest>.*)$")
_METADATA = re.compile(r"^[A-Za-z][A-Za-z_ ]*:")
_TIME = re.compile(r"^(?P<m>\d{1,3}):(?P<s>[0-5]?\d)(?:[.:](?P<f>\d{1,3}))?$")
_TIME_LIKE = re.compile(r"\[\d+:\d")
MAX_NUMBER_DIGITS = 15  # a longer number is not something a singer can read out (and the G2P cannot spell it)
_LONG_NUMBER = re.compile(rf"\d(?:,?\d){{{MAX_NUMBER_DIGITS},}}")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
_LATIN = re.compile(r"[^\W\d_]", re.UNICODE)


def estimate_tokens(text: str) -> int:
    """A conservative estimate of the phoneme tokens of one lyric line, closing period included.

    Example
    -------
    >>> estimate_tokens("")
    0
    """
    text = text.strip()
    if not text:
        return 0
    cjk = len(_CJK.findall(text))
    latin = len(_LATIN.findall(text)) - cjk
    digits = sum(ch.isdigit() for ch in text)
    spaces = len(text.split()) - 1
    return int(0.7 * latin + 1.5 * cjk + 2 * digits + spaces) + 1


@dataclass(frozen=True)
class LyricLine:
    """One lyric line: its 1-based line number in the input, start time and text (empty = instrumental)."""

    number: int
    time_s: float
    text: str


@dataclass(frozen=True)
class LyricsIssue:
    """A problem with one input line (``line`` is ``None`` for the lyrics as a whole)."""

    line: int | None
    message: str

    def __str__(self) -> str:
        return self.message if self.line is None else f"line {self.line}: {self.message}"


class LyricsError(ValueError):
    """The lyrics cannot be used; ``issues`` lists every problem found."""

    def __init__(self, issues: list[LyricsIssue]) -> None:
        self.issues = issues
        super().__init__("; ".join(str(issue) for issue in issues))


@dataclass(frozen=True)
class ParsedLyrics:
    """Validated lyrics. ``timed`` is False when the input had no time tags and lines were spread evenly."""

    lines: tuple[LyricLine, ...]
    timed: bool
    warnings: tuple[str, ...] = field(default=())

    def to_lrc(self) -> str:
        """The lyrics as LRC text, one ``[mm:ss.xx]`` line each."""
        return "\n".join(f"[{_format_time(line.time_s)}]{line.text}" for line in self.lines)


def _format_time(seconds: float) -> str:
    minutes, rest = divmod(round(seconds * 100), 6000)
    return f"{minutes:02d}:{rest // 100:02d}.{rest % 100:02d}"


def _parse_time(tag: str) -> float | None:
    match = _TIME.match(tag.strip())
    if not match:
        return None
    fraction = match["f"] or ""
    return int(match["m"]) * 60 + int(match["s"]) + (int(fraction) / 10 ** len(fraction) if fraction else 0.0)


def _read_lines(lrc: str) -> tuple[list[LyricLine], list[tuple[int, str]], list[LyricsIssue]]:
    """Split the input into timed lines, untimed text lines and syntax issues."""
    timed: list[LyricLine] = []
    untimed: list[tuple[int, str]] = []
    issues: list[LyricsIssue] = []
    for number, raw in enumerate(lrc.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        match = _TAG.match(line)
        if match is None:
            if _TIME_LIKE.search(line):
                issues.append(LyricsIssue(number, f"time tag not at the start of the line in {line[:40]!r}"))
            else:
                untimed.append((number, line))
            continue
        tag, rest = match["tag"], match["rest"].strip()
        if _METADATA.match(tag) and not tag[:1].isdigit():
            continue
        seconds = _parse_time(tag)
        if seconds is None:
            issues.append(LyricsIssue(number, f"bad timestamp [{tag}]; expected [mm:ss.xx] with seconds below 60"))
        elif _TIME_LIKE.search(rest):
            issues.append(LyricsIssue(number, "more than one timestamp on a line; give each line its own timestamp"))
        else:
            timed.append(LyricLine(number, seconds, rest))
    return timed, untimed, issues


def timed_lines(lrc: str) -> list[LyricLine]:
    """Every line with a valid time tag, in file order; anything else is skipped (the model front end's lenient read).

    Example
    -------
    >>> [line.text for line in timed_lines("[ti:x]\\n[00:01.00]a\\nb\\n[00:02.00]")]
    ['a', '']
    """
    return _read_lines(lrc)[0]


def _spread(untimed: list[tuple[int, str]], audio_length: float) -> list[LyricLine]:
    start, stop = 0.05 * audio_length, 0.9 * audio_length
    step = (stop - start) / len(untimed)
    return [LyricLine(number, round(start + i * step, 2), text) for i, (number, text) in enumerate(untimed)]


def _check_timeline(lines: list[LyricLine], audio_length: float) -> list[LyricsIssue]:
    issues: list[LyricsIssue] = []
    last_frame = end_frame(audio_length)
    previous: LyricLine | None = None
    for i, line in enumerate(lines):
        if line.time_s >= audio_length:
            issues.append(
                LyricsIssue(line.number, f"[{_format_time(line.time_s)}] is at or after the end of the "
                            f"{audio_length:g} s song; raise audio_length or remove the line")
            )
            continue
        if previous is not None and line.time_s < previous.time_s:
            issues.append(
                LyricsIssue(line.number, f"out of order: [{_format_time(line.time_s)}] is earlier than line "
                            f"{previous.number} at [{_format_time(previous.time_s)}]")
            )
            continue
        previous = line
        following = next((n for n in lines[i + 1:] if n.time_s >= line.time_s), None)
        stop = min(frame_at(following.time_s), last_frame) if following else last_frame
        available = stop - frame_at(line.time_s)
        tokens = estimate_tokens(line.text)
        if tokens > available:
            issues.append(
                LyricsIssue(line.number, f"too many syllables for the time before the next line: about {tokens} "
                            f"phoneme tokens need {tokens / LATENT_RATE:.1f} s, only {available / LATENT_RATE:.1f} s "
                            "are available; shorten the line or move the next one later")
            )
    return issues


def parse_lrc(lrc: str, audio_length: float) -> ParsedLyrics:
    """Parse and validate lyrics for a song of ``audio_length`` seconds.

    Raises
    ------
    LyricsError
        With every problem found, each naming its input line.

    Example
    -------
    >>> parse_lrc("[00:01.00]Hello there\\n[00:05.50]General Kenobi", 120).lines[1].time_s
    5.5
    """
    timed, untimed, issues = _read_lines(lrc)
    warnings: list[str] = []
    if timed or issues:
        issues += [LyricsIssue(n, f"no [mm:ss.xx] timestamp before {text[:40]!r}") for n, text in untimed]
        lines = timed
    elif untimed:
        lines = _spread(untimed, audio_length)
        warnings.append(f"the lyrics have no timestamps: {len(lines)} lines were spread evenly from "
                        f"{lines[0].time_s:g} s to {lines[-1].time_s:g} s")
    else:
        lines = []
    if not any(line.text for line in lines) and not issues:
        issues.append(LyricsIssue(None, "no lyric line found; expected lines like [00:12.00]first line of lyrics"))
    issues += _check_timeline(lines, audio_length)
    issues += [LyricsIssue(line.number, f"a number with more than {MAX_NUMBER_DIGITS} digits cannot be sung; write it "
                           "in words") for line in lines if _LONG_NUMBER.search(line.text)]
    if issues:
        raise LyricsError(sorted(issues, key=lambda issue: issue.line or 0))
    return ParsedLyrics(tuple(lines), timed=bool(timed), warnings=tuple(warnings))
