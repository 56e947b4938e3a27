"""The Lambda side stays light: importing the API loads no model package, quickly."""

from __future__ import annotations

import json
import subprocess
import sys

_PROBE = """
import json, sys, time
start = time.perf_counter()
import functions.api.app, functions.status.handler, functions.status.dead_letter
elapsed = time.perf_counter() - start
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {"torch", "torchaudio", "muq", "transformers", "numpy"})
print(json.dumps({"elapsed": elapsed, "heavy": heavy}))
"""


def test_importing_the_functions_loads_no_model_package():
    subprocess.run([sys.executable, "-c", "import functions.api.app"], check=True)  # warm the bytecode cache
    result = json.loads(subprocess.run([sys.executable, "-c", _PROBE], check=True, capture_output=True,
                                       text=True).stdout)
    assert result["heavy"] == []
    assert result["elapsed"] < 1.0, f"import took {result['elapsed']:.2f} s"
