#!/usr/bin/env bash
# Prints the docker client to use for BuildKit builds: `docker` when it can (its buildx plugin, or a client that
# still has BuildKit built in), else Debian's docker.io client (/usr/bin/docker, BuildKit built in) where a newer
# client without buildx shadows it on PATH.
set -euo pipefail
client="${DOCKER:-docker}"
if "$client" buildx version >/dev/null 2>&1 || ! "$client" version --format '{{.Client.Version}}' 2>/dev/null \
    | grep -qvE '^(1[0-9]|20|21|22)\.'; then
  echo "$client"
elif [ -x /usr/bin/docker ]; then
  echo /usr/bin/docker
else
  echo "$client"
fi
