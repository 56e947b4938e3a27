#!/usr/bin/env bash
# make lock: the one deliberate way to move versions. Resolves every environment the project installs with uv and
# writes its lock (exact versions, sha256 of every file) to locks/. Every install reads these files with
# `pip install --require-hashes --no-deps`, so nothing resolves at install time and a drifted file fails the install.
#   locks/dev.txt      the dev/CI venv: Lambda functions + local stack + dev tools + worker (Linux x86_64, Python 3.11)
#   locks/worker.txt   the worker image (inference_container/requirements.txt, same platform), versions of dev.txt
#   locks/layer.txt    the functions' Lambda layer (functions/requirements.txt, arm64, LAMBDA_PYTHON), versions of dev.txt
#   locks/build.txt    what builds the project and the locks' sdist-only packages (locks/build.in), installed first:
#                      every install runs with --no-build-isolation, so no build fetches an unpinned backend
#   locks/sam.txt      SAM CLI (locks/sam.in), its own venv
#   locks/checkov.txt  checkov (locks/checkov.in), its own venv
# Extra arguments go to every `uv pip compile` (say --upgrade-package boto3, or --upgrade for everything).
set -euo pipefail
cd "$(dirname "$0")/.."
UV="${UV:-uv}"
export UV_SYSTEM_CERTS=1  # the machine's CA store (a proxy's CA where there is one), as pip uses it
compile() {  # compile OUTPUT PLATFORM PYTHON INPUT... (then "--" and extra arguments)
  local output="$1" platform="$2" python="$3"
  shift 3
  "$UV" pip compile --quiet --generate-hashes --python-platform "$platform" --python-version "$python" \
    --custom-compile-command "make lock" --output-file "$output" "$@"
}
X86=x86_64-manylinux_2_28
ARM=aarch64-manylinux_2_28
compile locks/dev.txt "$X86" 3.11 functions/requirements.txt infrastructure/local/requirements.txt \
  requirements-dev.txt inference_container/requirements.txt "$@"
# The shipped environments take the dev lock's versions: what the tests ran is what ships.
compile locks/worker.txt "$X86" 3.11 inference_container/requirements.txt --constraint locks/dev.txt "$@"
compile locks/layer.txt "$ARM" "${LAMBDA_PYTHON:?the Python of the Lambda runtime (Makefile)}" functions/requirements.txt \
  --constraint locks/dev.txt "$@"
compile locks/build.txt "$X86" 3.11 locks/build.in --constraint locks/dev.txt "$@"
compile locks/sam.txt "$X86" 3.11 locks/sam.in "$@"
compile locks/checkov.txt "$X86" 3.11 locks/checkov.in "$@"
echo "locks/ written: review the version changes with 'git diff --stat locks/' and run make test"
