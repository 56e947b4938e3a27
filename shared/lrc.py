"""LRC lyrics: parse, validate and place on the song's time line, with line-numbered errors.

Accepts ``[mm:ss]``, ``[mm:ss.xx]`` and ``[mm:ss.xxx]`` time tags, skips metadata tags such as ``[ar:...]`` and
recognises section tags such as ``[verse 1]`` or ``[Chorus]`` (see ``SECTION_NAMES``), which carry no text.
Lyrics without any time tag are placed on the song's time line at a tempo (see ``parse_lrc``) and the result says so.
Token counts here are estimates (the exact phonemes come from the worker's G2P); they catch lines that cannot fit
in the time before the next line, where the model would push every later line out of place.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from shared.timeline import LATENT_RATE, MAX_SECONDS, end_frame, frame_at

_TAG = re.compile(r"^\s*\[(?P<tag>[^\]]*)\](?P<rest>.*)$")
_METADATA = re.compile(r"^[A-Za-z][A-Za-z_ ]*:")
_TIME = re.compile(r"^(?P<m>\d{1,3}):(?P<s>[0-5]?\d)(?:[.:](?P<f>\d{1,3}))?$")
_TIME_LIKE = re.compile(r"\[\d+:\d")
MAX_NUMBER_DIGITS = 15  # a longer number is not something a singer can read out (and the G2P cannot spell it)
_LONG_NUMBER = re.compile(rf"\d(?:,?\d){{{MAX_NUMBER_DIGITS},}}")
CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")  # one syllable each
_LATIN = re.compile(r"[^\W\d_]", re.UNICODE)
_VOWELS = re.compile(r"[aeiouyàáâãäåæèéêëìíîïòóôõöøùúûüýÿœ]+", re.IGNORECASE)

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

# Timing of lyrics without time tags, in 4/4 bars at the request's tempo (each documented in ``parse_lrc``)
DEFAULT_BPM = 100.0
BEATS_PER_BAR = 4
SYLLABLES_PER_BAR = 8  # a sung line takes one bar per 8 syllables, rounded up to whole bars
LEAD_IN_BARS = 1  # before the first line when no lineless section opens the song
INSTRUMENTAL_BARS = 4  # a section tag without lyric lines under it: [intro], [break], [solo], [outro], ...
BRIDGE_LEAD_BARS = 2  # a bridge with lyric lines starts with this much music
GAP_BARS = 1  # between two sung sections (a section tag or a blank line starts one)
END_BARS = 1  # after the last line when no lineless section closes the song
_CENTI = 0.01  # LRC's resolution
_END_MARGIN = 2 * _CENTI  # the end marker lies strictly inside the song, after rounding up


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


def estimate_syllables(text: str) -> int:
    """Sung syllables of one lyric line: one per CJK character, kana or hangul block and per digit, and per vowel
    group of each other word, a final silent ``e`` left out (at least one a word).

    Example
    -------
    >>> estimate_syllables("Hello 世界, take 2")
    6
    """
    count = len(CJK.findall(text)) + sum(ch.isdigit() for ch in text)
    for word in CJK.sub(" ", text).split():
        letters = "".join(ch for ch in word.lower() if ch.isalpha())
        if letters:
            silent_e = letters.endswith("e") and not letters.endswith(("le", "ee"))
            count += max(1, len(_VOWELS.findall(letters)) - silent_e)
    return count


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
        return "\n".join(f"[{_format_time(line.time_s)}]{line.text}" for line in self.lines)


@dataclass
class _Section:
    """Untimed lyric lines under one section tag (``name`` as written, ``""`` before any tag)."""

    number: int
    name: str
    kind: str  # the tag's section name in lower case, "" for none
    lines: list[tuple[int, str]] = field(default_factory=list)


def _format_time(seconds: float) -> str:
    minutes, rest = divmod(round(seconds * 100), 6000)
    return f"{minutes:02d}:{rest // 100:02d}.{rest % 100:02d}"


def _parse_time(tag: str) -> float | None:
    match = _TIME.match(tag.strip())
    if not match:
        return None
    fraction = match["f"] or ""
    return int(match["m"]) * 60 + int(match["s"]) + (int(fraction) / 10 ** len(fraction) if fraction else 0.0)


def _read_lines(lrc: str) -> tuple[list[LyricLine], list[_Section], list[LyricsIssue]]:
    """Split the input into timed lines, sections of untimed text lines and syntax issues.

    A section tag starts a section; so does a blank line after untimed text (a new stanza of the same section).
    """
    timed: list[LyricLine] = []
    sections: list[_Section] = []
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
                sections.append(_Section(number, tag, section["kind"].lower()))
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
            sections.append(_Section(number, name, ""))
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


def _in_time_order(lines: list[LyricLine]) -> tuple[list[LyricLine], list[str]]:
    """Lines with several timestamps (one ``LyricLine`` each, same line number) make the file's order meaningless:
    then every line is sorted by time, and each repeated line is reported. Otherwise the lines are kept as given."""
    counts: dict[int, list[LyricLine]] = {}
    for line in lines:
        counts.setdefault(line.number, []).append(line)
    repeated = {number: group for number, group in counts.items() if len(group) > 1}
    if not repeated:
        return lines, []
    warnings = [f"line {number}: {group[0].text[:40]!r} is sung at each of its {len(group)} timestamps ("
                + ", ".join(f"{_format_time(line.time_s)}" for line in group) + ")"
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
    return _in_time_order(_read_lines(lrc)[0])[0]


@dataclass(frozen=True)
class _Slot:
    """One sung line to place: the room before it and its own length, in bars, and its shortest length in s."""

    number: int
    text: str
    section: str
    room_bars: int
    bars: int
    shortest_s: float


def _slots(sections: list[_Section], bar_s: float) -> tuple[list[_Slot], int, str]:
    """The sung lines with their rooms, the room after the last one (bars) and the name of the closing section."""
    slots: list[_Slot] = []
    room = 0
    music = ""  # the first lineless section since the last sung line
    for section in sections:
        if not section.lines:
            music = music if room else section.name
            room += INSTRUMENTAL_BARS
            continue
        room = max(room, LEAD_IN_BARS if not slots else GAP_BARS) + (BRIDGE_LEAD_BARS * (section.kind == "bridge"))
        for number, text in section.lines:
            shortest = (estimate_tokens(text) + 1) / LATENT_RATE  # one frame to spare for the rounding to frames
            bars = max(1, math.ceil(estimate_syllables(text) / SYLLABLES_PER_BAR), math.ceil(shortest / bar_s))
            slots.append(_Slot(number, text, section.name, room, bars, shortest))
            room = 0
    return slots, max(room, END_BARS), music if room else ""


def _round_up(seconds: float) -> float:
    return round(math.ceil(round(seconds / _CENTI, 6)) * _CENTI, 2)


def _place(sections: list[_Section], audio_length: float, bpm: float) -> tuple[list[LyricLine], list[str]]:
    """Place untimed sections on the time line at ``bpm``; compressed to fit the song when needed."""
    bar_s = BEATS_PER_BAR * 60.0 / bpm
    slots, end_bars, closing = _slots(sections, bar_s)
    limit = min(audio_length - _END_MARGIN, end_frame(audio_length) / LATENT_RATE)

    def length(scale: float) -> float:
        rooms = sum(slot.room_bars for slot in slots) + end_bars
        return scale * rooms * bar_s + sum(max(slot.shortest_s, scale * slot.bars * bar_s) for slot in slots)

    scale = 1.0
    if length(scale) > limit:
        fastest = length(0.0)
        if fastest > limit:
            advice = "remove or shorten lines" if audio_length >= MAX_SECONDS else \
                f"raise audio_length (up to {MAX_SECONDS} s) or remove lines"
            raise LyricsError([LyricsIssue(None, f"the lyrics need about {math.ceil(fastest + _END_MARGIN)} s at the "
                                                 f"fastest, more than the {audio_length:g} s song; {advice}")])
        scale = _largest(length, limit)
    lines: list[LyricLine] = []
    cursor = 0.0
    for slot in slots:
        cursor += scale * slot.room_bars * bar_s
        lines.append(LyricLine(slot.number, _round_up(cursor), slot.text, slot.section))
        cursor += max(slot.shortest_s, scale * slot.bars * bar_s)
    lines.append(LyricLine(slots[-1].number, _round_up(cursor), "", closing))
    warning = (f"the lyrics had no timestamps: {len(slots)} lines were timed at {bpm:g} bpm from {lines[0].time_s:g} s "
               f"to {lines[-1].time_s:g} s")
    if scale < 1:
        warning += f", squeezed to {scale:.0%} of that tempo's bars to fit the {audio_length:g} s song"
    elif audio_length - cursor - end_bars * bar_s > audio_length / 3:  # more than a third of the song left over
        warning += (f"; the last {audio_length - lines[-1].time_s:.0f} s have no singing (add lines, lower bpm or "
                    "shorten audio_length)")
    return lines, [warning]


def _largest(length: Callable[[float], float], limit: float) -> float:
    """The largest scale in [0, 1] whose ``length`` fits ``limit`` (``length`` grows with the scale)."""
    low, high = 0.0, 1.0
    for _ in range(50):
        middle = (low + high) / 2
        low, high = (middle, high) if length(middle) <= limit else (low, middle)
    return low


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


def parse_lrc(lrc: str, audio_length: float, *, bpm: float | None = None) -> ParsedLyrics:
    """Parse and validate lyrics for a song of ``audio_length`` seconds.

    Lyrics without time tags (with or without section tags) are timed at ``bpm`` (``DEFAULT_BPM`` when ``None``) in
    4/4 bars: a sung line takes one bar per ``SYLLABLES_PER_BAR`` syllables (at least the time its estimated phoneme
    tokens need), rounded up to whole bars; the first line comes after a ``LEAD_IN_BARS`` lead-in, sung sections are
    ``GAP_BARS`` apart, a bridge with lines opens with ``BRIDGE_LEAD_BARS`` of music and a section tag without lines
    (``[intro]``, ``[break]``, ``[outro]``, ...) is ``INSTRUMENTAL_BARS`` of music; ``END_BARS`` at least follow the
    last line. When that does not fit the song, every room and line is shortened in proportion, never a line below its
    tokens' time. An empty line closes the placed lines (the short model drops the last line it is given).

    Raises
    ------
    LyricsError
        With every problem found, each naming its input line.

    Example
    -------
    >>> parse_lrc("[00:01.00]Hello there\\n[00:05.50]General Kenobi", 120).lines[1].time_s
    5.5
    >>> print(parse_lrc("[verse]\\nHello there\\nGeneral Kenobi\\n[outro]", 95, bpm=120).to_lrc())
    [00:02.00]Hello there
    [00:04.00]General Kenobi
    [00:06.00]
    """
    if bpm is not None and not 0 < bpm < math.inf:
        raise ValueError(f"bpm must be a positive number, got {bpm}")
    timed, sections, issues = _read_lines(lrc)
    untimed = [line for section in sections for line in section.lines]
    warnings: list[str] = []
    lines: list[LyricLine] = []
    if timed or issues:
        issues += [LyricsIssue(n, f"no [mm:ss.xx] timestamp before {text[:40]!r}") for n, text in untimed]
        lines, warnings = _in_time_order(timed)
    elif untimed:
        lines, warnings = _place(sections, audio_length, bpm or DEFAULT_BPM)
    if not any(line.text for line in lines) and not issues:
        issues.append(LyricsIssue(None, "no lyric line found; expected lines like [00:12.00]first line of lyrics"))
    issues += _check_timeline(lines, audio_length)
    issues += [LyricsIssue(line.number, f"a number with more than {MAX_NUMBER_DIGITS} digits cannot be sung; write it "
                           "in words") for line in lines if _LONG_NUMBER.search(line.text)]
    if issues:
        raise LyricsError(sorted(issues, key=lambda issue: issue.line or 0))
    return ParsedLyrics(tuple(lines), timed=bool(timed), warnings=tuple(warnings))
