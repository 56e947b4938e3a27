"""The API's components, built once per app from the settings and three (deferred) clients."""

from __future__ import annotations

from dataclasses import dataclass

from functions.api.cancellation import Cancellations
from functions.api.presign import Presigner
from functions.api.queue_stats import QueueStats
from functions.api.quotas import Quotas
from functions.api.reads import JobReads
from functions.api.submission import Submissions
from functions.api.uploads import Uploads
from shared.aws import deferred_client
from shared.ports import Clock, JobTable, MessageQueue, ObjectStore
from shared.records import utcnow
from shared.settings import Settings
from shared.store import JobStore
from shared.webhooks import Resolver, resolve_host


@dataclass(frozen=True)
class Services:
    """One component per job: submitting, reading, cancelling, uploading, queue statistics, quotas."""

    submissions: Submissions
    reads: JobReads
    cancellations: Cancellations
    uploads: Uploads
    stats: QueueStats
    quotas: Quotas

    @classmethod
    def build(cls, settings: Settings, store: JobTable, s3: ObjectStore, sqs: MessageQueue,
              clock: Clock = utcnow, resolve: Resolver = resolve_host) -> Services:
        """The components over the given table, bucket client and queue client."""
        presigner = Presigner(s3, settings.bucket_name, settings.presign_ttl_s)
        reads = JobReads(settings, store, presigner)
        quotas = Quotas(store, clock)
        return cls(
            submissions=Submissions(settings, store, s3, sqs, quotas, clock, resolve),
            reads=reads,
            cancellations=Cancellations(reads, store, s3, settings.bucket_name, clock),
            uploads=Uploads(presigner, settings.max_upload_bytes, quotas),
            stats=QueueStats(settings, store, sqs),
            quotas=quotas,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> Services:
        """The components over the AWS resources the settings name, their clients built when first used
        (``shared.aws.deferred_client``): building the app creates none and opens no connection."""
        return cls.build(settings, JobStore(deferred_client("dynamodb", settings), settings.table_name),
                         deferred_client("s3", settings), deferred_client("sqs", settings))
