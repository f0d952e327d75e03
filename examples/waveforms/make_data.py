"""1-D signal classification data: 64-sample windows of sine, square, triangle or noise.

Each window has a random frequency (1 to 4 cycles), phase and amplitude
(0.5 to 1.0) plus Gaussian noise (sigma 0.1); the 'noise' class is noise alone
(sigma 0.3 to 0.6). One CSV row per window: s0..s63 then a text label.

    python make_data.py -o data.csv     # 1200 rows, fixed seed

Deterministic: the same seed writes the same file byte for byte.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

SEED = 4321
ROWS = 1200
LENGTH = 64
CLASSES = ("sine", "square", "triangle", "noise")


def make(seed: int = SEED, rows: int = ROWS) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.arange(LENGTH) / LENGTH
    x = np.empty((rows, LENGTH), dtype=np.float32)
    y = np.empty(rows, dtype=object)
    for i in range(rows):
        kind = CLASSES[i % len(CLASSES)]
        cycles = rng.uniform(1.0, 4.0)
        phase = rng.uniform(0.0, 2 * np.pi)
        amp = rng.uniform(0.5, 1.0)
        arg = 2 * np.pi * cycles * t + phase
        if kind == "sine":
            s = amp * np.sin(arg)
        elif kind == "square":
            s = amp * np.sign(np.sin(arg))
        elif kind == "triangle":
            s = amp * (2 / np.pi) * np.arcsin(np.sin(arg))
        else:
            s = rng.normal(0.0, rng.uniform(0.3, 0.6), LENGTH)
        x[i] = s + rng.normal(0.0, 0.1, LENGTH)
        y[i] = kind
    order = rng.permutation(rows)
    return x[order], y[order].astype(str)


def write_csv(path: Path, seed: int = SEED) -> Path:
    x, y = make(seed)
    with open(path, "w") as f:
        f.write(",".join(f"s{i}" for i in range(LENGTH)) + ",label\n")
        for row, lab in zip(x, y):
            f.write(",".join(f"{v:.4f}" for v in row) + f",{lab}\n")
    return path


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--output", default="data.csv")
    ap.add_argument("--seed", type=int, default=SEED)
    a = ap.parse_args()
    print(f"wrote {write_csv(Path(a.output), a.seed)} ({ROWS} rows of {LENGTH} samples, classes {', '.join(CLASSES)})")
