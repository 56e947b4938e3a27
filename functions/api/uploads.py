"""Reference-clip uploads: a presigned PUT under the caller's own ``inputs/`` prefix."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from functions.api.errors import FieldError
from functions.api.presign import Presigner
from functions.api.quotas import Quotas
from shared import keys
from shared.accounts import Caller
from shared.contract import UploadRequest
from shared.responses import UploadResponse


@dataclass(frozen=True)
class Uploads:
    """Grants uploads of at most ``max_bytes`` bytes, each charged to the caller's account by ``quotas``."""

    presigner: Presigner
    max_bytes: int
    quotas: Quotas

    def create(self, request: UploadRequest, caller: Caller) -> UploadResponse:
        """A presigned PUT for one reference clip of exactly ``size_bytes`` bytes under ``caller.owner``'s prefix,
        and the key to submit."""
        if request.size_bytes > self.max_bytes:
            raise FieldError(["size_bytes"], f"size_bytes must be at most {self.max_bytes}")
        self.quotas.charge_upload(caller)
        key = keys.input_key(caller.owner, uuid.uuid4().hex, request.content_type.extension)
        url = self.presigner.put(key, request.content_type.value, request.size_bytes)
        return UploadResponse(key=key, upload_url=url, headers={"Content-Type": request.content_type.value},
                              expires_in=self.presigner.ttl_s)
