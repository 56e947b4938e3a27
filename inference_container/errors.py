"""The one line between the user's fault and ours.

``InputError`` and its subclasses mean the request cannot be generated as given (lyrics, reference clip, edit
segments, output that comes out silent): retrying cannot help, so the job fails at once with the message, which says
what to change. Any other exception is ours or the platform's (a GPU error, a throttled S3 call, a missing model on
this worker) and the job is retried.
"""

from __future__ import annotations


class InputError(ValueError):
    """The request cannot be generated as given; the message is for the user."""
