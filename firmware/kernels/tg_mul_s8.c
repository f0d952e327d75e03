/*
 * tg_mul_s8.c - MUL, int8, with broadcasting:
 * out = clamp(requant((a + input1_offset) * (b + input2_offset)) + output_offset).
 */
#include "tg_broadcast.h"
#include "tg_kernels.h"

static int8_t mul_one(const tg_mul_params *p, int8_t a, int8_t b)
{
    const int32_t prod = (p->input1_offset + a) * (p->input2_offset + b);
    const int32_t raw = tg_requantize(prod, p->output_multiplier, p->output_shift) + p->output_offset;
    return (int8_t)tg_clamp(raw, p->activation_min, p->activation_max);
}

void tg_mul_s8(const tg_mul_params *params,
               const tg_dims *input1_dims, const int8_t *input1,
               const tg_dims *input2_dims, const int8_t *input2,
               const tg_dims *output_dims, int8_t *output)
{
    TG_BINARY_ELEMENTWISE(mul_one, params, input1_dims, input1, input2_dims, input2, output_dims, output);
}
