/*
 * tg_dequantize_s8_f32.c - DEQUANTIZE int8 -> float32: x = scale * (q - zero_point).
 * The exact product of a float32 scale and a 9-bit integer fits a double, so
 * one float32 multiply (rounded once) equals TFLM's double product cast to float.
 */
#include "tg_kernels.h"

void tg_dequantize_s8_f32(int32_t size, const int8_t *input, float scale, int32_t zero_point, float *output)
{
    for (int32_t k = 0; k < size; ++k) {
        output[k] = scale * (float)((int32_t)input[k] - zero_point);
    }
}
