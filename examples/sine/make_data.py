"""Sine regression data (like TFLM's hello world): y = sin(x) + noise for x in [0, 2*pi].

    python make_data.py -o data.csv     # 1000 rows, header "x,y", fixed seed

Deterministic: the same seed writes the same file byte for byte.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

SEED = 1234
ROWS = 1000
NOISE = 0.05


def make(seed: int = SEED, rows: int = ROWS) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 2 * np.pi, rows)
    y = np.sin(x) + rng.normal(0.0, NOISE, rows)
    return x.astype(np.float32), y.astype(np.float32)


def write_csv(path: Path, seed: int = SEED) -> Path:
    x, y = make(seed)
    with open(path, "w") as f:
        f.write("x,y\n")
        for a, b in zip(x, y):
            f.write(f"{a:.5f},{b:.5f}\n")
    return path


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--output", default="data.csv")
    ap.add_argument("--seed", type=int, default=SEED)
    a = ap.parse_args()
    print(f"wrote {write_csv(Path(a.output), a.seed)} ({ROWS} rows)")
