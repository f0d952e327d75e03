"""QUANTIZE and DEQUANTIZE, bit-exact with TFLM.

- float -> int: round(x / scale) in float32 (half away from zero) + zero point, clamped.
- int -> int: (x - zp_in) through MultiplyByQuantizedMultiplier(in/out scale) + zp_out, clamped.
- DEQUANTIZE: float32(double(scale) * (q - zp)).
"""
from __future__ import annotations

import numpy as np

from tinygen.quant.fixedpoint import multiply_by_quantized_multiplier
from tinygen.quant.params import DequantizeParams, QuantizeParams
from tinygen.ref.common import INT_RANGE


def round_half_away_f32(v: np.ndarray) -> np.ndarray:
    """roundf elementwise on float32 values (exact: done in float64)."""
    d = v.astype(np.float64)
    return np.where(d >= 0, np.floor(d + 0.5), -np.floor(-d + 0.5))


def quantize(p: QuantizeParams, x: np.ndarray) -> np.ndarray:
    lo, hi = INT_RANGE[p.output_dtype]
    if p.mode == "float_to_int":
        q = x.astype(np.float32) / np.float32(p.output_scale)  # float32 division, as in C
        r = round_half_away_f32(q)
        r = np.clip(r, -2.0 ** 31, 2.0 ** 31 - 1)  # C's int cast of huge values is UB; saturate
        out = r.astype(np.int64) + p.output_zero_point
    else:
        v = x.astype(np.int64) - p.input_zero_point
        out = multiply_by_quantized_multiplier(v, p.requantize_multiplier, p.requantize_shift) + p.output_zero_point
    return np.clip(out, lo, hi).astype(p.output_dtype)


def dequantize(p: DequantizeParams, x: np.ndarray) -> np.ndarray:
    return (float(np.float32(p.scale)) * (x.astype(np.float64) - p.zero_point)).astype(np.float32)
