"""ECS task scale-in protection while the worker has jobs in hand (a no-op outside ECS)."""

from __future__ import annotations

import json
import os
import urllib.request

from inference_container.worker.log import logger


def protect_task(enabled: bool) -> None:
    """Ask the ECS agent to protect this task from scale-in (``enabled``) or to stop protecting it; a failed call is
    logged (the task is then only as safe as without protection)."""
    agent = os.environ.get("ECS_AGENT_URI")
    if not agent:
        return
    body = json.dumps({"ProtectionEnabled": enabled, **({"ExpiresInMinutes": 120} if enabled else {})}).encode()
    request = urllib.request.Request(f"{agent}/task-protection/v1/state", data=body, method="PUT",
                                     headers={"Content-Type": "application/json"})
    try:
        urllib.request.urlopen(request, timeout=5).close()
    except OSError:
        logger.warning("task protection call failed", extra={"enabled": enabled})
