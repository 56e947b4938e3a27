"""The GPU worker: SQS -> one job at a time through the pipeline -> S3 outputs (the status function does the rest)."""
