"""The job contract both sides share: states, records, S3 keys, table access, lyrics, settings.

Light dependencies only (pydantic, boto3): never torch, never FastAPI.
"""
