"""1-D signal classifier end to end: a small CNN tells sine, square, triangle and noise windows apart.

    python examples/waveforms/run.py               # train, quantize, build, flash the emulated board, verify
    python examples/waveforms/run.py --host-only   # stop after quantize
"""
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from pipeline import Example, main  # noqa: E402

EXAMPLE = Example(name="waveforms", folder=HERE, data_file="data.csv",
                  train_args=["--arch", "cnn1d", "--input-shape", "64,1", "--epochs", "100", "--seed", "1"])

if __name__ == "__main__":
    main(EXAMPLE)
