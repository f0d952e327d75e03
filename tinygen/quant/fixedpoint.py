"""Integer fixed-point arithmetic with the exact rounding of TFLM's reference kernels.

Everything here is written from the documented behaviour of the TFLM / gemmlowp
primitives (facts, not code): a requantization multiplier is a Q0.31 int32
`multiplier` with a power-of-two exponent `shift` (positive = left shift), and
applying it to an int32 accumulator is the *double rounding* sequence

    x' = x << max(shift, 0)
    y  = SaturatingRoundingDoublingHighMul(x', multiplier)   # round half away from 0
    r  = RoundingDivideByPOT(y, max(-shift, 0))              # round half away from 0

(TFLM's default build, TFLITE_SINGLE_ROUNDING unset). Known value: accumulator
7984, multiplier 1583594044, shift -9 gives 12.

All array functions are vectorised over numpy int64 arrays (broadcasting like
numpy: a per-channel multiplier array broadcasts against the channel axis).
Scalar helpers that derive multipliers from real scales take Python floats that
already are the double the C code would compute.

Functions
- quantize_multiplier(real)              -> (multiplier, shift)   TFLM QuantizeMultiplier
- quantize_multiplier_smaller_than_one   -> same, asserts shift <= 0
- quantize_multiplier_greater_than_one   -> same, asserts shift >= 0
- tflite_round_f32 / tflite_round        round half away from zero (roundf / round)
- saturating_rounding_doubling_high_mul(a, b)
- rounding_divide_by_pot(x, exponent)
- multiply_by_quantized_multiplier(x, multiplier, shift)
- multiply_by_quantized_multiplier_smaller_than_one_exp(x, multiplier, shift)
- multiply_by_quantized_multiplier_greater_than_one(x, multiplier, left_shift)
- saturating_left_shift / saturating_rounding_multiply_by_pot
- gemmlowp-style Q-format transcendental helpers on int32 raw values:
  exp_on_interval_between_negative_one_quarter_and_0_excl,
  exp_on_negative_values, one_over_one_plus_x_for_x_in_0_1,
  logistic_q(raw, integer_bits), tanh_q(raw, integer_bits), get_reciprocal
"""
from __future__ import annotations

import math

import numpy as np

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1


# --------------------------------------------------------------------------
# Deriving a multiplier from a real scale (the "Prepare" side)
# --------------------------------------------------------------------------

def tflite_round(x: float) -> float:
    """std::round on a double: half away from zero."""
    return float(math.copysign(math.floor(abs(x) + 0.5), x)) if abs(x) < 2.0 ** 52 else float(x)


def tflite_round_f32(x) -> np.float32:
    """roundf on a float32: half away from zero, result float32."""
    x = np.float32(x)
    ax = np.abs(x)
    if ax >= np.float32(2.0 ** 23):
        return x
    # floor(|x| + 0.5) in float32 can round up wrongly for 0.49999997; do it exactly in float64
    r = math.floor(float(ax)) + (1.0 if float(ax) - math.floor(float(ax)) >= 0.5 else 0.0)
    return np.float32(math.copysign(r, float(x)))


def quantize_multiplier(real_multiplier: float) -> tuple[int, int]:
    """TFLM QuantizeMultiplier: real ~= multiplier * 2^(shift - 31), multiplier in [2^30, 2^31).

    Rules: 0 -> (0, 0); frexp mantissa times 2^31 rounded half away from zero;
    a mantissa that rounds to 2^31 becomes 2^30 with shift + 1; shift < -31
    flushes to (0, 0).
    """
    real_multiplier = float(real_multiplier)
    if real_multiplier == 0.0:
        return 0, 0
    if not math.isfinite(real_multiplier):
        raise ValueError(f"cannot quantize multiplier {real_multiplier}")
    q, shift = math.frexp(real_multiplier)
    q_fixed = int(tflite_round(q * float(1 << 31)))
    if q_fixed > (1 << 31):
        raise ValueError(f"multiplier {real_multiplier} out of range")
    if q_fixed == (1 << 31):
        q_fixed //= 2
        shift += 1
    if shift < -31:
        shift = 0
        q_fixed = 0
    return int(q_fixed), int(shift)


def quantize_multiplier_smaller_than_one(real_multiplier: float) -> tuple[int, int]:
    """QuantizeMultiplierSmallerThanOneExp: 0 < real < 1, shift <= 0."""
    if not 0.0 < real_multiplier < 1.0:
        raise ValueError(f"multiplier {real_multiplier} must be in (0, 1)")
    m, s = quantize_multiplier(real_multiplier)
    if s > 0:
        raise ValueError(f"multiplier {real_multiplier} gives a left shift")
    return m, s


