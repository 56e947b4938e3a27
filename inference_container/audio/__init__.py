"""Audio post-processing on numpy arrays ([samples, channels] float32): checks, normalisation, mastering,
encoding (with provenance tags) and waveform peaks. Never imports torch."""

from inference_container.audio.checks import AudioQualityError, check_audio
from inference_container.audio.encode import encode
from inference_container.audio.master import MASTER_TARGETS, master, peak_normalize, true_peak_dbtp
from inference_container.audio.peaks import waveform_peaks
from inference_container.audio.provenance import Provenance

__all__ = [
    "MASTER_TARGETS",
    "AudioQualityError",
    "Provenance",
    "check_audio",
    "encode",
    "master",
    "peak_normalize",
    "true_peak_dbtp",
    "waveform_peaks",
]
