"""ADD, SUB and MUL on int8 with numpy broadcasting, bit-exact with TFLM.

ADD/SUB: both inputs are shifted left by `left_shift` (20), rescaled to a
common scale with their own multipliers (MultiplyByQuantizedMultiplierSmallerThanOneExp),
added or subtracted, rescaled to the output, offset and clamped.
MUL: (x1 + off1) * (x2 + off2) rescaled once.
"""
from __future__ import annotations

import numpy as np

from tinygen.quant.fixedpoint import (
    multiply_by_quantized_multiplier,
    multiply_by_quantized_multiplier_smaller_than_one_exp,
)
from tinygen.quant.params import AddSubParams, MulParams


def _align(a: np.ndarray, shape: tuple, out_rank: int) -> np.ndarray:
    """[N, *shape] -> [N, 1.., *shape] so numpy broadcasting matches TFLite's (right-aligned)."""
    pad = out_rank - len(shape)
    return a.reshape((a.shape[0],) + (1,) * pad + tuple(shape))


def _scale_input(v: np.ndarray, offset: int, left_shift: int, mult: int, shift: int) -> np.ndarray:
    shifted = (v.astype(np.int64) + offset) << left_shift
    return multiply_by_quantized_multiplier_smaller_than_one_exp(shifted, mult, shift)


def add_sub(p: AddSubParams, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    rank = len(p.output_shape)
    a = _align(a, p.input1_shape, rank)
    b = _align(b, p.input2_shape, rank)
    # Each input is rescaled once (on its own, smaller shape) and then broadcast.
    sa = _scale_input(a, p.input1_offset, p.left_shift, p.input1_multiplier, p.input1_shift)
    sb = _scale_input(b, p.input2_offset, p.left_shift, p.input2_multiplier, p.input2_shift)
    raw = sa + sb if p.op_type == "ADD" else sa - sb
    out = multiply_by_quantized_multiplier_smaller_than_one_exp(raw, p.output_multiplier, p.output_shift)
    out += p.output_offset
    np.clip(out, p.activation_min, p.activation_max, out=out)
    return out.astype(np.int8).reshape((-1,) + tuple(p.output_shape))


def mul(p: MulParams, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    rank = len(p.output_shape)
    a = _align(a, p.input1_shape, rank).astype(np.int64) + p.input1_offset
    b = _align(b, p.input2_shape, rank).astype(np.int64) + p.input2_offset
    out = multiply_by_quantized_multiplier(a * b, p.output_multiplier, p.output_shift)
    out += p.output_offset
    np.clip(out, p.activation_min, p.activation_max, out=out)
    return out.astype(np.int8).reshape((-1,) + tuple(p.output_shape))
