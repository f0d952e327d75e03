"""Sine regression end to end (TFLM's hello world, trained here): an MLP learns sin(x) on [0, 2*pi].

    python examples/sine/run.py               # train, quantize, build, flash the emulated board, verify
    python examples/sine/run.py --host-only   # stop after quantize
"""
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from pipeline import Example, main  # noqa: E402

EXAMPLE = Example(name="sine", folder=HERE, data_file="data.csv",
                  train_args=["--label", "y", "--task", "regression", "--arch", "mlp", "--epochs", "300",
                              "--seed", "1"])

if __name__ == "__main__":
    main(EXAMPLE)
