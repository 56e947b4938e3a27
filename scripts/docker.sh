#!/usr/bin/env bash
# Prints the docker client to use for BuildKit builds: `docker` when it has the buildx plugin or is older than 23
# (BuildKit built in), else Debian's docker.io client (/usr/bin/docker, BuildKit built in) where a newer client
# without buildx shadows it on PATH.
set -euo pipefail
client="${DOCKER:-docker}"
version="$("$client" version --format '{{.Client.Version}}' 2>/dev/null || echo 0)"
if "$client" buildx version >/dev/null 2>&1 || [ "${version%%.*}" -lt 23 ] || [ ! -x /usr/bin/docker ]; then
  echo "$client"
else
  echo /usr/bin/docker
fi
