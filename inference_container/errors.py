"""The one line between the user's fault and ours.

``InputError`` and its subclasses mean the request cannot be generated as given (lyrics, reference clip, edit
segments, output that comes out silent): retrying cannot help, so the job fails at once with the message, which says
what to change. Any other exception is ours or the platform's (a GPU error, a throttled S3 call, a missing model on
this worker) and the job is retried. ``ModelError`` names that second kind where the model library raises it itself:
a weights bundle, checkpoint or model file that is not what it must be.
"""

from __future__ import annotations


class InputError(ValueError):
    """The request cannot be generated as given; the message is for the user."""


class ModelError(RuntimeError):
    """Ours, not the user's: a weights bundle, checkpoint or model file that is not what it must be (the message
    names it). Not a ``ValueError``, so nothing mistakes it for bad input: a job meeting one is retried, and the
    command line reports a broken installation."""
