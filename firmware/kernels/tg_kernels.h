/*
 * tg_kernels.h - tinygen's portable int8 kernels (C99, no intrinsics).
 *
 * One function per op, one file per function (tg_<op>_s8.c). Every kernel
 * takes explicit dimension and parameter structs whose values tinygen
 * precomputes on the host (tinygen/quant/params.py): zero-point offsets,
 * Q0.31 requantization multipliers with power-of-two shifts (positive = left),
 * clamp ranges, paddings. Kernels allocate nothing and need no scratch memory.
 *
 * Arithmetic is bit-exact with TensorFlow Lite Micro's reference kernels:
 * requantization is the double-rounding sequence
 *   x << max(shift, 0) -> saturating rounding doubling high multiply ->
 *   rounding (half away from zero) divide by 2^max(-shift, 0).
 */
#ifndef TG_KERNELS_H
#define TG_KERNELS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- shapes and parameters ------------------------------------------- */

/* A 4-D shape in NHWC order (lower-rank tensors are padded with leading 1s). */
typedef struct {
    int32_t n, h, w, c;
} tg_dims;

/* Per-output-channel requantization: multiplier[c] (Q0.31) and shift[c]. */
typedef struct {
    const int32_t *multiplier;
    const int32_t *shift;
} tg_per_channel_quant;

/* CONV_2D and DEPTHWISE_CONV_2D. */
typedef struct {
    int32_t input_offset;     /* -input zero point */
    int32_t output_offset;    /* +output zero point */
    int32_t stride_h, stride_w;
    int32_t dilation_h, dilation_w;
    int32_t pad_top, pad_left; /* SAME padding puts an odd pixel at the bottom/right */
    int32_t depth_multiplier; /* depthwise only: output channels per input channel */
    int32_t activation_min, activation_max;
    /* Optional (NULL: none): bias[o] + input_offset * (sum of filter o), precomputed
     * so that windows lying wholly inside the input accumulate plain products. */
    const int32_t *folded_bias;
} tg_conv_params;

/* FULLY_CONNECTED. */
typedef struct {
    int32_t input_offset;   /* -input zero point */
    int32_t filter_offset;  /* -filter zero point (0 for symmetric weights) */
    int32_t output_offset;  /* +output zero point */
    int32_t per_channel;    /* 1: multiplier/shift per output unit, 0: one value */
    int32_t activation_min, activation_max;
    /* Optional (NULL: none; only with filter_offset 0): bias[o] + input_offset * (sum of row o). */
    const int32_t *folded_bias;
} tg_fc_params;

/* AVERAGE_POOL_2D and MAX_POOL_2D. */
typedef struct {
    int32_t filter_h, filter_w;
    int32_t stride_h, stride_w;
    int32_t pad_top, pad_left;
    int32_t activation_min, activation_max;
} tg_pool_params;

/* ADD and SUB: both inputs are rescaled to a common scale 2^left_shift finer,
 * added (subtracted) and rescaled to the output. */
typedef struct {
    int32_t input1_offset, input2_offset, output_offset;
    int32_t left_shift;
    int32_t input1_multiplier, input1_shift;
    int32_t input2_multiplier, input2_shift;
    int32_t output_multiplier, output_shift;
    int32_t activation_min, activation_max;
} tg_add_params;

/* MUL. */
typedef struct {
    int32_t input1_offset, input2_offset, output_offset;
    int32_t output_multiplier, output_shift;
    int32_t activation_min, activation_max;
} tg_mul_params;

/* SOFTMAX (int8 in, int8 out with scale 1/256 and zero point -128). */
typedef struct {
    int32_t input_beta_multiplier;
    int32_t input_beta_left_shift;
    int32_t diff_min;
} tg_softmax_params;

/* ---- fixed-point helpers (shared by the kernels) ---------------------- */

/* round(a * b / 2^31), halves away from zero, saturating the one overflow case. */
static inline int32_t tg_sat_round_doubling_high_mul(int32_t a, int32_t b)
{
    if (a == INT32_MIN && b == INT32_MIN) {
        return INT32_MAX;
    }
    int64_t ab = (int64_t)a * (int64_t)b;
    int64_t nudge = ab >= 0 ? ((int64_t)1 << 30) : (1 - ((int64_t)1 << 30));
    return (int32_t)((ab + nudge) / ((int64_t)1 << 31));
}

