/*
 * tg_dsp.h - tinygen's kernels for Cortex-M cores with the DSP extension
 * (Cortex-M4/M7/M33/M55...), int8 activations, int16 pre-arranged weights.
 *
 * tinygen prepares everything it can at generation time (tinygen/codegen/backends/dsp):
 * - weights are widened to int16 and stored in the exact order the inner loops
 *   read them, so one 32-bit load gives the two weights that one SMLAD pairs
 *   with SXTB16(x) = (x0, x2) and SXTB16(x ror 8) = (x1, x3) of four input bytes;
 * - bias + input_offset * sum(weights) is one int32 per output channel (padding
 *   cells hold the input zero point, so the fold is exact for every window);
 * - requantization is a single 64-bit multiply-accumulate per output:
 *   TFLM's double rounding (SaturatingRoundingDoublingHighMul then
 *   RoundingDivideByPOT, right shift e >= 1) equals
 *       (x * m + K - [x < 0] * 2^31) >> (31 + e),
 *       K = 2^30 + 2^(30 + e) + output_offset * 2^(31 + e)
 *   exactly (nested floor divisions; the sign of the high product can be
 *   replaced by the sign of x, see tinygen/codegen/backends/dsp/requant.py), so the
 *   result is the high word of a 64-bit sum shifted right by e - 1.
 *
 * The ACLE intrinsics come from the compiler's <arm_acle.h> when __ARM_FEATURE_DSP
 * is defined; elsewhere (host builds, Cortex-M0/M3) plain C computes the same bits.
 */
#ifndef TG_DSP_H
#define TG_DSP_H

#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#include <arm_acle.h>
#define TG_DSP_SIMD 1

/* (x0, x2) and (x1, x3) of four int8 lanes, sign-extended to int16 pairs. */
static inline int32_t tg_dsp_lo_pairs(uint32_t x) { return (int32_t)__sxtb16((int32_t)x); }
static inline int32_t tg_dsp_hi_pairs(uint32_t x) { return (int32_t)__sxtb16((int32_t)((x >> 8) | (x << 24))); }
/* acc + a.lo * b.lo + a.hi * b.hi */
static inline int32_t tg_dsp_smlad(int32_t a, int32_t b, int32_t acc) { return __smlad(a, b, acc); }
/* acc + a.lo * b.lo, acc + a.hi * b.hi */
static inline int32_t tg_dsp_smlabb(int32_t a, int32_t b, int32_t acc) { return __smlabb(a, b, acc); }
static inline int32_t tg_dsp_smlatt(int32_t a, int32_t b, int32_t acc) { return __smlatt(a, b, acc); }
/* both int16 lanes plus the same lanes of b (wrapping) */
static inline int32_t tg_dsp_sadd16(int32_t a, int32_t b) { return __sadd16(a, b); }

#else
#define TG_DSP_SIMD 0

static inline int32_t tg_dsp_pack16(int32_t lo, int32_t hi)
{
    return (int32_t)(((uint32_t)(uint16_t)lo) | ((uint32_t)(uint16_t)hi << 16));
}
static inline int32_t tg_dsp_lane_lo(int32_t a) { return (int16_t)(uint16_t)((uint32_t)a & 0xffffu); }
static inline int32_t tg_dsp_lane_hi(int32_t a) { return (int16_t)(uint16_t)((uint32_t)a >> 16); }
static inline int32_t tg_dsp_lo_pairs(uint32_t x)
{
    return tg_dsp_pack16((int8_t)(uint8_t)(x & 0xffu), (int8_t)(uint8_t)((x >> 16) & 0xffu));
}
static inline int32_t tg_dsp_hi_pairs(uint32_t x)
{
    return tg_dsp_pack16((int8_t)(uint8_t)((x >> 8) & 0xffu), (int8_t)(uint8_t)(x >> 24));
}
static inline int32_t tg_dsp_smlad(int32_t a, int32_t b, int32_t acc)
{
    uint32_t r = (uint32_t)acc + (uint32_t)(tg_dsp_lane_lo(a) * tg_dsp_lane_lo(b))
                 + (uint32_t)(tg_dsp_lane_hi(a) * tg_dsp_lane_hi(b));
    return (int32_t)r;
}
static inline int32_t tg_dsp_smlabb(int32_t a, int32_t b, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(tg_dsp_lane_lo(a) * tg_dsp_lane_lo(b)));
}
static inline int32_t tg_dsp_smlatt(int32_t a, int32_t b, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(tg_dsp_lane_hi(a) * tg_dsp_lane_hi(b)));
}
static inline int32_t tg_dsp_sadd16(int32_t a, int32_t b)
{
    return tg_dsp_pack16(tg_dsp_lane_lo(a) + tg_dsp_lane_lo(b), tg_dsp_lane_hi(a) + tg_dsp_lane_hi(b));
}
#endif

