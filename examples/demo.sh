#!/usr/bin/env bash
# The README's main job: train a small image classifier on data it makes itself,
# quantize it to full int8, generate C, build for the emulated Cortex-M4, flash it
# over serial through the board's bootloader, verify bit-exact, report accuracy.
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${PYTHON:-python3}" examples/shapes/run.py "$@"
