/*
 * tg_lut_s8.c - any int8 -> int8 elementwise function as a 256-entry table.
 *
 * tinygen evaluates the op's exact integer arithmetic for all 256 inputs on
 * the host and emits the table, so LOGISTIC, TANH, RELU, RELU6, RELU_N1_TO_1,
 * LEAKY_RELU, HARD_SWISH and int8 -> int8 QUANTIZE cost one load per value.
 */
#include "tg_kernels.h"

#include <stddef.h>

void tg_lut_s8(const int8_t table[256], int32_t size, const int8_t *input, int8_t *output)
{
    for (int32_t i = 0; i < size; ++i) {
        output[i] = table[(int32_t)input[i] + 128];
    }
}
