#!/bin/sh
# ECS runs the SQS worker ("worker", the default); SageMaker starts the container with "serve".
set -eu
# On a CPU (no NVIDIA device in the container) torch allocates through tcmalloc, unless LD_PRELOAD chose: glibc maps
# each block over 32 MiB afresh and faults it in page by page, which doubled a CPU's VAE decode (docs/performance.md).
if [ ! -e /dev/nvidiactl ] && [ -z "${LD_PRELOAD:-}" ]; then
  for lib in /usr/lib/*-linux-gnu/libtcmalloc_minimal.so.4; do
    if [ -e "$lib" ]; then export LD_PRELOAD="$lib"; fi
  done
fi
case "${1:-worker}" in
  serve) exec python -m inference_container worker --sagemaker --port 8080 ;;
  worker) exec python -m inference_container worker ;;
  *) exec "$@" ;;
esac
