#!/usr/bin/env bash
# The Docker engine the container tier needs (CI, or a machine without one): `start` installs Debian's docker.io and
# debootstrap when missing, starts dockerd as root (overlay2) unless an engine already answers, and waits for it;
# `stop` stops the engine this script started (and only that one).
set -euo pipefail
PIDFILE="${TMPDIR:-/tmp}/diffrhythm-dockerd.pid"
LOG="${TMPDIR:-/tmp}/diffrhythm-dockerd.log"
case "${1:-start}" in
  start)
    if docker info >/dev/null 2>&1; then echo "docker engine: already running"; exit 0; fi
    if ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io debootstrap >/dev/null
    fi
    start=$(date +%s)
    dockerd --storage-driver overlay2 >"$LOG" 2>&1 &
    echo $! >"$PIDFILE"
    for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
    docker info >/dev/null 2>&1 || { tail -20 "$LOG" >&2; exit 1; }
    echo "docker engine: started in $(( $(date +%s) - start )) s"
    ;;
  stop)
    [ -s "$PIDFILE" ] || exit 0
    kill "$(cat "$PIDFILE")" 2>/dev/null || true
    rm -f "$PIDFILE"
    ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