/* Four int8 values as one word (any alignment). */
static inline uint32_t tg_dsp_load4(const int8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* Per-output-channel requantization constants (tinygen/codegen/backends/dsp/requant.py). */
typedef struct {
    int32_t multiplier;   /* Q0.31 multiplier m (> 0) */
    uint32_t k_lo;        /* K = 2^30 + 2^(30 + e) + output_offset * 2^(31 + e), low word */
    int32_t k_hi;         /* ... high word */
    int32_t shift;        /* e - 1 (right shift of the high word, 0..30) */
} tg_dsp_requant;

/* clamp(requantize(acc) + output_offset), bit-exact with TFLM's double rounding. */
static inline int32_t tg_dsp_requantize(int32_t acc, const tg_dsp_requant *q)
{
    int64_t s = (int64_t)(((uint64_t)(uint32_t)q->k_hi << 32) | q->k_lo);
    s += (int64_t)acc * q->multiplier;
    s += (int64_t)(acc >> 31) * ((int64_t)1 << 31);
    return (int32_t)(s >> 32) >> q->shift;
}

static inline int8_t tg_dsp_clamp8(int32_t x, int32_t lo, int32_t hi)
{
    return (int8_t)(x < lo ? lo : (x > hi ? hi : x));
}

/* ---- kernels -------------------------------------------------------------- */

/* Matrix-vector products shared by CONV_2D (1x1 or im2col), FULLY_CONNECTED:
 * for each of `pixels` rows of `k` int8 inputs (k % 4 == 0, rows `in_stride` bytes
 * apart, or gathered by the convolution driver), out_c outputs.
 * weights: int16 pairs packed in words (low half first),
 *          [ceil(out_c / 4)][k / 4][4 channels][(w0, w2), (w1, w3)];
 * bias: folded per channel (padded to a multiple of 4). */
typedef struct {
    int32_t k;            /* inputs per output (multiple of 4) */
    int32_t out_c;        /* outputs per row */
    int32_t act_min, act_max;
    const int32_t *weights;
    const int32_t *bias;
    const tg_dsp_requant *quant;
} tg_dsp_gemm;

void tg_dsp_gemm_row_s8(const tg_dsp_gemm *g, const int8_t *input, int8_t *output);

/* CONV_2D through tg_dsp_gemm_row_s8: the window of each output pixel is copied
 * (im2col, padding = input zero point) into `scratch` unless the layer is 1x1,
 * stride 1, unpadded with in_c % 4 == 0 (then the input row is used directly). */
typedef struct {
    int32_t in_h, in_w, in_c;
    int32_t k_h, k_w;
    int32_t out_h, out_w;
    int32_t stride_h, stride_w;
    int32_t pad_top, pad_left;
    int8_t pad_value;     /* the input zero point */
    int8_t direct;        /* 1: no im2col */
} tg_dsp_conv_shape;

void tg_dsp_conv2d_s8(const tg_dsp_conv_shape *s, const tg_dsp_gemm *g, const int8_t *input, int8_t *scratch,
                      int8_t *output);

/* DEPTHWISE_CONV_2D, depth multiplier 1, channels % 4 == 0.
 * weights: int16 pairs packed in words, [c / 4][kh * kw][(w_c0, w_c2), (w_c1, w_c3)];
 * bias_folded: bias + input_offset * sum(filter) (windows wholly inside);
 * bias: plain bias (clipped border windows add input_offset to each input). */
typedef struct {
    int32_t in_h, in_w, c;
    int32_t k_h, k_w;
    int32_t out_h, out_w;
    int32_t stride_h, stride_w;
    int32_t pad_top, pad_left;
    int32_t input_offset;
    int32_t act_min, act_max;
    const int32_t *weights;
    const int32_t *bias_folded;
    const int32_t *bias;
    const tg_dsp_requant *quant;
} tg_dsp_depthwise;

void tg_dsp_depthwise_conv2d_s8(const tg_dsp_depthwise *d, const int8_t *input, int8_t *output);

#ifdef __cplusplus
}
#endif

#endif /* TG_DSP_H */
