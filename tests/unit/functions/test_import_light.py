"""The Lambda side stays light: importing the functions loads no model package, and our own modules cost little
next to the libraries they need (a ratio, so a busy machine slows both sides alike)."""

from __future__ import annotations

import json
import subprocess
import sys

_PROBE = """
import json, sys, time
start = time.perf_counter()
import boto3, fastapi, fastapi.security, mangum, prometheus_client, pydantic_settings
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.batch import BatchProcessor
from aws_lambda_powertools.utilities.data_classes import S3Event
libraries = time.perf_counter() - start
start = time.perf_counter()
import functions.api.app, functions.status.handler, functions.status.dead_letter, functions.status.reconcile
ours = time.perf_counter() - start
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {"torch", "torchaudio", "muq", "transformers", "numpy",
                                                               "aws_xray_sdk"})
print(json.dumps({"libraries": libraries, "ours": ours, "heavy": heavy}))
"""


def test_importing_the_functions_loads_no_model_package_and_little_of_our_own():
    subprocess.run([sys.executable, "-c", "import functions.api.app"], check=True)  # warm the bytecode cache
    result = json.loads(subprocess.run([sys.executable, "-c", _PROBE], check=True, capture_output=True,
                                       text=True).stdout)
    assert result["heavy"] == []
    assert result["ours"] < 0.5 * result["libraries"], result
