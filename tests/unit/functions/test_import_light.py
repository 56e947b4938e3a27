"""The Lambda side stays light: importing the functions loads no model package and defers the X-Ray SDK to the first
invocation. (How long the import takes depends on the machine; this checks what is imported, not the clock.)"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

_PROBE = """
import json, sys
import functions.api.app, functions.status.handler, functions.status.dead_letter, functions.status.reconcile
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {"torch", "torchaudio", "muq", "transformers", "numpy",
                                                               "aws_xray_sdk", "inference_container", "moto"})
print(json.dumps({"heavy": heavy}))
"""


@pytest.mark.slow  # a fresh interpreter
def test_importing_the_functions_loads_no_model_package_and_no_xray_sdk():
    result = json.loads(subprocess.run([sys.executable, "-c", _PROBE], check=True, capture_output=True,
                                       text=True).stdout)
    assert result["heavy"] == []
