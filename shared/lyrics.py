"""Lyrics on the song's time line: ``parse_lrc`` validates timed lyrics against a song's length and times untimed
ones (plain lines or lines under section tags) at a tempo; ``extended_lyrics`` joins a finished song's lines and the
new part's for an extension. The LRC text itself is read by ``shared.lrc``."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from shared.lrc import (
    CJK,
    LONG_NUMBER,
    MAX_NUMBER_DIGITS,
    LyricLine,
    LyricsError,
    LyricsIssue,
    ParsedLyrics,
    Section,
    estimate_tokens,
    format_time,
    in_time_order,
    read_lines,
    timed_lines,
)
from shared.timeline import LATENT_RATE, MAX_SECONDS, end_frame, frame_at

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

_VOWELS = re.compile(r"[aeiouyàáâãäåæèéêëìíîïòóôõöøùúûüýÿœ]+", re.IGNORECASE)


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
class _Slot:
    """One sung line to place: the room before it and its own length, in bars, and its shortest length in s."""

    number: int
    text: str
    section: str
    room_bars: int
    bars: int
    shortest_s: float


def _slots(sections: list[Section], bar_s: float) -> tuple[list[_Slot], int, str]:
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


def _place(sections: list[Section], audio_length: float, bpm: float) -> tuple[list[LyricLine], list[str]]:
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
                LyricsIssue(line.number, f"[{format_time(line.time_s)}] is at or after the end of the "
                            f"{audio_length:g} s song; raise audio_length or remove the line")
            )
            continue
        if previous is not None and line.time_s < previous.time_s:
            issues.append(
                LyricsIssue(line.number, f"out of order: [{format_time(line.time_s)}] is earlier than line "
                            f"{previous.number} at [{format_time(previous.time_s)}]")
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
    timed, sections, issues = read_lines(lrc)
    untimed = [line for section in sections for line in section.lines]
    warnings: list[str] = []
    lines: list[LyricLine] = []
    if timed or issues:
        issues += [LyricsIssue(n, f"no [mm:ss.xx] timestamp before {text[:40]!r}") for n, text in untimed]
        lines, warnings = in_time_order(timed)
    elif untimed:
        lines, warnings = _place(sections, audio_length, bpm or DEFAULT_BPM)
    if not any(line.text for line in lines) and not issues:
        issues.append(LyricsIssue(None, "no lyric line found; expected lines like [00:12.00]first line of lyrics"))
    issues += _check_timeline(lines, audio_length)
    issues += [LyricsIssue(line.number, f"a number with more than {MAX_NUMBER_DIGITS} digits cannot be sung; write it "
                           "in words") for line in lines if LONG_NUMBER.search(line.text)]
    if issues:
        raise LyricsError(sorted(issues, key=lambda issue: issue.line or 0))
    return ParsedLyrics(tuple(lines), timed=bool(timed), warnings=tuple(warnings))


def extended_lyrics(source_lrc: str, start: float, lyrics: str | None, audio_length: float,
                    bpm: float | None = None) -> tuple[str, list[str]]:
    """The LRC of a song extended to ``audio_length`` from ``start`` on, and warnings: the source's lines before
    ``start``, then the new ``lyrics`` (``None``: none, an instrumental part) from ``start`` on. Timed lyrics are on
    the extended song's time line (validated against it); untimed ones are timed over the new part at ``bpm``."""
    kept = [line for line in timed_lines(source_lrc) if line.time_s < start]
    new: list[LyricLine] = []
    warnings: list[str] = []
    if lyrics is not None:
        whole = parse_lrc(lyrics, audio_length, bpm=bpm)  # validates against the extended song
        if whole.timed:
            new = [line for line in whole.lines if line.time_s >= start]
            if len(new) < len(whole.lines):
                warnings.append(f"{len(whole.lines) - len(new)} line(s) before {start:g} s were replaced by the "
                                "extended song's own lyrics")
        else:  # untimed: timed over the new part, then moved after the kept part
            part = parse_lrc(lyrics, audio_length - start, bpm=bpm)
            new = [replace(line, time_s=round(line.time_s + start, 2)) for line in part.lines]
            sung = [line for line in new if line.text]
            warnings.append(f"the new lyrics had no timestamps: {len(sung)} lines were timed from "
                            f"{sung[0].time_s:g} s to {sung[-1].time_s:g} s, after the kept {start:g} s")
    return ParsedLyrics((*kept, *new), timed=True).to_lrc(), warnings
