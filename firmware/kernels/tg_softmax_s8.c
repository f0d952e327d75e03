/*
 * tg_softmax_s8.c - SOFTMAX, int8 in, int8 out (scale 1/256, zero point -128).
 *
 * Fixed-point arithmetic in gemmlowp's Q formats (Qm = m integer bits, 31-m
 * fractional bits, int32 raw values):
 *  1. d = x - max(row), kept when d >= diff_min; scaled to Q5 by
 *     input_beta_multiplier * 2^input_beta_left_shift (beta and the input scale);
 *  2. exp(d) in Q0 for d < 0: a Taylor polynomial around -1/8 on the last
 *     quarter, times exp(-2^k) for every set bit k of the rest;
 *  3. the sum of exps in Q12, its reciprocal by Newton-Raphson in Q2;
 *  4. out = exp * reciprocal, divided down to 8 bits, minus 128.
 * Every multiply is a saturating rounding doubling high multiply and every
 * division by a power of two rounds half away from zero, as in TFLM.
 */
#include "tg_kernels.h"

#include <stddef.h>

#define SCALED_DIFF_INTEGER_BITS 5
#define ACCUM_INTEGER_BITS 12

/* Q0 constants: exp(-1/8), 1/3, and exp(-2^k) for k = -2..4. */
#define Q0_EXP_MINUS_ONE_EIGHTH 1895147668
#define Q0_ONE_THIRD 715827883
static const int32_t q0_exp_minus_pow2[7] = {
    1672461947, /* exp(-1/4) */
    1302514674, /* exp(-1/2) */
    790015084,  /* exp(-1) */
    290630308,  /* exp(-2) */
    39332535,   /* exp(-4) */
    720401,     /* exp(-8) */
    242,        /* exp(-16) */
};

static int32_t mul_q(int32_t a, int32_t b)
{
    return tg_sat_round_doubling_high_mul(a, b);
}

/* x * 2^exponent, saturating (exponent > 0) or rounding (exponent < 0). */
static int32_t sat_round_mul_pot(int32_t x, int32_t exponent)
{
    if (exponent < 0) {
        return tg_rounding_divide_by_pot(x, -exponent);
    }
    const int32_t threshold = (int32_t)(((int64_t)1 << (31 - exponent)) - 1);
    if (x > threshold) {
        return INT32_MAX;
    }
    if (x < -threshold) {
        return INT32_MIN;
    }
    return (int32_t)((uint32_t)x << exponent);
}

/* exp(a) for a in [-1/4, 0), a and result in Q0. */
static int32_t exp_last_quarter(int32_t a)
{
    const int32_t x = a + (1 << 28); /* a + 1/8 */
    const int32_t x2 = mul_q(x, x);
    const int32_t x3 = mul_q(x2, x);
    const int32_t x4 = mul_q(x2, x2);
    const int32_t x4_over_4 = sat_round_mul_pot(x4, -2);
    const int32_t poly = sat_round_mul_pot(mul_q(x4_over_4 + x3, Q0_ONE_THIRD) + x2, -1);
    return Q0_EXP_MINUS_ONE_EIGHTH + mul_q(Q0_EXP_MINUS_ONE_EIGHTH, x + poly);
}

/* exp(a) for a <= 0 given in Q5; result in Q0. */
static int32_t exp_negative_q5(int32_t a)
{
    const int32_t fractional_bits = 31 - SCALED_DIFF_INTEGER_BITS;
    const int32_t one_quarter = 1 << (fractional_bits - 2);
    const int32_t a_mod_quarter_minus_quarter = (a & (one_quarter - 1)) - one_quarter;
    int32_t result = exp_last_quarter(sat_round_mul_pot(a_mod_quarter_minus_quarter, SCALED_DIFF_INTEGER_BITS));
    const int32_t remainder = a_mod_quarter_minus_quarter - a;
    for (int32_t k = -2; k <= 4; ++k) {
        if (remainder & (1 << (fractional_bits + k))) {
            result = mul_q(result, q0_exp_minus_pow2[k + 2]);
        }
    }
    return a == 0 ? INT32_MAX : result;
}

/* 1 / (1 + x) for x in [0, 1), Q0 in and out (Newton-Raphson in Q2). */
static int32_t one_over_one_plus_x(int32_t x)
{
    const int64_t sum = (int64_t)x + INT32_MAX;
    const int32_t half_denominator = (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
    const int32_t q2_48_over_17 = 1515870810;
    const int32_t q2_minus_32_over_17 = -1010580540;
    const int32_t q2_one = 1 << 29;
    int32_t r = q2_48_over_17 + mul_q(half_denominator, q2_minus_32_over_17);
    for (int i = 0; i < 3; ++i) {
        const int32_t one_minus_dr = q2_one - mul_q(half_denominator, r);
        r = r + sat_round_mul_pot(mul_q(r, one_minus_dr), 2);
    }
    return sat_round_mul_pot(r, 1);
}

static int32_t count_leading_zeros(uint32_t x)
{
    int32_t n = 0;
    if (x == 0u) {
        return 32;
    }
    while ((x & 0x80000000u) == 0u) {
        x <<= 1;
        ++n;
    }
    return n;
}

void tg_softmax_s8(const tg_softmax_params *params, int32_t rows, int32_t depth,
                   const int8_t *input, int8_t *output)
{
    for (int32_t r = 0; r < rows; ++r) {
        const int8_t *x = input + (size_t)r * depth;
        int8_t *y = output + (size_t)r * depth;
        int32_t max_in_row = -128;
        for (int32_t c = 0; c < depth; ++c) {
            if (x[c] > max_in_row) {
                max_in_row = x[c];
            }
        }
        int32_t sum_of_exps = 0; /* Q12 */
        for (int32_t c = 0; c < depth; ++c) {
            const int32_t diff = (int32_t)x[c] - max_in_row;
            if (diff >= params->diff_min) {
                const int32_t scaled = tg_sat_round_doubling_high_mul(
                    (int32_t)((uint32_t)diff << params->input_beta_left_shift), params->input_beta_multiplier);
                sum_of_exps += tg_rounding_divide_by_pot(exp_negative_q5(scaled), ACCUM_INTEGER_BITS);
            }
        }
        /* Reciprocal of the Q12 sum: 1 / (sum * 2^-headroom) = 1 / (1 + f). */
        const int32_t headroom_plus_one = count_leading_zeros((uint32_t)sum_of_exps);
        const int32_t bits_over_unit = ACCUM_INTEGER_BITS - headroom_plus_one;
        const int32_t shifted_sum_minus_one =
            (int32_t)(((uint32_t)sum_of_exps << headroom_plus_one) - ((uint32_t)1 << 31));
        const int32_t reciprocal = one_over_one_plus_x(shifted_sum_minus_one);
        const int32_t exponent = bits_over_unit + 31 - 8;
        for (int32_t c = 0; c < depth; ++c) {
            const int32_t diff = (int32_t)x[c] - max_in_row;
            int32_t out = -128;
            if (diff >= params->diff_min) {
                const int32_t scaled = tg_sat_round_doubling_high_mul(
                    (int32_t)((uint32_t)diff << params->input_beta_left_shift), params->input_beta_multiplier);
                const int32_t e = exp_negative_q5(scaled);
                out = tg_rounding_divide_by_pot(mul_q(reciprocal, e), exponent) - 128;
                out = tg_clamp(out, -128, 127);
            }
            y[c] = (int8_t)out;
        }
    }
}
