"""Int8 activation functions, bit-exact with TFLM's reference kernels.

- softmax: per row of the last axis; differences to the row max are scaled by
  beta*input_scale into Q5.26 (only those >= diff_min count), exp'd with
  gemmlowp's fixed-point exp, summed in Q12.19, inverted with GetReciprocal,
  output 1/256 with zero point -128.
- logistic / tanh: input rescaled into Q4.27 (saturating outside the radius),
  gemmlowp fixed-point logistic / tanh, then rounded to Q0.8 / Q0.7.
- relu / relu_n1_to_1: requantize to the output then clamp; relu6: clamp only.
- leaky_relu: identity or alpha multiplier depending on the sign.
- hard_swish: TFLM's int16 fixed-point pipeline.
"""
from __future__ import annotations

import numpy as np

from tinygen.quant.fixedpoint import (
    exp_on_negative_values,
    get_reciprocal,
    logistic_q,
    multiply_by_quantized_multiplier,
    multiply_by_quantized_multiplier_greater_than_one,
    rounding_divide_by_pot,
    saturating_rounding_doubling_high_mul,
    tanh_q,
)
from tinygen.quant.params import (
    HardSwishParams,
    LeakyReluParams,
    LogisticTanhParams,
    ReluParams,
    SoftmaxParams,
)

_SCALED_DIFF_INTEGER_BITS = 5
_ACCUM_INTEGER_BITS = 12


def softmax(p: SoftmaxParams, x: np.ndarray) -> np.ndarray:
    shape = x.shape
    depth = shape[-1]
    rows = x.reshape(-1, depth).astype(np.int64)
    diff = rows - rows.max(axis=1, keepdims=True)
    keep = diff >= p.diff_min
    rescaled = multiply_by_quantized_multiplier_greater_than_one(
        diff, p.input_beta_multiplier, p.input_beta_left_shift)
    exps = exp_on_negative_values(rescaled, _SCALED_DIFF_INTEGER_BITS)  # Q0.31
    exps = np.where(keep, exps, 0)
    # Rescale<12>(Q0.31) = rounding divide by 2^12; summed with int32 wrap-around (never wraps here)
    terms = rounding_divide_by_pot(exps, _ACCUM_INTEGER_BITS)
    sum_of_exps = terms.sum(axis=1)
    sum_of_exps = ((sum_of_exps + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)
    shifted_scale, num_bits_over_unit = get_reciprocal(sum_of_exps, _ACCUM_INTEGER_BITS)
    exponent = num_bits_over_unit + 31 - 8
    prod = saturating_rounding_doubling_high_mul(shifted_scale[:, None], exps)
    out = rounding_divide_by_pot(prod, exponent[:, None]) - 128
    out = np.clip(out, -128, 127)
    out = np.where(keep, out, -128)
    return out.astype(np.int8).reshape(shape)


def _logistic_tanh_common(p: LogisticTanhParams, x: np.ndarray):
    v = x.astype(np.int64) - p.input_zero_point
    low = v <= -p.input_range_radius
    high = v >= p.input_range_radius
    inner = np.where(low | high, 0, v)
    q4 = multiply_by_quantized_multiplier(inner, p.input_multiplier, p.input_left_shift)
    return low, high, q4


def logistic(p: LogisticTanhParams, x: np.ndarray) -> np.ndarray:
    low, high, q4 = _logistic_tanh_common(p, x)
    q0 = logistic_q(q4, 4)
    out = np.clip(rounding_divide_by_pot(q0, 31 - 8) - 128, -128, 127)
    out = np.where(low, -128, np.where(high, 127, out))
    return out.astype(np.int8)


def tanh(p: LogisticTanhParams, x: np.ndarray) -> np.ndarray:
    low, high, q4 = _logistic_tanh_common(p, x)
    q0 = tanh_q(q4, 4)
    out = np.clip(rounding_divide_by_pot(q0, 31 - 7), -128, 127)
    out = np.where(low, -128, np.where(high, 127, out))
    return out.astype(np.int8)


def relu(p: ReluParams, x: np.ndarray) -> np.ndarray:
    if not p.requantize:
        return np.clip(x, p.activation_min, p.activation_max).astype(x.dtype)
    v = x.astype(np.int64) - p.input_offset
    out = multiply_by_quantized_multiplier(v, p.output_multiplier, p.output_shift) + p.output_offset
    return np.clip(out, p.activation_min, p.activation_max).astype(np.int8)


def leaky_relu(p: LeakyReluParams, x: np.ndarray) -> np.ndarray:
    v = x.astype(np.int64) - p.input_zero_point
    pos = multiply_by_quantized_multiplier(v, p.output_multiplier_identity, p.output_shift_identity)
    m = p.output_multiplier_alpha
    neg = multiply_by_quantized_multiplier(v, abs(m), p.output_shift_alpha)
    if m < 0:
        neg = -neg
    out = np.where(v >= 0, pos, neg) + p.output_zero_point
    return np.clip(out, -128, 127).astype(np.int8)


def _wrap16(v: np.ndarray) -> np.ndarray:
    return ((v + (1 << 15)) & 0xFFFF) - (1 << 15)


def _srdhm16(a, b) -> np.ndarray:
    """gemmlowp SaturatingRoundingDoublingHighMul on int16."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    ab = a * b
    nudge = np.where(ab >= 0, 1 << 14, 1 - (1 << 14))
    s = ab + nudge
    q = np.where(s >= 0, s >> 15, -((-s) >> 15))
    return np.where((a == -32768) & (b == -32768), 32767, q)


def _sdhm16(a, b) -> np.ndarray:
    """TFLM SaturatingDoublingHighMul on int16 (no rounding: truncating division)."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    ab = a * b
    q = np.where(ab >= 0, ab >> 15, -((-ab) >> 15))
    return np.where((a == -32768) & (b == -32768), 32767, q)


def _sat_left_shift16(v, amount: int) -> np.ndarray:
    return np.clip(np.asarray(v, dtype=np.int64) * (1 << amount), -32768, 32767)


def hard_swish(p: HardSwishParams, x: np.ndarray) -> np.ndarray:
    v = _wrap16(x.astype(np.int64) - p.input_zero_point)
    hires = _wrap16(v * 128)
    preshift_out = _srdhm16(hires, p.output_multiplier_fixedpoint_int16)
    r = hires
    e = p.reluish_multiplier_exponent
    if e > 0:
        r = _sat_left_shift16(r, e - 1)
    r = _srdhm16(r, p.reluish_multiplier_fixedpoint_int16)
    if e > 0:
        r = _sat_left_shift16(r, 1)
    if e < 0:
        r = rounding_divide_by_pot(r, -e)
    r = _wrap16((r + (1 << 15)) >> 1)
    pre = _sdhm16(r, preshift_out)
    out = rounding_divide_by_pot(pre, -p.output_multiplier_exponent)
    out = _wrap16(out + p.output_zero_point)
    return np.clip(out, -128, 127).astype(np.int8)


__all__ = ["softmax", "logistic", "tanh", "relu", "leaky_relu", "hard_swish"]
