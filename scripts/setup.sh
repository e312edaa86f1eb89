#!/usr/bin/env bash
# Installs everything capsa and its tests need on a fresh machine of this kind (Debian, root):
# the Debian packages below, then a virtual environment in .venv with capsa and its test tools.
# The environment is made from Debian's python3 (PYTHON=... picks another): Debian builds it with
# PGO and LTO, which makes capsa's start-up and its container path 5-10% faster here than with a
# self-built interpreter of the same version (see docs/benchmarks.md).
# capsa is installed as a user gets it (a regular install: start-up pays no editable-import hook);
# CAPSA_EDITABLE=1 installs it editable instead, for working on the code. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES="git busybox-static catatonit libseccomp2 iproute2 nftables python3 python3-venv crun runc strace docker-registry skopeo"
missing=""
for pkg in $APT_PACKAGES; do dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"; done
if [ -n "$missing" ]; then
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
fi

# Hybrid cgroups (v1 controllers, cgroup2 at /sys/fs/cgroup/unified): a controller that cgroup2
# still holds (hugetlb, on a fresh host) makes crun refuse to run containers (the oci isolation
# driver with runtime crun). Mount each such controller as a v1 hierarchy of its own, as
# podman's set-up does; the other drivers do not care.
U=/sys/fs/cgroup/unified
if [ -f $U/cgroup.controllers ] && [ ! -f /sys/fs/cgroup/cgroup.controllers ]; then
  for c in $(cat $U/cgroup.controllers); do
    mountpoint -q /sys/fs/cgroup/$c || { mkdir -p /sys/fs/cgroup/$c && mount -t cgroup -o "$c" cgroup /sys/fs/cgroup/$c; } \
      || echo "setup.sh: could not mount the $c cgroup controller as v1: the oci driver will refuse crun" >&2
  done
fi

PYTHON=${PYTHON:-/usr/bin/python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
if [ "${CAPSA_EDITABLE:-0}" = 1 ]; then
  .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
else
  .venv/bin/python -m pip install -q --disable-pip-version-check '.[test]'
fi
