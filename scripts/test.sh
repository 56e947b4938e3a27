#!/usr/bin/env bash
# The project's checks, in order: code lint, types, SAM's own template lint, sam build (build/sam: tests/deploy imports
# its functions), checkov on the templates, then the tests
# (which also run hadolint on the Dockerfile and cfn-lint on both templates, before and after the SAM transform).
# Expects the project installed in ./.venv (make test does that), SAM CLI in ./.venv-sam and checkov in ./.venv-checkov
# when present.
# TIER=fast runs the fast tier only (no local stack, no subprocesses, no whole songs) and skips the template tools.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
export PATH="$PWD/$VENV/bin:$PATH"

echo "== ruff"
ruff check shared functions infrastructure inference_container tests benchmarks testing
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
  # The Lambda side as deployed: every function and layer of template.yaml and of the stack it nests
  # (infrastructure/gpu/compute.yaml), built by the Makefile with this venv's pip; tests/deploy imports what it built.
  # --no-cached: samconfig's cached build hashes each CodeUri, here the whole repository (venvs included), in .aws-sam/.
  echo "== sam build (into build/sam; its log: build/sam-build.log)"
  start=$SECONDS
  mkdir -p build
  SAM_CLI_TELEMETRY=0 "$SAM" build --no-cached --build-dir build/sam >build/sam-build.log 2>&1 \
    || { cat build/sam-build.log; exit 1; }
  echo "sam build: $((SECONDS - start)) s"
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
