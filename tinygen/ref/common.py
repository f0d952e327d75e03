"""Shared pieces of the reference kernels.

Array convention for every kernel in tinygen.ref: an activation array has a
leading sample axis N followed by the tensor's own shape from the graph
(`[N, *tensor.shape]`), so a model whose batch is 1 is run on N samples at once.
Integer arithmetic is done on int64 copies; results are cast back to the
tensor's dtype only after clamping.
"""
from __future__ import annotations

import numpy as np

from tinygen.quant.fixedpoint import multiply_by_quantized_multiplier

INT_RANGE = {
    "int8": (-128, 127),
    "int16": (-32768, 32767),
    "uint8": (0, 255),
    "int32": (-(1 << 31), (1 << 31) - 1),
}


def requantize_acc(acc, multiplier, shift, output_offset: int, act_min: int, act_max: int,
                   dtype: str = "int8") -> np.ndarray:
    """MultiplyByQuantizedMultiplier(acc) + output_offset, clamped to [act_min, act_max], cast.

    `multiplier`/`shift` may be per-channel arrays broadcasting over the last axis.
    """
    out = multiply_by_quantized_multiplier(acc, multiplier, shift) + output_offset
    np.clip(out, act_min, act_max, out=out)
    return out.astype(dtype)


def exact_matmul(a: np.ndarray, b: np.ndarray, bound: float) -> np.ndarray:
    """a @ b for integer-valued arrays, exact, returned as int64.

    `bound` is an upper bound of any partial sum's magnitude: float32 GEMM is
    exact below 2^24, float64 below 2^53 (int8 x int8 sums always are).
    """
    if bound < float(1 << 24):
        r = np.matmul(a.astype(np.float32, copy=False), b.astype(np.float32, copy=False))
    else:
        r = np.matmul(a.astype(np.float64, copy=False), b.astype(np.float64, copy=False))
    return r.astype(np.int64)
