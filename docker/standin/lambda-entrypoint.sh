#!/bin/sh
# As the Lambda base's entry point: the handler is the one argument (the image's CMD), then the runtime.
if [ $# -ne 1 ]; then
  echo "lambda-entrypoint.sh: the handler name must be the only argument (the image's CMD)" >&2
  exit 142
fi
export _HANDLER="$1"
if [ -z "${AWS_LAMBDA_RUNTIME_API:-}" ]; then
  echo "lambda-entrypoint.sh: AWS_LAMBDA_RUNTIME_API is not set and this stand-in base has no runtime interface" \
       "emulator; serve the Runtime API yourself (tests/support/lambda_runtime.py does)" >&2
  exit 142
fi
exec /var/runtime/bootstrap
