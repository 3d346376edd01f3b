#!/bin/sh
# Install one image's Python packages into a folder: the lock file's exact versions for that image's
# dependency group, as binary wheels for the images' platform (glibc 2.34: Amazon Linux 2023 under the
# Lambda base; Python 3.13), then slimmed. Nothing is resolved or built from source here: a package without
# such a wheel fails the install. The Dockerfiles run this inside the base; tests/deploy/test_images.py runs it on
# the host for every image, so a lock change that needs a compiler fails a test before any image build.
#   install-packages.sh PROJECT_DIR GROUP TARGET [--api]
# PROJECT_DIR holds pyproject.toml and uv.lock; --api is passed on to slim-site-packages.sh.
set -eu
project="$1" group="$2" target="$3"
shift 3
requirements="$(mktemp)"
uv export --project "$project" --frozen --no-emit-project --no-default-groups --group "$group" --no-hashes \
   --quiet -o "$requirements"
uv pip install --quiet --only-binary :all: --python-platform x86_64-manylinux_2_34 --python-version 3.13 \
   --target "$target" -r "$requirements"
rm -f "$requirements"
python3 "$(dirname "$0")/slim-site-packages.py" "$target" "$@"
