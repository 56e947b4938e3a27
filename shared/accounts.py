"""Who calls: accounts (who pays: quotas), owners (who sees which jobs) and API keys (stored hashed).

Owner ids are safe in S3 keys and never collide across kinds::

    acme                      an API key's customer (operator-chosen: ``[a-z0-9][a-z0-9-]{1,62}``, no dots)
    acme.eu.{sha256[:24]}     an end user a key acts for (``X-End-User``), scoped under the key's customer
    u.{sha256[:32]}           a signed-in user (JWT), from the issuer and ``sub``
    anonymous                 nobody signed in (the local stack only)
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.settings import Settings

CUSTOMER_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
ANONYMOUS = "anonymous"


def _digest(text: str, length: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def end_user_owner(customer: str, end_user: str) -> str:
    """The owner id of ``end_user`` acting under ``customer``'s key.

    >>> end_user_owner("acme", "alice@example.com")[:8]
    'acme.eu.'
    """
    return f"{customer}.eu.{_digest(end_user, 24)}"


def user_owner(issuer: str, subject: str) -> str:
    """The owner id of a signed-in user: their ``sub``, namespaced by the issuer."""
    return "u." + _digest(issuer + "\n" + subject, 32)


class Meter(StrEnum):
    """A quota: what is counted, per account, in fixed UTC windows."""

    UNITS_PER_HOUR = "units_per_hour"
    JOBS_PER_HOUR = "jobs_per_hour"
    GPU_SECONDS_PER_DAY = "gpu_seconds_per_day"
    UPLOADS_PER_DAY = "uploads_per_day"

    @property
    def window_s(self) -> int:
        """Length of one counting window (they start at multiples of it since the epoch, UTC)."""
        return 86400 if self.name.endswith("_DAY") else 3600


class Limits(BaseModel):
    """An account's quotas; ``None`` = the deployment's default (``Settings``), 0 = unlimited."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    units_per_hour: int | None = Field(None, ge=0, description="Cost units submitted per clock hour")
    jobs_per_hour: int | None = Field(None, ge=0, description="Jobs submitted per clock hour")
    gpu_seconds_per_day: int | None = Field(None, ge=0, description="GPU seconds used per UTC day")
    uploads_per_day: int | None = Field(None, ge=0, description="Uploads started per UTC day")

    def resolved(self, settings: Settings) -> Limits:
        """Every quota set: the defaults of ``settings`` where this one has none."""
        defaults = {Meter.UNITS_PER_HOUR: settings.rate_limit_per_hour, Meter.JOBS_PER_HOUR: settings.jobs_per_hour,
                    Meter.GPU_SECONDS_PER_DAY: settings.gpu_seconds_per_day,
                    Meter.UPLOADS_PER_DAY: settings.uploads_per_day}
        return Limits(**{m.value: v if (v := getattr(self, m.value)) is not None else defaults[m] for m in Meter})

    def of(self, meter: Meter) -> int:
        """The limit on ``meter`` (0 = unlimited; call on ``resolved`` limits)."""
        value: int | None = getattr(self, meter.value)
        return value or 0


@dataclass(frozen=True)
class Caller:
    """An authenticated request's identity.

    ``owner`` sees and acts on its own jobs and uploads only; ``account`` is charged (a key's end users share their
    key's account); ``key_id`` names the API key used, whose webhook secret signs the jobs' webhooks.
    """

    owner: str
    account: str
    limits: Limits
    kind: Literal["key", "end_user", "user", "anonymous"]
    key_id: str | None = None
