"""The Lambda side stays light: importing the functions loads no model package and defers the X-Ray SDK to the first
invocation. (How long the import takes depends on the machine; this checks what is imported, not the clock.)"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

_PROBE = """
import importlib, json, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {"torch", "torchaudio", "muq", "transformers", "numpy",
                                                               "soundfile", "aws_xray_sdk", "inference_container",
                                                               "moto"})
print(json.dumps({"heavy": heavy}))
"""


def _heavy_modules(*modules: str) -> set[str]:
    result = subprocess.run([sys.executable, "-c", _PROBE, *modules], check=True, capture_output=True, text=True)
    return {name.split(".")[0] for name in json.loads(result.stdout)["heavy"]}


@pytest.mark.slow  # a fresh interpreter
def test_importing_the_functions_loads_no_model_package_and_no_xray_sdk():
    assert _heavy_modules("functions.api.app", "functions.status.handler", "functions.status.dead_letter",
                          "functions.status.reconcile", "functions.status.webhook", "functions.dispatch.sagemaker"
                          ) == set()


@pytest.mark.slow
def test_the_upload_check_loads_only_the_audio_probe():
    """It reads clip headers with soundfile (and so numpy): nothing of the model."""
    assert _heavy_modules("functions.status.upload_check") == {"soundfile", "numpy"}
