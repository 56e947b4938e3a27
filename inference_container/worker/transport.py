"""The job messages' queue (SQS): receive with back-off, delete, change visibility.

A message that did not come from SQS (a SageMaker invocation, ``Worker.handle_payload``) has no receipt handle:
deleting it or changing its visibility does nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from inference_container.worker.log import best_effort, logger
from inference_container.worker.settings import WorkerSettings

Message = dict[str, Any]  # an SQS message: "Body", "ReceiptHandle" (None: not from SQS), ...


@dataclass
class Backoff:
    """The waits between failed receives: ``first_s``, doubling up to ``longest_s``; a receive that works resets it."""

    first_s: float
    longest_s: float
    failures: int = 0

    def failed(self) -> float:
        """One more failure in a row: how long to wait before the next receive."""
        self.failures += 1
        return min(self.longest_s, self.first_s * 2.0 ** (self.failures - 1))

    def succeeded(self) -> None:
        self.failures = 0


@dataclass
class Transport:
    """The worker's queue: ``sqs`` (a boto3 client or a stand-in) at the settings' ``queue_url``."""

    sqs: Any
    settings: WorkerSettings

    def backoff(self) -> Backoff:
        """A fresh back-off for a poll loop (``backoff_s`` doubling up to ``backoff_max_s``)."""
        return Backoff(self.settings.backoff_s, self.settings.backoff_max_s)

    def receive(self, backoff: Backoff, pause: Callable[[float], object]) -> list[Message]:
        """One long poll for up to ``max_batch`` messages, invisible for ``visibility_s``. A failed poll (a throttled
        or unreachable queue) is logged, waits its back-off (``pause(seconds)``) and answers no message: the worker
        polls again, its models stay loaded."""
        try:
            response = self.sqs.receive_message(
                QueueUrl=self.settings.queue_url, MaxNumberOfMessages=self.settings.max_batch,
                WaitTimeSeconds=self.settings.poll_wait_s, VisibilityTimeout=self.settings.visibility_s,
                AttributeNames=["ApproximateReceiveCount"])
        except Exception:
            delay = backoff.failed()
            logger.exception("receiving failed; backing off", extra={"delay_s": delay})
            pause(delay)
            return []
        backoff.succeeded()
        messages: list[Message] = response.get("Messages", [])
        return messages

    def delete(self, message: Message) -> None:
        """Delete a handled message; if that fails, its re-delivery is skipped (the job is final by then)."""
        if message["ReceiptHandle"] is not None:
            best_effort("deleting a message", self.sqs.delete_message, QueueUrl=self.settings.queue_url,
                        ReceiptHandle=message["ReceiptHandle"])

    def visibility(self, message: Message, seconds: int) -> None:
        """Change a message's visibility; if that fails, it comes back when its current window ends."""
        if message["ReceiptHandle"] is not None:
            best_effort("changing a message's visibility", self.sqs.change_message_visibility,
                        QueueUrl=self.settings.queue_url, ReceiptHandle=message["ReceiptHandle"],
                        VisibilityTimeout=seconds)
