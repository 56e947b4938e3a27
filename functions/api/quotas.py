"""Quotas per account: charging submits and uploads, refusing what does not fit, and reporting usage.

Counts live in the job table (``shared.store.usage``: one item per account, meter and fixed UTC window). A submit
charges its cost units and one job in one transaction (all or nothing) and is refused while the day's GPU seconds are
spent (the status function adds them as jobs end); an upload charges one upload. Every meter is counted, also an
unlimited one (limit 0), so ``GET /api/v1/usage`` reports what was used.

Metrics: each charge (``QuotaCharged``, the amount) and refusal (``QuotaRefused``) per quota, with the account and
owner as metadata only (``functions.usage_metrics``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NoReturn

from functions.api.errors import FieldError, RateLimitError
from functions.usage_metrics import account_metric
from shared.accounts import Caller, Meter
from shared.contract import GenerateRequest
from shared.ports import Clock, Usage
from shared.records import utcnow
from shared.responses import QuotaUsage, UsageResponse
from shared.store import Charge, seconds_left, window_start
from shared.timeline import MIN_SECONDS

#: how each quota's limit reads in a refusal ("20 jobs per hour")
_LIMIT_WORDS = {
    Meter.UNITS_PER_HOUR: "{limit} units per hour (1 unit = one {min_s} s song at the default steps)",
    Meter.JOBS_PER_HOUR: "{limit} jobs per hour",
    Meter.GPU_SECONDS_PER_DAY: "{limit} GPU seconds per day (UTC)",
    Meter.UPLOADS_PER_DAY: "{limit} uploads per day (UTC)",
}


def limit_in_words(meter: Meter, limit: int) -> str:
    """``meter``'s ``limit`` as a refusal says it, e.g. "20 jobs per hour"."""
    return _LIMIT_WORDS[meter].format(limit=limit, min_s=MIN_SECONDS)


@dataclass(frozen=True)
class Quotas:
    """Charges the caller's account (``Caller.account``, its limits ``Caller.limits``) and reports its usage.
    ``clock`` decides the window of each charge."""

    store: Usage
    clock: Clock = field(default=utcnow)

    def charge_submit(self, caller: Caller, request: GenerateRequest) -> None:
        """Charge one job and its cost units, or refuse: 422 naming the fields when the request alone costs more
        than the whole hourly units budget (waiting would not help), 429 when a quota has no room left."""
        cost = request.cost_units()
        units = caller.limits.of(Meter.UNITS_PER_HOUR)
        if units and cost > units:
            steps = "steps" if request.steps is not None else "preset"
            raise FieldError.many(["audio_length", steps, "best_of" if request.best_of else "batch_size"],
                                  f"this request costs {cost} units (length x steps x variations), more than the quota "
                                  f"units_per_hour of {limit_in_words(Meter.UNITS_PER_HOUR, units)} for this account; "
                                  "make it shorter, with fewer steps or fewer variations")
        now = self.clock()
        gpu = caller.limits.of(Meter.GPU_SECONDS_PER_DAY)
        if gpu and self.store.usage(caller.account, [Meter.GPU_SECONDS_PER_DAY], now)[Meter.GPU_SECONDS_PER_DAY] >= gpu:
            self._refuse(caller, Meter.GPU_SECONDS_PER_DAY, now)
        self._charge(caller, [(Meter.UNITS_PER_HOUR, cost, units),
                              (Meter.JOBS_PER_HOUR, 1, caller.limits.of(Meter.JOBS_PER_HOUR))], now,
                     f"this request costs {cost} units and does not fit in what is left this hour")

    def charge_upload(self, caller: Caller) -> None:
        """Charge one upload, or refuse (429) when the day's uploads are used."""
        self._charge(caller, [(Meter.UPLOADS_PER_DAY, 1, caller.limits.of(Meter.UPLOADS_PER_DAY))], self.clock())

    def usage(self, caller: Caller) -> UsageResponse:
        """Every quota of the caller's account: its limit, what the current window used and when it ends."""
        now = self.clock()
        used = self.store.usage(caller.account, list(Meter), now)
        quotas = []
        for meter in Meter:
            limit = caller.limits.of(meter)
            resets_at = datetime.fromtimestamp(window_start(meter, now) + meter.window_s, UTC)
            quotas.append(QuotaUsage(name=meter, limit=limit, used=used[meter],
                                     remaining=max(0, limit - used[meter]) if limit else None, resets_at=resets_at))
        return UsageResponse(account_kind=caller.kind, quotas=quotas)

    def _charge(self, caller: Caller, charges: list[Charge], now: datetime, units_why: str = "") -> None:
        """``charges`` in one transaction; 429 naming the quota that did not fit (``units_why``: why the units did
        not)."""
        refused = self.store.charge(caller.account, charges, now)
        if refused is not None:
            meter, _ = refused
            self._refuse(caller, meter, now, units_why if meter is Meter.UNITS_PER_HOUR else "")
        for meter, amount, _limit in charges:
            _metric("QuotaCharged", amount, caller, meter)

    def _refuse(self, caller: Caller, meter: Meter, now: datetime, why: str = "") -> NoReturn:
        """Raise the 429 for ``meter``: ``Retry-After`` the seconds until its window ends, ``X-Quota-Limit`` its
        name, and a detail that names the quota and its limit in words (``why``: by default, all used)."""
        retry_after = seconds_left(meter, now)
        why = why or f"all used {'this hour' if meter.window_s == 3600 else 'today'}"
        _metric("QuotaRefused", 1, caller, meter)
        raise RateLimitError(f"quota {meter.value}: {limit_in_words(meter, caller.limits.of(meter))} for this account; "
                             f"{why}; retry in {retry_after} s",
                             headers={"Retry-After": str(retry_after), "X-Quota-Limit": meter.value})


def _metric(name: str, value: int, caller: Caller, meter: Meter) -> None:
    """One per-account metric (``functions.usage_metrics``): the account and owner as metadata, never dimensions."""
    account_metric(name, value, service="api", quota=meter.value, account=caller.account, owner=caller.owner,
                   caller_kind=caller.kind)
