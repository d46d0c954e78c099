#!/usr/bin/env bash
# Build the DataPipe stage image with podman, without pulling anything from a container registry.
#
#  1. a Debian bookworm root filesystem from `debootstrap --variant=minbase` (+ the shared
#     libraries Python and the wheels need), cached as var/image/base-rootfs.tar;
#  2. Python 3.12 copied into it from the local interpreter's installation prefix (pyenv's
#     build; bookworm has no python3.12 package), registered with ldconfig;
#  3. `podman import` of that tree as the base image, then `podman build` of ./Containerfile on
#     top: the project's runtime dependencies pinned from uv.lock (pip, PyPI) + datapipe_ops.
#
# The image is labelled with a hash of what goes into it (Containerfile, datapipe_ops, include,
# pyproject.toml, uv.lock); when an image with the same hash exists the build is skipped, so
# `make image` is cheap when nothing changed.
#
# Environment: DATAPIPE_IMAGE (tag, default localhost/datapipe-stage:<version>), PYTHON (the 3.12
# interpreter whose prefix is copied), DEBIAN_MIRROR, REBUILD_BASE=1 to redo steps 1-2,
# FORCE=1 to rebuild even if the image is up to date, NUMBA_CPU_NAME / NUMBA_CPU_FEATURES for
# another CPU baseline of the precompiled kernels (default haswell = x86-64-v3).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
# shellcheck source=include/container/containers-conf.sh
. "$ROOT/include/container/containers-conf.sh"
WORK="$ROOT/var/image"
SUITE=bookworm
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
VERSION="$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml | head -1)"
IMAGE="${DATAPIPE_IMAGE:-localhost/datapipe-stage:$VERSION}"
BASE_IMAGE="localhost/datapipe-base:$SUITE-py3.12"
# Shared libraries of the CPython build (ssl, ffi, zlib, bz2, lzma, sqlite, readline, ncurses,
# uuid, gdbm) and of the wheels (libgomp for LightGBM), CA certificates for pip.
LIBS=ca-certificates,libssl3,libffi8,zlib1g,libbz2-1.0,liblzma5,libsqlite3-0,libreadline8,libncursesw6,libuuid1,libgdbm6,libgomp1,libstdc++6

die() { echo "error: $*" >&2; exit 1; }
command -v podman >/dev/null || die "podman is not installed: run 'include/container/engine.sh install'"

SOURCE_HASH="$( { find Containerfile pyproject.toml uv.lock datapipe_ops include -type f \
  ! -path '*/__pycache__/*' ! -name '*.pyc' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum; \
  echo "cpu baseline: ${NUMBA_CPU_NAME:-default} ${NUMBA_CPU_FEATURES:-default}"; } \
  | sha256sum | cut -c1-16)"
if [ "${FORCE:-0}" != 1 ] && [ "${REBUILD_BASE:-0}" != 1 ] && podman image exists "$IMAGE" \
  && [ "$(podman image inspect --format '{{ index .Labels "org.ctao.datapipe.source-hash" }}' "$IMAGE")" = "$SOURCE_HASH" ]; then
  echo "$IMAGE is up to date (source hash $SOURCE_HASH)"
  exit 0
fi
[ "$(id -u)" -eq 0 ] || die "building the base root filesystem needs root (debootstrap, chroot)"
command -v debootstrap >/dev/null || die "debootstrap is not installed: run 'include/container/engine.sh install'"
PYTHON="${PYTHON:-$(.ci/find-python312 || true)}"
[ -n "$PYTHON" ] || die "no Python 3.12 interpreter found (set PYTHON=/path/to/python3.12)"
PREFIX="$("$PYTHON" -c 'import sys; print(sys.base_prefix)')"
case "$PREFIX" in
  /usr|/usr/local) die "$PYTHON is a system install ($PREFIX), not a self-contained prefix: use a pyenv build" ;;
esac
mkdir -p "$WORK"

