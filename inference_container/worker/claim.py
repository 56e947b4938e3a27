"""Claiming a message's job: move it to RUNNING under a lease of a new claim token, and read its request; or the
outcome when there is nothing to generate (unreadable, unknown or final, held by another worker, delivered before)."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError

from inference_container.errors import InputError
from inference_container.worker.job import JobRunner
from inference_container.worker.lease import Claimed, LeaseKeeper
from inference_container.worker.log import logger
from inference_container.worker.settle import Outcome, Settlement
from inference_container.worker.transport import Message, Transport
from shared.ports import JobTable
from shared.records import JobMessage, utcnow


@dataclass
class Claimer:
    """Claims jobs in ``store`` under tokens of ``leases``; settles those it cannot claim."""

    store: JobTable
    runner: JobRunner
    leases: LeaseKeeper
    transport: Transport
    settlement: Settlement

    def claim(self, message: Message) -> Claimed | Outcome:
        """Move the job to RUNNING and read its request; or the outcome when there is nothing to generate."""
        try:
            job_message = JobMessage.model_validate_json(message["Body"])
        except ValidationError:
            logger.error("unreadable message left for the dead-letter queue", extra={"body": message["Body"][:300]})
            return Outcome.UNREADABLE
        token, tried = self.leases.token(), None
        try:
            job = self.store.get(job_message.job_id)
            if job is None or job.status.is_final:
                self.transport.delete(message)
                return Outcome.SKIPPED
            now, tried = utcnow(), token
            claimed = self.store.claim(job.job_id, now, self.leases.lease_end(now), lease_owner=token,
                                       started_at=job.started_at or now, attempts=job.attempts + 1,
                                       progress_stage="starting", progress_percent=0.0)
            current = self.store.get(job.job_id) if claimed is None else claimed
        except Exception as error:  # the table is throttled or unreachable: the message comes back later; the lease
            # is left to its holder, unless a claim of ours landed before the error (then its own token releases it)
            return self.settlement.retry(job_message.job_id, message, error, tried)
        if current is None or current.status.is_final:  # it became final in between (cancelled)
            self.transport.delete(message)
            return Outcome.SKIPPED
        if claimed is None and current.lease_owner == token:  # ours: an earlier try of the same call wrote it
            claimed = current
        if claimed is None:  # another worker's lease holds: come back when it ends (or to find the job final)
            ends, longest = current.lease_until or utcnow(), self.leases.settings.visibility_s
            self.transport.visibility(message, max(1, min(longest, int((ends - utcnow()).total_seconds()))))
            return Outcome.LEASED
        try:
            if self.runner.delivered(job.job_id):  # done before: its status event is still on its way
                logger.warning("job already delivered; its message is dropped", extra={"job_id": job.job_id})
                self.leases.fenced("ending the lease", job.job_id, token, lease_until=utcnow())
                self.transport.delete(message)
                return Outcome.SKIPPED
            request = self.runner.load_request(job_message.request_key)
            return Claimed(message, request, self.runner.song_request(request), token)
        except InputError as refused:
            return self.settlement.fail_job(job.job_id, message, token, str(refused), "invalid_input")
        except Exception as error:
            return self.settlement.retry(job.job_id, message, error, token)
