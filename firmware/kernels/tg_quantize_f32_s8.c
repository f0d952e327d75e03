/*
 * tg_quantize_f32_s8.c - QUANTIZE float32 -> int8:
 * q = clamp(round(x / scale) + zero_point), the division in float32 and the
 * rounding half away from zero (as roundf), without libm.
 */
#include "tg_kernels.h"

static int32_t round_half_away(float v)
{
    /* Floats at or beyond 2^23 in magnitude are integers already; beyond the
     * int8 range any value saturates, so clamp far outside it first. */
    if (v > 1.0e6f) {
        return 1000000;
    }
    if (v < -1.0e6f) {
        return -1000000;
    }
    int32_t i = (int32_t)v; /* truncates toward zero */
    const float frac = v - (float)i; /* exact for |v| < 2^23 */
    if (frac >= 0.5f) {
        ++i;
    } else if (frac <= -0.5f) {
        --i;
    }
    return i;
}

void tg_quantize_f32_s8(int32_t size, const float *input, float scale, int32_t zero_point, int8_t *output)
{
    for (int32_t k = 0; k < size; ++k) {
        const int32_t q = round_half_away(input[k] / scale) + zero_point;
        output[k] = (int8_t)tg_clamp(q, -128, 127);
    }
}
