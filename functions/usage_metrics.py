"""Per-account metrics that do not expose accounts: CloudWatch embedded metrics whose dimensions are fixed (service
and quota), with the account, owner and caller kind as metadata.

Metadata lands in the operator's log events (CloudWatch Logs Insights, Contributor Insights rules over ``account``),
never in a metric's name or dimensions: listing the metrics shows no customer, and their number does not grow with
the number of accounts. Each call is flushed at once (``single_metric``), so one invocation may report several
accounts.
"""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

NAMESPACE = "DiffRhythm"


def account_metric(name: str, value: float, *, service: str, quota: str, account: str,
                   unit: MetricUnit = MetricUnit.Count, **metadata: str) -> None:
    """Emit metric ``name`` = ``value`` for ``quota``, charged to ``account`` (metadata, with ``metadata``); nothing
    where Powertools' metrics are off (``POWERTOOLS_METRICS_DISABLED``, as the local stack sets), which
    ``single_metric`` itself does not check."""
    if is_metrics_disabled():
        return
    with single_metric(name=name, unit=unit, value=value, namespace=NAMESPACE,
                       default_dimensions={"service": service, "quota": quota}) as metric:
        metric.add_metadata(key="account", value=account)
        for key, text in metadata.items():
            metric.add_metadata(key=key, value=text)