def quantize_multiplier_greater_than_one(real_multiplier: float) -> tuple[int, int]:
    """QuantizeMultiplierGreaterThanOne: real > 1, shift >= 0."""
    if not real_multiplier > 1.0:
        raise ValueError(f"multiplier {real_multiplier} must be > 1")
    m, s = quantize_multiplier(real_multiplier)
    if s < 0:
        raise ValueError(f"multiplier {real_multiplier} gives a right shift")
    return m, s


def quantize_multipliers(real_multipliers) -> tuple[np.ndarray, np.ndarray]:
    """quantize_multiplier over a sequence: (int32 multipliers, int32 shifts)."""
    pairs = [quantize_multiplier(float(r)) for r in np.asarray(real_multipliers, dtype=np.float64).ravel()]
    mult = np.array([p[0] for p in pairs], dtype=np.int32)
    shift = np.array([p[1] for p in pairs], dtype=np.int32)
    return mult, shift


# --------------------------------------------------------------------------
# Applying a multiplier (the "Eval" side), vectorised on int64
# --------------------------------------------------------------------------

def _i64(x) -> np.ndarray:
    return np.asarray(x, dtype=np.int64)


def saturating_rounding_doubling_high_mul(a, b) -> np.ndarray:
    """gemmlowp SaturatingRoundingDoublingHighMul on int32 values held in int64.

    Defined as (a*b + nudge) / 2^31 with C++ truncating division, nudge = 2^30 if
    a*b >= 0 else 1 - 2^30, and INT32_MIN * INT32_MIN saturating to INT32_MAX.
    For either sign that equals floor((a*b + 2^30) / 2^31), i.e. an arithmetic
    shift, which is what is computed (a*b of two int32 fits int64 exactly).
    """
    a = _i64(a)
    b = _i64(b)
    q = a * b
    q += 1 << 30
    q >>= 31
    overflow = (a == INT32_MIN) & (b == INT32_MIN)
    if np.any(overflow):
        q = np.where(overflow, np.int64(INT32_MAX), q)
    return q


def rounding_divide_by_pot(x, exponent) -> np.ndarray:
    """gemmlowp RoundingDivideByPOT: x / 2^exponent rounded half away from zero (0 <= exponent <= 31).

    Computed as (x + 2^(e-1) - [x < 0]) >> e for e >= 1 (x itself for e == 0),
    which is the same as gemmlowp's remainder/threshold formulation.
    """
    x = _i64(x)
    e = _i64(exponent)
    if e.ndim == 0:
        ei = int(e)
        if ei == 0:
            return x.copy()
        return (x + ((1 << (ei - 1)) + (x >> 63))) >> ei
    half = (np.int64(1) << e) >> 1
    neg = (x >> 63) & -(e > 0).astype(np.int64)
    return (x + half + neg) >> e


def _wrap_int32(x: np.ndarray) -> np.ndarray:
    """Two's-complement wrap of int64 to the int32 range (what C's int32 shift does)."""
    return ((x + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def multiply_by_quantized_multiplier(x, multiplier, shift) -> np.ndarray:
    """TFLM MultiplyByQuantizedMultiplier (int32 x, double rounding).

    left = max(shift, 0), right = max(-shift, 0);
    result = RoundingDivideByPOT(SRDHM(x * 2^left, multiplier), right).
    `x * 2^left` wraps like the C int32 multiplication would (never happens for
    sane models, kept for bit-exactness).
    """
    x = _i64(x)
    shift = _i64(shift)
    if np.any(shift > 0):
        x = _wrap_int32(x << np.maximum(shift, 0))
    right = np.maximum(-shift, 0)
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(x, multiplier), right)


def multiply_by_quantized_multiplier_smaller_than_one_exp(x, multiplier, shift) -> np.ndarray:
    """MultiplyByQuantizedMultiplierSmallerThanOneExp: shift <= 0; RDBP(SRDHM(x, m), -shift)."""
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(x, multiplier), -_i64(shift))


def multiply_by_quantized_multiplier_greater_than_one(x, multiplier, left_shift) -> np.ndarray:
    """MultiplyByQuantizedMultiplierGreaterThanOne: SRDHM(x * 2^left_shift, m)."""
    return saturating_rounding_doubling_high_mul(_wrap_int32(_i64(x) << _i64(left_shift)), multiplier)


def saturating_left_shift(x, exponent: int) -> np.ndarray:
    """x * 2^exponent saturated to int32 (gemmlowp ShiftLeft on int32 with saturation)."""
    x = _i64(x)
    return np.clip(x << int(exponent), INT32_MIN, INT32_MAX)


