"""Short-lived presigned S3 URLs: a GET that downloads under a file name, and a PUT of one exact upload."""

from __future__ import annotations

from dataclasses import dataclass

from shared.ports import ObjectStore


@dataclass(frozen=True)
class Presigner:
    """Signs URLs for ``bucket`` valid ``ttl_s`` seconds (signing is local: no request to S3)."""

    s3: ObjectStore
    bucket: str
    ttl_s: int

    def get(self, key: str, filename: str) -> str:
        """A GET URL that downloads ``key`` as ``filename``."""
        disposition = f'attachment; filename="{filename}"'
        return str(self.s3.generate_presigned_url(
            "get_object", ExpiresIn=self.ttl_s,
            Params={"Bucket": self.bucket, "Key": key, "ResponseContentDisposition": disposition},
        ))

    def put(self, key: str, content_type: str, size_bytes: int) -> str:
        """A PUT URL that accepts exactly ``size_bytes`` bytes of ``content_type`` at ``key``."""
        return str(self.s3.generate_presigned_url(
            "put_object", ExpiresIn=self.ttl_s,
            Params={"Bucket": self.bucket, "Key": key, "ContentType": content_type, "ContentLength": size_bytes},
        ))