/* x / 2^exponent rounded half away from zero (exponent 0..31). */
static inline int32_t tg_rounding_divide_by_pot(int32_t x, int32_t exponent)
{
    int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
    int32_t remainder = x & mask;
    int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* x * multiplier * 2^(shift - 31) with TFLM's double rounding. */
static inline int32_t tg_requantize(int32_t x, int32_t multiplier, int32_t shift)
{
    int32_t left = shift > 0 ? shift : 0;
    int32_t right = shift > 0 ? 0 : -shift;
    return tg_rounding_divide_by_pot(
        tg_sat_round_doubling_high_mul((int32_t)((uint32_t)x << left), multiplier), right);
}

static inline int32_t tg_clamp(int32_t x, int32_t lo, int32_t hi)
{
    return x < lo ? lo : (x > hi ? hi : x);
}

/* ---- kernels ------------------------------------------------------------ */

/* CONV_2D. filter: [out_c][kh][kw][in_c / groups] (groups = input c / filter c);
 * bias: [out_c] or NULL. */
void tg_conv2d_s8(const tg_conv_params *params, const tg_per_channel_quant *quant,
                  const tg_dims *input_dims, const int8_t *input,
                  const tg_dims *filter_dims, const int8_t *filter,
                  const int32_t *bias,
                  const tg_dims *output_dims, int8_t *output);

/* DEPTHWISE_CONV_2D. filter: [1][kh][kw][out_c], out_c = in_c * depth_multiplier. */
void tg_depthwise_conv2d_s8(const tg_conv_params *params, const tg_per_channel_quant *quant,
                            const tg_dims *input_dims, const int8_t *input,
                            const tg_dims *filter_dims, const int8_t *filter,
                            const int32_t *bias,
                            const tg_dims *output_dims, int8_t *output);

/* FULLY_CONNECTED: output[b][o] from input[b][accum_depth] and filter[o][accum_depth]. */
void tg_fully_connected_s8(const tg_fc_params *params, const tg_per_channel_quant *quant,
                           int32_t batches, int32_t accum_depth, int32_t output_depth,
                           const int8_t *input, const int8_t *filter, const int32_t *bias,
                           int8_t *output);

/* AVERAGE_POOL_2D: mean over the in-bounds cells, rounded half away from zero. */
void tg_avgpool_s8(const tg_pool_params *params,
                   const tg_dims *input_dims, const int8_t *input,
                   const tg_dims *output_dims, int8_t *output);

/* MAX_POOL_2D. */
void tg_maxpool_s8(const tg_pool_params *params,
                   const tg_dims *input_dims, const int8_t *input,
                   const tg_dims *output_dims, int8_t *output);

/* ADD / SUB with numpy-style broadcasting over 4-D shapes (a dim of 1 repeats).
 * output may alias an input of the output's shape (runs in place). */
void tg_add_s8(const tg_add_params *params,
               const tg_dims *input1_dims, const int8_t *input1,
               const tg_dims *input2_dims, const int8_t *input2,
               const tg_dims *output_dims, int8_t *output);
void tg_sub_s8(const tg_add_params *params,
               const tg_dims *input1_dims, const int8_t *input1,
               const tg_dims *input2_dims, const int8_t *input2,
               const tg_dims *output_dims, int8_t *output);

/* MUL with broadcasting, as tg_add_s8. */
void tg_mul_s8(const tg_mul_params *params,
               const tg_dims *input1_dims, const int8_t *input1,
               const tg_dims *input2_dims, const int8_t *input2,
               const tg_dims *output_dims, int8_t *output);

/* SOFTMAX over the last dimension: rows x depth values. */
void tg_softmax_s8(const tg_softmax_params *params, int32_t rows, int32_t depth,
                   const int8_t *input, int8_t *output);

/* Any int8 -> int8 elementwise function as a 256-entry table indexed by
 * input + 128 (LOGISTIC, TANH, RELU*, LEAKY_RELU, HARD_SWISH, QUANTIZE).
 * output may equal input (in place). */
void tg_lut_s8(const int8_t table[256], int32_t size, const int8_t *input, int8_t *output);

/* QUANTIZE float32 -> int8 (round half away from zero) and DEQUANTIZE int8 -> float32. */
void tg_quantize_f32_s8(int32_t size, const float *input, float scale, int32_t zero_point, int8_t *output);
void tg_dequantize_s8_f32(int32_t size, const int8_t *input, float scale, int32_t zero_point, float *output);

/* PAD / PADV2 of a 4-D tensor with a constant value. */
void tg_pad_s8(const tg_dims *input_dims, const int8_t *input,
               const tg_dims *pad_before, const tg_dims *output_dims, int8_t pad_value,
               int8_t *output);

/* CONCATENATION of count inputs along one axis of the same-quantized inputs:
 * outer = product of dims before the axis; sizes[i] = input i's dims from the
 * axis on (product), copied in turn. */
void tg_concat_s8(int32_t count, const int8_t *const inputs[], const int32_t sizes[],
                  int32_t outer, int8_t *output);

/* STRIDED_SLICE of a 4-D tensor with resolved begin and strides per dim. */
void tg_strided_slice_s8(const tg_dims *input_dims, const int8_t *input,
                         const tg_dims *begin, const tg_dims *strides,
                         const tg_dims *output_dims, int8_t *output);

/* MEAN over any set of dimensions of a 4-D tensor:
 * out = clamp(requant(sum - input_zero_point * count) + output_zero_point), where
 * multiplier/shift fold 1/count and the input/output scale ratio. */
typedef struct {
    int32_t reduce_n, reduce_h, reduce_w, reduce_c; /* 1: averaged away */
    int32_t input_zero_point, output_zero_point;
    int32_t multiplier, shift;
} tg_mean_params;
void tg_mean_s8(const tg_mean_params *params, const tg_dims *input_dims, const int8_t *input, int8_t *output);

#ifdef __cplusplus
}
#endif

#endif /* TG_KERNELS_H */
