"""LRC text: read it into lines, with line-numbered errors; ``shared.lyrics`` validates and places them on the song's
time line.

Accepts ``[mm:ss]``, ``[mm:ss.xx]`` and ``[mm:ss.xxx]`` time tags, skips metadata tags such as ``[ar:...]`` and
recognises section tags such as ``[verse 1]`` or ``[Chorus]`` (see ``SECTION_NAMES``), which carry no text.
Token counts here are estimates (the exact phonemes come from the worker's G2P); they catch lines that cannot fit
in the time before the next line, where the model would push every later line out of place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_TAG = re.compile(r"^\s*\[(?P<tag>[^\]]*)\](?P<rest>.*)$")
_METADATA = re.compile(r"^[A-Za-z][A-Za-z_ ]*:")
_TIME = re.compile(r"^(?P<m>\d{1,3}):(?P<s>[0-5]?\d)(?:[.:](?P<f>\d{1,3}))?$")
_TIME_LIKE = re.compile(r"\[\d+:\d")
MAX_NUMBER_DIGITS = 15  # a longer number is not something a singer can read out (and the G2P cannot spell it)
LONG_NUMBER = re.compile(rf"\d(?:,?\d){{{MAX_NUMBER_DIGITS},}}")
CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")  # one syllable each
_LATIN = re.compile(r"[^\W\d_]", re.UNICODE)

SECTION_NAMES = (
    "intro", "verse", "pre-chorus", "prechorus", "pre chorus", "chorus", "post-chorus", "postchorus", "post chorus",
    "refrain", "hook", "bridge", "breakdown", "break", "interlude", "instrumental", "inst", "solo", "drop",
    "build-up", "buildup", "build up", "outro", "coda", "ending",
)
# up to two words, a section name, an optional number and an optional suffix: [Verse 1: Name], [Final Chorus x2],
# [Guitar solo], [Bridge (slow)]
_SECTION = re.compile(
    rf"^(?:[^\W\d_]+\s+){{0,2}}(?P<kind>{'|'.join(re.escape(name) for name in SECTION_NAMES)})(?:\s*\d+)?"
    r"(?:[\s:(\-–—,].*)?$",
    re.IGNORECASE,
)


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
    cjk = len(CJK.findall(text))
    latin = len(_LATIN.findall(text)) - cjk
    digits = sum(ch.isdigit() for ch in text)
    spaces = len(text.split()) - 1
    return int(0.7 * latin + 1.5 * cjk + 2 * digits + spaces) + 1


@dataclass(frozen=True)
class LyricLine:
    """One lyric line: its 1-based line number in the input, start time and text (empty = instrumental), and the
    section tag it falls under as written (``""`` when none)."""

    number: int
    time_s: float
    text: str
    section: str = ""


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
    """Validated lyrics. ``timed`` is False when the input had no time tags and the lines were placed at a tempo
    (then the last line is an empty one: the end of the singing)."""

    lines: tuple[LyricLine, ...]
    timed: bool
    warnings: tuple[str, ...] = field(default=())

    def to_lrc(self) -> str:
        """The lyrics as LRC text, one ``[mm:ss.xx]`` line each: the times the song is generated with."""
        return "\n".join(f"[{format_time(line.time_s)}]{line.text}" for line in self.lines)


@dataclass
class Section:
    """Untimed lyric lines under one section tag (``name`` as written, ``""`` before any tag)."""

    number: int
    name: str
    kind: str  # the tag's section name in lower case, "" for none
    lines: list[tuple[int, str]] = field(default_factory=list)


def format_time(seconds: float) -> str:
    minutes, rest = divmod(round(seconds * 100), 6000)
    return f"{minutes:02d}:{rest // 100:02d}.{rest % 100:02d}"


def _parse_time(tag: str) -> float | None:
    match = _TIME.match(tag.strip())
    if not match:
        return None
    fraction = match["f"] or ""
    return int(match["m"]) * 60 + int(match["s"]) + (int(fraction) / 10 ** len(fraction) if fraction else 0.0)


def read_lines(lrc: str) -> tuple[list[LyricLine], list[Section], list[LyricsIssue]]:
    """Split the input into timed lines, sections of untimed text lines and syntax issues.

    A section tag starts a section; so does a blank line after untimed text (a new stanza of the same section).
    """
    timed: list[LyricLine] = []
    sections: list[Section] = []
    issues: list[LyricsIssue] = []
    stanza_ended = False
    for number, raw in enumerate(lrc.splitlines(), start=1):
        line = raw.strip()
        if not line:
            stanza_ended = bool(sections and sections[-1].lines)
            continue
        match = _TAG.match(line)
        text = line
        if match is not None:
            tag, text = match["tag"].strip(), match["rest"].strip()
            if (section := _SECTION.match(tag)) is not None:
                sections.append(Section(number, tag, section["kind"].lower()))
                stanza_ended = False
                if not text:
                    continue
            elif _METADATA.match(tag) and not tag[:1].isdigit():
                continue
            else:
                times, text = _leading_times(line)
                bad = next((t for t in times if isinstance(t, str)), None)
                if bad is not None:
                    issues.append(LyricsIssue(number, f"bad timestamp [{bad}]; expected [mm:ss.xx] with seconds "
                                                      "below 60, or a section tag such as [verse] or [chorus]"))
                elif _TIME_LIKE.search(text):
                    issues.append(LyricsIssue(number, "a timestamp inside the line; put the line's timestamps at "
                                                      "its start ([00:35.00][01:10.00]a repeated line)"))
                else:  # several timestamps: the same lyric at each time (a repeated chorus line)
                    timed += [LyricLine(number, float(t), text, sections[-1].name if sections else "") for t in times]
                continue
        if _TIME_LIKE.search(text):
            issues.append(LyricsIssue(number, f"time tag not at the start of the line in {line[:40]!r}"))
            continue
        if not sections or stanza_ended:
            name = sections[-1].name if sections else ""
            sections.append(Section(number, name, ""))
            stanza_ended = False
        sections[-1].lines.append((number, text))
    return timed, sections, issues


def has_words(lrc: str) -> bool:
    """Whether any line of ``lrc`` has text after its leading tags (time, section or metadata): something to sing.

    Example
    -------
    >>> has_words("[intro]\\n[00:10.00]\\n[ar:someone]"), has_words("[00:10.00][chorus] la la")
    (False, True)
    """
    for line in lrc.splitlines():
        while (match := _TAG.match(line)) is not None:
            line = match["rest"]
        if line.strip():
            return True
    return False


def _leading_times(line: str) -> tuple[list[float | str], str]:
    """The time tags at the start of ``line`` (a bad one as its text) and the lyric after them.

    Example
    -------
    >>> _leading_times("[00:35.00][01:10.5]la la")
    ([35.0, 70.5], 'la la')
    """
    times: list[float | str] = []
    while (match := _TAG.match(line)) is not None and (_TIME_LIKE.match(f"[{match['tag'].strip()}") or not times):
        tag = match["tag"].strip()
        seconds = _parse_time(tag)
        times.append(tag if seconds is None else seconds)
        line = match["rest"]
    return times, line.strip()


def in_time_order(lines: list[LyricLine]) -> tuple[list[LyricLine], list[str]]:
    """Lines with several timestamps (one ``LyricLine`` each, same line number) make the file's order meaningless:
    then every line is sorted by time, and each repeated line is reported. Otherwise the lines are kept as given."""
    counts: dict[int, list[LyricLine]] = {}
    for line in lines:
        counts.setdefault(line.number, []).append(line)
    repeated = {number: group for number, group in counts.items() if len(group) > 1}
    if not repeated:
        return lines, []
    warnings = [f"line {number}: {group[0].text[:40]!r} is sung at each of its {len(group)} timestamps ("
                + ", ".join(f"{format_time(line.time_s)}" for line in group) + ")"
                for number, group in repeated.items()]
    return sorted(lines, key=lambda line: line.time_s), warnings


def timed_lines(lrc: str) -> list[LyricLine]:
    """Every line with a valid time tag, in file order (in time order when a line has several timestamps: it is sung
    at each); anything else is skipped (the model front end's lenient read).

    Example
    -------
    >>> [line.text for line in timed_lines("[ti:x]\\n[verse]\\n[00:01.00]a\\nb\\n[00:02.00]")]
    ['a', '']
    >>> [(line.time_s, line.text) for line in timed_lines("[00:01.00][00:09.00]hook\\n[00:05.00]verse")]
    [(1.0, 'hook'), (5.0, 'verse'), (9.0, 'hook')]
    """
    return in_time_order(read_lines(lrc)[0])[0]
