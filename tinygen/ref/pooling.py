"""AVERAGE_POOL_2D and MAX_POOL_2D (int8), bit-exact with TFLM.

Padding cells are not part of a window: the average divides by the number of
real cells, rounding half away from zero ((s + c/2) / c for s > 0, else
(s - c/2) / c with C truncation). Same scale in and out (no requantization, as
in TFLM), then the fused-activation clamp.
"""
from __future__ import annotations

import numpy as np

from tinygen.quant.params import PoolParams


def average_pool2d(p: PoolParams, x: np.ndarray) -> np.ndarray:
    n = x.shape[0]
    _, h, w, c = p.input_shape
    _, oh, ow, _ = p.output_shape
    xb = x.reshape(-1, h, w, c).astype(np.int32)
    pads = ((0, 0), (p.pad_top, p.pad_bottom), (p.pad_left, p.pad_right), (0, 0))
    xp = np.pad(xb, pads)
    ones = np.pad(np.ones((1, h, w, 1), dtype=np.int32), pads)
    acc = np.zeros((xb.shape[0], oh, ow, c), dtype=np.int32)
    cnt = np.zeros((1, oh, ow, 1), dtype=np.int32)
    sh, sw = p.stride_h, p.stride_w
    for i in range(p.filter_h):
        for j in range(p.filter_w):
            acc += xp[:, i:i + (oh - 1) * sh + 1:sh, j:j + (ow - 1) * sw + 1:sw]
            cnt += ones[:, i:i + (oh - 1) * sh + 1:sh, j:j + (ow - 1) * sw + 1:sw]
    # windows that fall wholly in the padding end at the input edge in TFLM's loop
    # bounds (filter_*_end clipped), so their counts are > 0 for valid graphs.
    if np.any(cnt == 0):
        raise ValueError(f"op {p.op_index}: pooling window with no input cell")
    half = cnt // 2
    num = np.where(acc > 0, acc + half, acc - half)
    q = np.abs(num) // cnt * np.sign(num)  # C truncating division
    np.clip(q, p.activation_min, p.activation_max, out=q)
    return q.astype(np.int8).reshape((n,) + tuple(p.output_shape))


def max_pool2d(p: PoolParams, x: np.ndarray) -> np.ndarray:
    n = x.shape[0]
    _, h, w, c = p.input_shape
    _, oh, ow, _ = p.output_shape
    xb = x.reshape(-1, h, w, c)
    pads = ((0, 0), (p.pad_top, p.pad_bottom), (p.pad_left, p.pad_right), (0, 0))
    xp = np.pad(xb, pads, constant_values=-128)  # never above a real cell
    out = np.full((xb.shape[0], oh, ow, c), -128, dtype=np.int8)
    sh, sw = p.stride_h, p.stride_w
    for i in range(p.filter_h):
        for j in range(p.filter_w):
            np.maximum(out, xp[:, i:i + (oh - 1) * sh + 1:sh, j:j + (ow - 1) * sw + 1:sw], out=out)
    np.clip(out, p.activation_min, p.activation_max, out=out)
    return out.reshape((n,) + tuple(p.output_shape))
