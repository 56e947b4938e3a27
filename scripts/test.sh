#!/usr/bin/env bash
# The project's checks, in order: code lint, template lint (before and after the SAM transform), tests.
# Expects the project installed in ./.venv (make test does that) and SAM CLI in ./.venv-sam when present.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
export PATH="$PWD/$VENV/bin:$PATH"

echo "== ruff"
ruff check shared functions infrastructure inference_container tests
echo "== mypy (strict: shared/ and functions/)"
mypy
echo "== hadolint"
hadolint inference_container/Dockerfile
echo "== cfn-lint"
cfn-lint template.yaml infrastructure/gpu/compute.yaml
if [ -x .venv-sam/bin/sam ] || command -v sam >/dev/null; then
  echo "== sam validate --lint"
  SAM="$( [ -x .venv-sam/bin/sam ] && echo .venv-sam/bin/sam || command -v sam )"
  SAM_CLI_TELEMETRY=0 "$SAM" validate --lint --region us-east-1
else
  echo "sam CLI not installed: run 'make sam' (CI always does)" >&2
fi
echo "== pytest"
python -m pytest "$@"
