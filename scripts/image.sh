#!/usr/bin/env bash
# make image: the worker image (inference_container/Dockerfile) built where no container registry is reachable. The
# base is made here from Debian's packages (debootstrap: Debian bookworm with its Python 3.11, as in
# python:3.11-slim-bookworm), imported once and reused; the build trusts this machine's CA bundle through a BuildKit
# secret (never stored in a layer). Prints the image's size.
#   WEIGHTS=tiny|published   tiny bakes the TINY RANDOM TEST bundle (the container tests); published fetches the real one
#   IMAGE    the tag (default diffrhythm-worker:$WEIGHTS)   BASE_IMAGE   the base to build on (made when missing)
#   BUILD_ARGS   more docker build arguments (say "--build-arg ACCEPT_NONCOMMERCIAL_WEIGHTS=1")
set -euo pipefail
cd "$(dirname "$0")/.."
WEIGHTS="${WEIGHTS:-tiny}"
case "$WEIGHTS" in tiny | published) ;; *) echo "WEIGHTS must be published or tiny, not $WEIGHTS" >&2; exit 1 ;; esac
IMAGE="${IMAGE:-diffrhythm-worker:$WEIGHTS}"
BASE_IMAGE="${BASE_IMAGE:-diffrhythm-base:bookworm}"
CA_BUNDLE="${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
DOCKER="$(bash scripts/docker.sh)"

if ! "$DOCKER" image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  echo "== making $BASE_IMAGE from Debian's packages (debootstrap)"
  command -v debootstrap >/dev/null || { echo "debootstrap is needed: apt-get install debootstrap" >&2; exit 1; }
  root="$(mktemp -d)"
  trap 'rm -rf "$root"' EXIT
  mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
  debootstrap --variant=minbase bookworm "$root" "$mirror" >/dev/null || {
    tail -20 "$root/debootstrap/debootstrap.log" >&2; exit 1; }
  printf 'deb %s bookworm main\ndeb %s bookworm-updates main\ndeb http://deb.debian.org/debian-security bookworm-security main\n' \
    "$mirror" "$mirror" > "$root/etc/apt/sources.list"
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  # Python as python:3.11-slim-bookworm has it (with venv), from Debian's packages
  chroot "$root" sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    python3.11 python3.11-venv ca-certificates >/dev/null && apt-get clean && rm -rf /var/lib/apt/lists/*'
  : > "$root/etc/resolv.conf"
  tar -C "$root" -c . | "$DOCKER" import --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3.11"]' - "$BASE_IMAGE"
fi

echo "== building $IMAGE on $BASE_IMAGE (WEIGHTS=$WEIGHTS)"
secret=()
[ -s "$CA_BUNDLE" ] && secret=(--secret "id=ca,src=$CA_BUNDLE")
start=$(date +%s)
# shellcheck disable=SC2086
DOCKER_BUILDKIT=1 "$DOCKER" build --network host --progress plain "${secret[@]}" \
  --build-arg BASE_IMAGE="$BASE_IMAGE" --build-arg WEIGHTS="$WEIGHTS" ${BUILD_ARGS:-} \
  -f inference_container/Dockerfile -t "$IMAGE" .
size=$("$DOCKER" image inspect --format '{{.Size}}' "$IMAGE")
echo "== $IMAGE: $((size / 1000000)) MB, built in $(( $(date +%s) - start )) s"
