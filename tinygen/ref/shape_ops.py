"""Data-movement ops: RESHAPE/SQUEEZE/EXPAND_DIMS, PAD, CONCATENATION, STRIDED_SLICE, and MEAN.

They only copy (MEAN sums then rescales like TFLM's QuantizedMeanOrSum:
(sum - zp*n) through a multiplier with 1/n folded in).
"""
from __future__ import annotations

import numpy as np

from tinygen.quant.fixedpoint import multiply_by_quantized_multiplier
from tinygen.quant.params import ConcatParams, MeanParams, PadParams, ReshapeParams, StridedSliceParams


def reshape(p: ReshapeParams, x: np.ndarray) -> np.ndarray:
    return x.reshape((x.shape[0],) + tuple(p.output_shape))


def pad(p: PadParams, x: np.ndarray) -> np.ndarray:
    widths = [(0, 0)] + list(zip(p.pad_before, p.pad_after))
    return np.pad(x, widths, constant_values=p.pad_value)


def concatenation(p: ConcatParams, *xs: np.ndarray) -> np.ndarray:
    return np.concatenate(xs, axis=p.axis + 1)


def strided_slice(p: StridedSliceParams, x: np.ndarray) -> np.ndarray:
    index = [slice(None)]
    for b, e, s in zip(p.begin, p.end, p.strides):
        index.append(slice(b, None if e < 0 else e, s))
    y = x[tuple(index)]
    return np.ascontiguousarray(y).reshape((x.shape[0],) + tuple(p.output_shape))


def mean(p: MeanParams, x: np.ndarray) -> np.ndarray:
    axes = tuple(a + 1 for a in p.axes)
    s = x.astype(np.int64).sum(axis=axes)
    shifted = s - p.input_zero_point * p.num_elements_in_axes
    out = multiply_by_quantized_multiplier(shifted, p.mean_multiplier, p.mean_shift) + p.output_zero_point
    out = np.clip(out, -128, 127).astype(np.int8)
    return out.reshape((x.shape[0],) + tuple(p.output_shape))
