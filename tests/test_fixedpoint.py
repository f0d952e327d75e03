"""tinygen.quant.fixedpoint against known values and an independent
pure-Python-int model of the same integer rules (written from the rules'
definitions: exact rationals, explicit rounding), on random inputs."""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygen.quant import fixedpoint as fp

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
int32s = st.integers(INT32_MIN, INT32_MAX)


# ---------------------------------------------------------------- the model
def round_half_away(q: Fraction) -> int:
    """Nearest integer to an exact rational, ties away from zero."""
    n = math.floor(abs(q) + Fraction(1, 2))
    return n if q >= 0 else -n


def py_srdhm(a: int, b: int) -> int:
    """a*b/2^31 to the nearest integer, ties toward +infinity (gemmlowp's nudge of
    +2^30 / 1-2^30 then truncation), saturating the one overflow INT32_MIN^2."""
    if a == b == INT32_MIN:
        return INT32_MAX
    return math.floor(Fraction(a * b, 1 << 31) + Fraction(1, 2))


def py_rdbp(x: int, e: int) -> int:
    return round_half_away(Fraction(x, 1 << e))


def py_mbqm(x: int, m: int, shift: int) -> int:
    left, right = max(shift, 0), max(-shift, 0)
    xs = x * (1 << left)
    xs = (xs + (1 << 31)) % (1 << 32) - (1 << 31)
    return py_rdbp(py_srdhm(xs, m), right)


# ---------------------------------------------------------------- tests
def test_known_double_rounding_value():
    assert int(fp.multiply_by_quantized_multiplier(7984, 1583594044, -9)) == 12
    assert py_mbqm(7984, 1583594044, -9) == 12


def test_quantize_multiplier_edges():
    assert fp.quantize_multiplier(0.0) == (0, 0)
    assert fp.quantize_multiplier(0.5) == (1 << 30, 0)
    assert fp.quantize_multiplier(1.0) == (1 << 30, 1)
    assert fp.quantize_multiplier(2.0 ** -20) == (1 << 30, -19)
    # mantissa rounding up to 2^31 becomes 2^30 with shift + 1
    assert fp.quantize_multiplier(1.0 - 2.0 ** -40) == (1 << 30, 1)
    # below 2^-32 the shift would be < -31: flushed to zero
    assert fp.quantize_multiplier(2.0 ** -33) == (0, 0)
    assert fp.quantize_multiplier(2.0 ** -32) == (1 << 30, -31)


@given(st.floats(min_value=1e-12, max_value=1e6, allow_nan=False, allow_infinity=False))
@settings(max_examples=300, deadline=None)
def test_quantize_multiplier_is_nearest(real):
    m, s = fp.quantize_multiplier(real)
    if m == 0:
        assert real < 2.0 ** -31
        return
    assert (1 << 30) <= m < (1 << 31)
    exact = Fraction(real) * (1 << (31 - s))
    assert abs(exact - m) <= Fraction(1, 2)


@given(int32s, int32s)
@settings(max_examples=500, deadline=None)
def test_srdhm_matches_model(a, b):
    assert int(fp.saturating_rounding_doubling_high_mul(a, b)) == py_srdhm(a, b)


@given(int32s, st.integers(0, 31))
@settings(max_examples=500, deadline=None)
def test_rdbp_matches_model(x, e):
    assert int(fp.rounding_divide_by_pot(x, e)) == py_rdbp(x, e)


@given(st.integers(-(1 << 24), 1 << 24), st.integers(1 << 30, INT32_MAX), st.integers(-31, 6))
@settings(max_examples=500, deadline=None)
def test_mbqm_matches_model(x, m, shift):
    assert int(fp.multiply_by_quantized_multiplier(x, m, shift)) == py_mbqm(x, m, shift)


def test_mbqm_vectorised_per_channel():
    rng = np.random.default_rng(1)
    x = rng.integers(-(1 << 20), 1 << 20, size=(50, 8))
    m = rng.integers(1 << 30, INT32_MAX, size=8)
    s = rng.integers(-12, 2, size=8)
    got = fp.multiply_by_quantized_multiplier(x, m, s)
    want = np.array([[py_mbqm(int(x[i, j]), int(m[j]), int(s[j])) for j in range(8)] for i in range(50)])
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("integer_bits", [4, 5])
def test_exp_on_negative_values_close_to_exp(integer_bits):
    raw = np.linspace(-(1 << 31) + 1, 0, 2001).astype(np.int64)
    real = raw / float(1 << (31 - integer_bits))
    got = fp.exp_on_negative_values(raw, integer_bits) / float(1 << 31)
    assert np.max(np.abs(got - np.exp(real))) < 2e-6


def test_logistic_and_tanh_close_to_float():
    raw = np.linspace(INT32_MIN + 1, INT32_MAX, 4001).astype(np.int64)
    real = raw / float(1 << 27)  # Q4.27
    lg = fp.logistic_q(raw, 4) / float(1 << 31)
    th = fp.tanh_q(raw, 4) / float(1 << 31)
    assert np.max(np.abs(lg - 1 / (1 + np.exp(-real)))) < 1e-5
    assert np.max(np.abs(th - np.tanh(real))) < 1e-5


def test_reciprocal_close_to_float():
    x = np.array([1 << 19, 3 << 19, 12345678, 1 << 30, 987654321], dtype=np.int64)  # Q12.19 sums
    scale, bits = fp.get_reciprocal(x, 12)
    approx = scale / float(1 << 31) * 2.0 ** (-bits)
    real = x / float(1 << 19)
    # 1/x = (shifted_scale in [0.5, 1]) * 2^-num_bits_over_unit
    np.testing.assert_allclose(approx, 1 / real, rtol=1e-6)