def saturating_rounding_multiply_by_pot(x, exponent: int) -> np.ndarray:
    """gemmlowp SaturatingRoundingMultiplyByPOT<exponent>: left shift saturating, or rounding right shift."""
    if exponent > 0:
        return saturating_left_shift(x, exponent)
    if exponent < 0:
        return rounding_divide_by_pot(x, -exponent)
    return _i64(x)


# --------------------------------------------------------------------------
# gemmlowp fixed-point transcendental functions on raw int32 (held in int64)
#
# A FixedPoint<int32, I> value has I integer bits: real = raw / 2^(31 - I).
# --------------------------------------------------------------------------

def _wrap_add(a, b) -> np.ndarray:
    """int32 wrapping add (gemmlowp's operator+ on raw int32)."""
    return _wrap_int32(_i64(a) + _i64(b))


def _wrap_sub(a, b) -> np.ndarray:
    return _wrap_int32(_i64(a) - _i64(b))


def _mul_fp(a, b) -> np.ndarray:
    """FixedPoint product: SRDHM of the raws (result has Ia + Ib integer bits)."""
    return saturating_rounding_doubling_high_mul(a, b)


def _fp_const(real: float, integer_bits: int) -> int:
    """Raw int32 of a constant in Q(integer_bits) (gemmlowp's constants are exact raws)."""
    return int(round(real * (1 << (31 - integer_bits))))


def _rescale(raw, src_integer_bits: int, dst_integer_bits: int) -> np.ndarray:
    """gemmlowp Rescale<dst>(x): SaturatingRoundingMultiplyByPOT<src - dst>."""
    return saturating_rounding_multiply_by_pot(raw, src_integer_bits - dst_integer_bits)


def exp_on_interval_between_negative_one_quarter_and_0_excl(a) -> np.ndarray:
    """exp(x) for x in [-1/4, 0), input and output Q0.31 raws.

    Taylor series around -1/8: exp(-1/8) * (1 + y + y^2/2 + y^3/6 + y^4/24), y = x + 1/8.
    """
    a = _i64(a)
    constant_term = 1895147668          # exp(-1/8) in Q0.31
    constant_1_over_3 = 715827883       # 1/3 in Q0.31
    x = _wrap_add(a, 1 << 28)           # + 1/8
    x2 = _mul_fp(x, x)
    x3 = _mul_fp(x2, x)
    x4 = _mul_fp(x2, x2)
    x4_over_4 = rounding_divide_by_pot(x4, 2)
    x4_over_24_plus_x3_over_6_plus_x2_over_2 = rounding_divide_by_pot(
        _wrap_add(_mul_fp(_wrap_add(x4_over_4, x3), constant_1_over_3), x2), 1)
    return _wrap_add(constant_term, _mul_fp(constant_term, _wrap_add(x, x4_over_24_plus_x3_over_6_plus_x2_over_2)))


def exp_on_negative_values(a, integer_bits: int) -> np.ndarray:
    """gemmlowp exp_on_negative_values: a is Q(integer_bits) raw, <= 0; result Q0.31 raw."""
    a = _i64(a)
    k_fractional_bits = 31 - integer_bits
    one_quarter = np.int64(1 << (k_fractional_bits - 2))
    mask = one_quarter - 1
    a_mod_quarter_minus_one_quarter = _wrap_sub(a & mask, one_quarter)
    result = exp_on_interval_between_negative_one_quarter_and_0_excl(
        _rescale(a_mod_quarter_minus_one_quarter, integer_bits, 0))
    remainder = _wrap_sub(a_mod_quarter_minus_one_quarter, a)

    # exp(-2^k) multipliers for k = -2 .. integer_bits-1 (gemmlowp's exact raws)
    barrel = {
        -2: 1672461947,   # exp(-1/4)
        -1: 1302514674,   # exp(-1/2)
        0: 790015084,     # exp(-1)
        1: 290630308,     # exp(-2)
        2: 39332535,      # exp(-4)
        3: 720401,        # exp(-8)
        4: 242,           # exp(-16)
    }
    for exponent in range(-2, 5):
        if integer_bits > exponent:
            shift_amount = k_fractional_bits + exponent
            if 0 <= shift_amount <= 62:
                bit = (remainder >> shift_amount) & 1 if shift_amount < 63 else 0
                result = np.where(bit != 0, _mul_fp(result, barrel[exponent]), result)
    if integer_bits > 5:
        clamp = -(1 << (k_fractional_bits + 5))
        result = np.where(a < clamp, 0, result)
    return np.where(a == 0, np.int64(INT32_MAX), result)


