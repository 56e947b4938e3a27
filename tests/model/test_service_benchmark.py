"""``benchmarks.service``'s cold start runs in Lambda's runtime environment: the libraries take their Lambda paths."""

from __future__ import annotations

import subprocess
import sys

import pytest

from benchmarks.report import ROOT
from benchmarks.service import _import_env


@pytest.mark.slow  # a fresh interpreter, as the benchmark starts them
def test_the_cold_starts_processes_see_lambdas_runtime_so_x_ray_samples_as_in_lambda():
    """In Lambda the X-Ray SDK follows the invocation's trace header (its local sampler); elsewhere it builds a
    botocore client for centralised sampling, which a Lambda cold start never pays."""
    code = "from aws_xray_sdk.core import xray_recorder; print(type(xray_recorder.sampler).__name__)"
    done = subprocess.run([sys.executable, "-c", code], env=_import_env(), cwd=ROOT, capture_output=True, text=True,
                          check=True, timeout=60)
    assert done.stdout.strip() == "LocalSampler"
