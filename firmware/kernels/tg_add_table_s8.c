/*
 * tg_add_table_s8.c - ADD, int8, same shapes, per-input rescaling from tables
 * (see tg_add_table_s8.h). Element i of both inputs is read before element i of
 * the output is written, so the output may be either input (in place).
 */
#include "tg_add_table_s8.h"

#include "tg_kernels.h"

/* tg_requantize for a POSITIVE multiplier (ADD's output multiplier always is), in fewer
 * instructions. With m > 0 the saturating case of the doubling high multiply (both
 * operands INT32_MIN) cannot occur, and TFLM's "(ab + nudge) / 2^31, truncating" equals
 * "(ab + 2^30) >> 31" for either sign of ab (for ab < 0: nudge = 1 - 2^30, and truncating
 * division of a negative n by 2^31 is (n + 2^31 - 1) >> 31 = (ab + 2^30) >> 31). */
static inline int32_t requantize_positive(int32_t x, int32_t multiplier, int32_t shift)
{
    const int32_t left = shift > 0 ? shift : 0;
    const int32_t right = shift > 0 ? 0 : -shift;
    const int64_t ab = (int64_t)(int32_t)((uint32_t)x << left) * multiplier;
    const int32_t high = (int32_t)((ab + ((int64_t)1 << 30)) >> 31);
    return tg_rounding_divide_by_pot(high, right);
}

void tg_add_table_s8(const tg_add_table_params *params, size_t size, const int8_t *input1,
                     const int8_t *input2, int8_t *output)
{
    const int32_t *t1 = params->input1_table + 128;
    const int32_t *t2 = params->input2_table + 128;
    const int32_t multiplier = params->output_multiplier;
    const int32_t shift = params->output_shift;
    const int32_t offset = params->output_offset;
    const int32_t lo = params->activation_min;
    const int32_t hi = params->activation_max;
    for (size_t i = 0; i < size; ++i) {
        const int32_t sum = t1[input1[i]] + t2[input2[i]];
        const int32_t raw = requantize_positive(sum, multiplier, shift) + offset;
        output[i] = (int8_t)tg_clamp(raw, lo, hi);
    }
}
