"""The DiffRhythm velocity model (DiT) and its layers."""

from inference_container.diffrhythm.model.dit import DiT, Prepared

__all__ = ["DiT", "Prepared"]
