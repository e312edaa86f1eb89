#!/usr/bin/env bash
# Installs everything capsa and its tests need on a fresh machine of this kind (Debian, root):
# the Debian packages below, then a virtual environment in .venv with capsa and its test tools.
# capsa is installed as a user gets it (a regular install: start-up pays no editable-import hook);
# CAPSA_EDITABLE=1 installs it editable instead, for working on the code. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES="git busybox-static catatonit libseccomp2 iproute2"
missing=""
for pkg in $APT_PACKAGES; do dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"; done
if [ -n "$missing" ]; then
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
fi

PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
if [ "${CAPSA_EDITABLE:-0}" = 1 ]; then
  .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
else
  .venv/bin/python -m pip install -q --disable-pip-version-check '.[test]'
fi