if [ "${REBUILD_BASE:-0}" = 1 ] || ! podman image exists "$BASE_IMAGE"; then
  if [ "${REBUILD_BASE:-0}" = 1 ] || [ ! -f "$WORK/base-rootfs.tar" ]; then
    rootfs="$WORK/rootfs"
    rm -rf "$rootfs"
    echo "debootstrap --variant=minbase $SUITE from $MIRROR (a few minutes)"
    debootstrap --variant=minbase --include="$LIBS" "$SUITE" "$rootfs" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
      || die "debootstrap failed (see $WORK/debootstrap.log)"
    echo "copying Python 3.12 from $PREFIX to /opt/python3.12"
    mkdir -p "$rootfs/opt/python3.12"
    tar -C "$PREFIX" --exclude='lib/python3.12/test' --exclude='lib/python3.12/idlelib' \
      --exclude='lib/python3.12/tkinter' --exclude='lib/python3.12/turtledemo' \
      --exclude='lib/python3.12/site-packages' --exclude='__pycache__' -cf - . \
      | tar -C "$rootfs/opt/python3.12" -xf -
    mkdir -p "$rootfs/opt/python3.12/lib/python3.12/site-packages"
    echo /opt/python3.12/lib > "$rootfs/etc/ld.so.conf.d/python3.12.conf"
    chroot "$rootfs" /sbin/ldconfig
    chroot "$rootfs" /opt/python3.12/bin/python3.12 -c 'import ssl, sqlite3, lzma, bz2, ctypes, zlib' \
      || die "the copied Python 3.12 does not start in the root filesystem"
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" -cf "$WORK/base-rootfs.tar.tmp" . && mv "$WORK/base-rootfs.tar.tmp" "$WORK/base-rootfs.tar"
    rm -rf "$rootfs"
  fi
  echo "importing the root filesystem as $BASE_IMAGE"
  podman import --change 'ENV PATH=/opt/python3.12/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["/opt/python3.12/bin/python3.12"]' "$WORK/base-rootfs.tar" "$BASE_IMAGE" >/dev/null
fi

# The build context: only what the image needs (no .venv, no .git, no data): the package, its
# data files (include/: configs, instrument descriptions) and the locked requirements.
ctx="$WORK/context"
rm -rf "$ctx" && mkdir -p "$ctx"
cp pyproject.toml README.md "$ctx/"
tar --exclude='__pycache__' --exclude=include/container --exclude=include/deploy -cf - datapipe_ops include | tar -C "$ctx" -xf -
# The runtime dependencies of [project.dependencies] exactly as locked (no extras: no Airflow).
.tools/bin/uv export --frozen --no-emit-project --no-dev --format requirements-txt \
  -o "$ctx/requirements.txt" >/dev/null 2>&1 || die "uv export from uv.lock failed (run 'make env')"
# pip inside the build trusts the same CA bundle as pip here (TLS-intercepting proxies).
CA_BUNDLE="${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}"
secret=()
[ -s "$CA_BUNDLE" ] && secret=(--secret "id=pip_ca,src=$CA_BUNDLE")
previous="$(podman image inspect --format '{{ .Id }}' "$IMAGE" 2>/dev/null || true)"
echo "podman build $IMAGE"
# The CPU baseline of the precompiled numba kernels (Containerfile's default: haswell, x86-64-v3).
cpu=()
[ -n "${NUMBA_CPU_NAME:-}" ] && cpu+=(--build-arg "NUMBA_CPU_NAME=$NUMBA_CPU_NAME")
[ -n "${NUMBA_CPU_FEATURES:-}" ] && cpu+=(--build-arg "NUMBA_CPU_FEATURES=$NUMBA_CPU_FEATURES")
podman build --pull=never --network=host --build-arg "BASE_IMAGE=$BASE_IMAGE" "${secret[@]}" "${cpu[@]}" \
  --label "org.opencontainers.image.version=$VERSION" \
  --label "org.ctao.datapipe.source-hash=$SOURCE_HASH" -t "$IMAGE" -f Containerfile "$ctx"
# The image this build replaced is now untagged: remove it (kept if a container still uses it).
current="$(podman image inspect --format '{{ .Id }}' "$IMAGE")"
if [ -n "$previous" ] && [ "$previous" != "$current" ]; then podman rmi "$previous" >/dev/null 2>&1 || true; fi
echo "built $IMAGE"
