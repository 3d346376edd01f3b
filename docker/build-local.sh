#!/usr/bin/env bash
# Build the three images with podman where the real bases' registries cannot be reached (CI, offline
# machines): stand-in bases made from Debian packages (docker/standin/, which says how they differ from the
# real ones) replace the Dockerfiles' default bases through build arguments. The Dockerfiles are the ones
# `cdk deploy` builds.
#
#   bash docker/build-local.sh        # -> localhost/housing-{api,pipeline,dashboard}:local
#
# Needs podman, buildah, debootstrap and Debian's archive keys (apt-get install podman buildah debootstrap
# debian-archive-keyring), uv, and the Debian and PyPI package registries. The Debian root file system is made once and kept as an image; later runs reuse it and
# podman's layer cache, so a rebuild after a code change takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

STANDIN=localhost/housing-standin
ROOTFS_IMAGE="$STANDIN/debian:trixie-python3.13"
UV_VERSION="$(sed -n 's|^ARG UV_IMAGE=.*:\([0-9.]*\)$|\1|p' Dockerfile.lambda)"
UV_IMAGE="$STANDIN/uv:$UV_VERSION"
BUILD=(podman build --isolation chroot --pull=never --platform linux/amd64 --format docker --quiet)

log() { printf '[build-local] %s\n' "$*" >&2; }

debian_mirror() {
  # The mirror this machine's own apt sources name (DEBIAN_MIRROR overrides it).
  if [ -n "${DEBIAN_MIRROR:-}" ]; then echo "$DEBIAN_MIRROR"; return; fi
  cat /etc/apt/sources.list.d/*.sources 2>/dev/null | sed -n 's|^URIs: *\(\S*/debian\)/\?$|\1|p' | head -n 1 | grep . \
    || sed -n 's|^deb \(\[[^]]*\] \)\?\(\S*/debian\)/\? .*|\2|p' /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
         2>/dev/null | head -n 1 | grep . \
    || echo "http://deb.debian.org/debian"
}

if ! podman image exists "$ROOTFS_IMAGE"; then
  mirror="$(debian_mirror)"
  root="$(mktemp -d)"
  trap 'rm -rf "$root"' EXIT
  log "debootstrap: Debian trixie with Python 3.13 from $mirror (about a minute, once)"
  debootstrap --variant=minbase --include=python3.13,ca-certificates \
    --keyring=/usr/share/keyrings/debian-archive-keyring.gpg trixie "$root/fs" "$mirror" >"$root/log" 2>&1 \
    || { tail -n 20 "$root/log" >&2; exit 1; }
  rm -rf "$root"/fs/var/cache/apt/archives/*.deb "$root"/fs/var/lib/apt/lists/*
  # This machine's CA bundle, so that builds reach PyPI through a TLS-intercepting egress proxy, if any.
  cp /etc/ssl/certs/ca-certificates.crt "$root/fs/etc/ssl/certs/ca-certificates.crt"
  tar -C "$root/fs" -c . | podman import --quiet - "$ROOTFS_IMAGE" >/dev/null
  rm -rf "$root"
  trap - EXIT
fi

if ! podman image exists "$UV_IMAGE"; then
  log "uv $UV_VERSION, from its PyPI wheel"
  wheel="$(mktemp -d)"
  uv pip install --quiet --no-deps --target "$wheel" "uv==$UV_VERSION"
  container="$(buildah from scratch)"
  buildah copy --quiet "$container" "$wheel/bin/uv" /uv >/dev/null
  buildah commit --quiet "$container" "$UV_IMAGE" >/dev/null
  buildah rm "$container" >/dev/null
  rm -rf "$wheel"
fi

log "stand-in bases"
"${BUILD[@]}" -f docker/standin/lambda-python.Containerfile --build-arg ROOTFS="$ROOTFS_IMAGE" \
  --build-arg UV_IMAGE="$UV_IMAGE" -t "$STANDIN/lambda-python:3.13" docker/standin >/dev/null
"${BUILD[@]}" -f docker/standin/python.Containerfile --build-arg ROOTFS="$ROOTFS_IMAGE" \
  -t "$STANDIN/python:3.13-slim-trixie" docker/standin >/dev/null

LAMBDA_ARGS=(--build-arg UV_IMAGE="$UV_IMAGE" --build-arg LAMBDA_BASE="$STANDIN/lambda-python:3.13")
for target in api pipeline; do
  log "housing-$target:local (Dockerfile.lambda, target $target)"
  "${BUILD[@]}" -f Dockerfile.lambda --target "$target" "${LAMBDA_ARGS[@]}" -t "localhost/housing-$target:local" . >/dev/null
done
log "housing-dashboard:local (Dockerfile.streamlit)"
"${BUILD[@]}" -f Dockerfile.streamlit --build-arg UV_IMAGE="$UV_IMAGE" \
  --build-arg PYTHON_BASE="$STANDIN/python:3.13-slim-trixie" -t localhost/housing-dashboard:local . >/dev/null
podman images --format '{{.Repository}}:{{.Tag}} {{.Size}}' --filter reference='localhost/housing-*:local' >&2
