"""Tiny image classifier end to end (the README demo): a CNN tells circles, squares, triangles and
crosses apart in 16x16 images, then runs on an emulated Cortex-M4 and reports accuracy ON THE DEVICE.

    python examples/shapes/run.py               # train, quantize, build, flash the emulated board, verify
    python examples/shapes/run.py --host-only   # stop after quantize
"""
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from pipeline import Example, main  # noqa: E402

EXAMPLE = Example(name="shapes", folder=HERE, data_file="data.npz",
                  train_args=["--arch", "cnn2d", "--epochs", "40", "--seed", "1"])

if __name__ == "__main__":
    main(EXAMPLE)
