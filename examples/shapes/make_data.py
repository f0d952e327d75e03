"""Tiny image classification data: 16x16 grey images of a circle, square, triangle or cross.

Each image has one outlined shape at a random position and size (radius 3 to 6
pixels), random brightness (0.6 to 1.0) and Gaussian pixel noise (sigma 0.1),
clipped to [0, 1]. Written as NPZ: x (N,16,16,1) float32, y text labels, and a
separate held-out set x_test/y_test.

    python make_data.py -o data.npz     # 1200 training + 300 held-out images, fixed seed

Deterministic: the same seed writes the same arrays.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

SEED = 2468
ROWS = 1200
TEST_ROWS = 300
SIZE = 16
CLASSES = ("circle", "square", "triangle", "cross")


def _draw(kind: str, cy: float, cx: float, r: float) -> np.ndarray:
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64) + 0.5
    dy, dx = yy - cy, xx - cx
    if kind == "circle":
        d = np.abs(np.hypot(dy, dx) - r)
        return (d < 0.8).astype(np.float64)
    if kind == "square":
        m = np.maximum(np.abs(dy), np.abs(dx))
        return (np.abs(m - r) < 0.6).astype(np.float64)
    if kind == "triangle":  # apex up, base at cy + r
        inside = (dy <= r) & (dy >= -r) & (np.abs(dx) <= (dy + r) / 2)
        inner = (dy <= r - 1.2) & (dy >= -r + 2.4) & (np.abs(dx) <= (dy + r) / 2 - 1.2)
        return (inside & ~inner).astype(np.float64)
    # cross: two strokes through the centre
    return (((np.abs(dy) < 0.7) & (np.abs(dx) <= r)) | ((np.abs(dx) < 0.7) & (np.abs(dy) <= r))).astype(np.float64)


def make(seed: int = SEED, rows: int = ROWS) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.empty((rows, SIZE, SIZE, 1), dtype=np.float32)
    y = []
    for i in range(rows):
        kind = CLASSES[i % len(CLASSES)]
        r = rng.uniform(3.0, 6.0)
        cy = rng.uniform(r + 0.5, SIZE - r - 0.5)
        cx = rng.uniform(r + 0.5, SIZE - r - 0.5)
        img = rng.uniform(0.6, 1.0) * _draw(kind, cy, cx, r) + rng.normal(0.0, 0.1, (SIZE, SIZE))
        x[i, :, :, 0] = np.clip(img, 0.0, 1.0)
        y.append(kind)
    order = rng.permutation(rows)
    return x[order], np.array(y)[order]


def write_npz(path: Path, seed: int = SEED) -> Path:
    x, y = make(seed, ROWS)
    x_test, y_test = make(seed + 1, TEST_ROWS)
    np.savez_compressed(path, x=x, y=y, x_test=x_test, y_test=y_test)
    return path


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--output", default="data.npz")
    ap.add_argument("--seed", type=int, default=SEED)
    a = ap.parse_args()
    print(f"wrote {write_npz(Path(a.output), a.seed)} ({ROWS} training + {TEST_ROWS} held-out 16x16 images, "
          f"classes {', '.join(CLASSES)})")
