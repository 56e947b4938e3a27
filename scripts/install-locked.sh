#!/usr/bin/env bash
# Installs one lock of locks/ into a fresh virtual environment, resolving nothing: the build backends first
# (locks/build.txt: sdists build with --no-build-isolation, so no build fetches an unpinned backend), then LOCK; every
# file is checked against the lock's sha256 (--require-hashes) and no dependency is looked up (--no-deps), so a lock
# that misses a package fails `pip check` and a file that changed fails the install. Where the lock holds torch, the
# native stack is imported (torch, torchaudio and torchvision must be builds that load together).
# usage: scripts/install-locked.sh VENV LOCK        (PYTHON: the interpreter, default python3.11)
set -euo pipefail
venv="$1" lock="$2"
locks="$(cd "$(dirname "$0")/../locks" && pwd)"
rm -rf "$venv"
"${PYTHON:-python3.11}" -m venv "$venv"
install() {  # pip's own log, without the lines of a machine's pip.conf pointing at indexes it does not have
  "$venv/bin/pip" install --require-hashes --no-deps --no-build-isolation --progress-bar off \
    --disable-pip-version-check "$@" 2>&1 | { grep -v "^WARNING: Location '.*' is ignored" || true; }
}
install -r "$locks/build.txt"
install -r "$lock"
"$venv/bin/pip" check
if grep -q '^torch==' "$lock"; then
  "$venv/bin/python" -c "import torch, torchaudio, torchvision, muq, demucs, onnxruntime, soundfile
print('native stack loads: torch', torch.__version__, 'torchaudio', torchaudio.__version__, 'torchvision',
      torchvision.__version__)"
fi
