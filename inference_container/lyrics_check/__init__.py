"""The lyric check: did the song sing its lyrics? A transcript of the vocals (Whisper's words or chunks, with times
where given) scored against the lines the model was given, per line and for the song. Pure Python: never imports
torch (``tokens`` reads Han characters with pypinyin)."""

from inference_container.lyrics_check.inputs import (
    HeardWord,
    SheetLine,
    heard_words,
    sheet_from_lrc,
    sheet_from_placed,
)
from inference_container.lyrics_check.score import FLAG_BELOW, LineScore, LyricsReport, score_lyrics

__all__ = [
    "FLAG_BELOW",
    "HeardWord",
    "LineScore",
    "LyricsReport",
    "SheetLine",
    "heard_words",
    "score_lyrics",
    "sheet_from_lrc",
    "sheet_from_placed",
]
