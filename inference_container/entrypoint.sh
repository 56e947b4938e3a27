#!/bin/sh
# ECS runs the SQS worker ("worker", the default); SageMaker starts the container with "serve".
set -eu
case "${1:-worker}" in
  serve) exec python -m inference_container worker --sagemaker --port 8080 ;;
  worker) exec python -m inference_container worker ;;
  *) exec "$@" ;;
esac
