#!/usr/bin/env bash
# One-time set-up on a fresh Debian/Ubuntu machine: the Arm toolchain, QEMU and
# stm32flash from the distribution, and tinygen with its Python dependencies.
# Safe to run again: installed pieces are skipped quickly.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES="gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm stm32flash make gcc"
missing=""
for p in $APT_PACKAGES; do
  dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "== installing Debian packages:$missing"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

PY=${PYTHON:-python3}
if ! $PY -c "import tinygen, tensorflow, tflite_micro, pytest" >/dev/null 2>&1 \
   || [ pyproject.toml -nt .setup-stamp ]; then
  echo "== installing tinygen and its Python dependencies (pip)"
  $PY -m pip install -q --disable-pip-version-check -e ".[all]"
  touch .setup-stamp
fi
echo "== set-up done: $(arm-none-eabi-gcc --version | head -1); $(qemu-system-arm --version | head -1)"
