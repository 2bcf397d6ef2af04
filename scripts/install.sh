#!/usr/bin/env bash
# Installs what kubeproc and its tests need and is missing: Debian packages (when root) and the
# Python virtualenv with pinned dependencies. Does nothing when everything is there.
set -euo pipefail
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
# runc runs pods; iproute2 and nftables are the network tools the agent and tests use;
# redis-server, python3 and zookeeper are host programs the image catalog maps images to (tests
# and the examples run them).
APT_PACKAGES=(iproute2 ca-certificates runc nftables redis-server redis-tools python3 zookeeper)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "warning: missing Debian packages (run as root to install): ${missing[*]}" >&2
  fi
fi

if ! command -v kubectl >/dev/null 2>&1; then
  echo "warning: kubectl is not on the PATH; the end-to-end tests need the real kubectl" >&2
fi

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -e '.[test]'