def one_over_one_plus_x_for_x_in_0_1(a) -> np.ndarray:
    """gemmlowp one_over_one_plus_x_for_x_in_0_1: a Q0.31 raw in [0, 1); result Q0.31 raw.

    Newton-Raphson division, 3 iterations, on half_denominator = (1 + a) / 2.
    """
    a = _i64(a)
    # half_denominator = RoundingHalfSum(a, 1.0): (a + INT32_MAX + 1) / 2 with rounding away from zero
    s = a + np.int64(INT32_MAX)
    half_denominator = np.where(s >= 0, (s + 1) >> 1, -((-s + 1) >> 1))
    constant_48_over_17 = 1515870810      # Q2.29
    constant_neg_32_over_17 = -1010580540  # Q2.29
    x = _wrap_add(constant_48_over_17, _mul_fp(half_denominator, constant_neg_32_over_17))  # Q2.29
    for _ in range(3):
        half_denominator_times_x = _mul_fp(half_denominator, x)  # Q2.29
        one_minus = _wrap_sub(1 << 29, half_denominator_times_x)  # Q2.29
        x = _wrap_add(x, _rescale(_mul_fp(x, one_minus), 4, 2))
    # x/2 exactly (same raw read as Q1), then rescaled from Q1 to Q0: saturating << 1
    return saturating_left_shift(x, 1)


def get_reciprocal(x, x_integer_digits: int) -> tuple[np.ndarray, np.ndarray]:
    """TFLM GetReciprocal: 1/x for a positive Q(x_integer_digits) raw x.

    Returns (reciprocal Q0.31 raw, num_bits_over_unit) so that
    1/x = reciprocal * 2^(num_bits_over_unit) / 2^31 ... (see softmax usage).
    """
    x = _i64(x)
    headroom_plus_one = _count_leading_zeros_u32(x)
    num_bits_over_unit = x_integer_digits - headroom_plus_one
    shifted_sum_minus_one = _wrap_int32((x << headroom_plus_one) - (np.int64(1) << 31))
    shifted_scale = one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one)
    return shifted_scale, num_bits_over_unit


def _count_leading_zeros_u32(x) -> np.ndarray:
    """Number of leading zero bits of x as an unsigned 32-bit value (x > 0)."""
    x = _i64(x) & 0xFFFFFFFF
    bits = np.zeros(x.shape, dtype=np.int64)
    nz = x > 0
    # floor(log2(x)) exactly via frexp on float64 (x < 2^32 is exact)
    m, e = np.frexp(np.where(nz, x, 1).astype(np.float64))
    bits = np.where(nz, 32 - e.astype(np.int64), 32)
    return bits


def logistic_q(raw, integer_bits: int) -> np.ndarray:
    """gemmlowp logistic on FixedPoint<int32, integer_bits>; result Q0.31 raw."""
    a = _i64(raw)
    abs_in = np.where(a > 0, a, _wrap_int32(-a))
    result_if_positive = one_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(_wrap_int32(-abs_in), integer_bits))
    result_if_negative = _wrap_sub(INT32_MAX, result_if_positive)
    # gemmlowp: one_half for a == 0
    one_half = np.int64(1 << 30)
    return np.where(a == 0, one_half, np.where(a > 0, result_if_positive, result_if_negative))


def tanh_q(raw, integer_bits: int) -> np.ndarray:
    """gemmlowp tanh on FixedPoint<int32, integer_bits>; result Q0.31 raw."""
    a = _i64(raw)
    n = np.where(a < 0, a, _wrap_int32(-a))  # n = -|a|
    # exp(2n): the same raw read with one more integer bit (exact multiply by 2)
    t = exp_on_negative_values(n, integer_bits + 1)
    result = _one_minus_x_over_one_plus_x_for_x_in_0_1(t)
    result = np.where(a < 0, _wrap_int32(-result), result)
    return np.where(a == 0, 0, result)


def _one_minus_x_over_one_plus_x_for_x_in_0_1(a) -> np.ndarray:
    """gemmlowp one_minus_x_over_one_plus_x_for_x_in_0_1 (Q0.31 in and out)."""
    a = _i64(a)
    s = a + np.int64(INT32_MAX)
    half_denominator = np.where(s >= 0, (s + 1) >> 1, -((-s + 1) >> 1))
    constant_48_over_17 = 1515870810
    constant_neg_32_over_17 = -1010580540
    x = _wrap_add(constant_48_over_17, _mul_fp(half_denominator, constant_neg_32_over_17))
    for _ in range(3):
        half_denominator_times_x = _mul_fp(half_denominator, x)
        one_minus = _wrap_sub(1 << 29, half_denominator_times_x)
        x = _wrap_add(x, _rescale(_mul_fp(x, one_minus), 4, 2))
    # gemmlowp: return Rescale<0>(x - F2::One())  (x - 1 in Q2.29, then to Q0.31)
    return _rescale(_wrap_sub(x, 1 << 29), 2, 0)
