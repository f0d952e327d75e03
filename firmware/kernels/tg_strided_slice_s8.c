/*
 * tg_strided_slice_s8.c - STRIDED_SLICE of a 4-D int8 tensor: output element
 * (n, h, w, c) is input (begin + stride * index) in every dimension.
 */
#include "tg_kernels.h"

#include <stddef.h>

void tg_strided_slice_s8(const tg_dims *input_dims, const int8_t *input,
                         const tg_dims *begin, const tg_dims *strides,
                         const tg_dims *output_dims, int8_t *output)
{
    for (int32_t n = 0; n < output_dims->n; ++n) {
        const int32_t i_n = begin->n + n * strides->n;
        for (int32_t h = 0; h < output_dims->h; ++h) {
            const int32_t i_h = begin->h + h * strides->h;
            for (int32_t w = 0; w < output_dims->w; ++w) {
                const int32_t i_w = begin->w + w * strides->w;
                const int8_t *row = input + (((size_t)i_n * input_dims->h + i_h) * input_dims->w + i_w) * input_dims->c;
                for (int32_t c = 0; c < output_dims->c; ++c) {
                    *output++ = row[begin->c + c * strides->c];
                }
            }
        }
    }
}
