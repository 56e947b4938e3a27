#!/usr/bin/env bash
# The project's checks, in order: code lint, types, SAM's own template lint, checkov on the templates, then the tests
# (which also run hadolint on the Dockerfile and cfn-lint on both templates, before and after the SAM transform).
# Expects the project installed in ./.venv (make test does that), SAM CLI in ./.venv-sam and checkov in ./.venv-checkov
# when present.
# TIER=fast runs the fast tier only (no local stack, no subprocesses, no whole songs) and skips the template tools.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
export PATH="$PWD/$VENV/bin:$PATH"

echo "== ruff"
ruff check shared functions infrastructure inference_container tests benchmarks
echo "== mypy (strict: shared/ and functions/)"
mypy
if [ "${TIER:-all}" = fast ]; then
  echo "== pytest (fast tier: tests/unit, tests/model and the doctests, without the tests marked slow)"
  # only the plugins the fast tier uses: hypothesis and schemathesis (the fuzz tests) cost seconds to load
  PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 exec python -m pytest -p pytest_timeout -m "not stack and not slow" --timeout 60 \
    tests/unit tests/model shared functions inference_container "$@"
fi
if [ -x .venv-sam/bin/sam ] || command -v sam >/dev/null; then
  echo "== sam validate --lint"
  SAM="$( [ -x .venv-sam/bin/sam ] && echo .venv-sam/bin/sam || command -v sam )"
  SAM_CLI_TELEMETRY=0 "$SAM" validate --lint --region us-east-1
else
  echo "sam CLI not installed: run 'make sam' (CI always does)" >&2
fi
if [ -x .venv-checkov/bin/checkov ]; then
  echo "== checkov (template.yaml, infrastructure/): fails on any failed check; skips are justified in each resource's Metadata"
  CHECKOV=(.venv-checkov/bin/checkov --framework cloudformation --compact --quiet --skip-download)
  "${CHECKOV[@]}" --file template.yaml
  "${CHECKOV[@]}" --directory infrastructure
else
  echo "checkov not installed: run 'make checkov' (CI always does)" >&2
fi
echo "== pytest"
python -m pytest "$@"
