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
 *   replaced by the sign of x, see requant_words in tinygen/codegen/backends/dsp/common.py),
 *   so the result is the high word of a 64-bit sum shifted right by e - 1
 *   (layers with a shift of 0 or > 22 somewhere use the mixed form below).
 * - the SIMD paths are a few short inline-assembly loops (instruction counts noted
 *   at each); the plain-C paths are the specification they are tested against.
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
static inline int32_t tg_dsp_hi_pairs(uint32_t x)
{
    int32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x)); /* one instruction (GCC 12 splits the rotate) */
    return r;
}
/* acc + a.lo * b.lo + a.hi * b.hi */
static inline int32_t tg_dsp_smlad(int32_t a, int32_t b, int32_t acc) { return __smlad(a, b, acc); }
/* acc + a.lo * b.lo, acc + a.hi * b.hi */
static inline int32_t tg_dsp_smlabb(int32_t a, int32_t b, int32_t acc) { return __smlabb(a, b, acc); }
static inline int32_t tg_dsp_smlatt(int32_t a, int32_t b, int32_t acc) { return __smlatt(a, b, acc); }

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
    int32_t shift;        /* e - 1 (right shift of the high word, 0..21); mixed form: see below */
} tg_dsp_requant;

/* clamp(requantize(acc) + output_offset), bit-exact with TFLM's double rounding. */
static inline int32_t tg_dsp_requantize(int32_t acc, const tg_dsp_requant *q)
{
#if TG_DSP_SIMD
    /* two SMLALs into the preset 64-bit K: x * m, then [x < 0] * (-2^31) */
    uint32_t lo = q->k_lo;
    int32_t hi = q->k_hi;
    const uint32_t neg = (uint32_t)acc >> 31;
    const int32_t minus_2_31 = INT32_MIN;
    __asm__("smlal %0, %1, %2, %3" : "+r"(lo), "+r"(hi) : "r"(acc), "r"(q->multiplier));
    __asm__("smlal %0, %1, %2, %3" : "+r"(lo), "+r"(hi) : "r"(neg), "r"(minus_2_31));
    return hi >> q->shift;
#else
    int64_t s = (int64_t)(((uint64_t)(uint32_t)q->k_hi << 32) | q->k_lo);
    s += (int64_t)acc * q->multiplier;
    s -= (int64_t)((uint32_t)acc >> 31) << 31;
    return (int32_t)(s >> 32) >> q->shift;
#endif
}

/* The mixed form (layers with a right shift of 0, or above 22, on some channel): bits
 * 31..62 of K + x * m + [x < 0] * corr, shifted right by e; the last word is
 * e | (corr != 0) << 31. The caller adds the output zero point. */
static inline int32_t tg_dsp_requantize_mixed(int32_t acc, const tg_dsp_requant *q)
{
    const int32_t word = q->shift;
#if TG_DSP_SIMD
    uint32_t lo = q->k_lo;
    int32_t hi = q->k_hi;
    const uint32_t neg = (uint32_t)acc >> 31;
    const int32_t corr = (int32_t)((uint32_t)word & 0x80000000u);
    int32_t r;
    __asm__("smlal %0, %1, %2, %3" : "+r"(lo), "+r"(hi) : "r"(acc), "r"(q->multiplier));
    __asm__("smlal %0, %1, %2, %3" : "+r"(lo), "+r"(hi) : "r"(neg), "r"(corr));
    const int32_t w31 = (int32_t)(((uint32_t)hi << 1) | (lo >> 31));
    __asm__("asr %0, %1, %2" : "=r"(r) : "r"(w31), "r"(word)); /* shifts by the low byte: e */
    return r;
#else
    int64_t s = (int64_t)(((uint64_t)(uint32_t)q->k_hi << 32) | q->k_lo);
    s += (int64_t)acc * q->multiplier;
    if (acc < 0 && ((uint32_t)word & 0x80000000u) != 0) {
        s -= (int64_t)1 << 31;
    }
    return (int32_t)(s >> 31) >> (word & 0xff);
#endif
}

/* Mode bits of a layer (chosen at generation time, each kernel compiled per mode). */
#define TG_DSP_MIXED 1     /* requantization in the mixed form */
#define TG_DSP_FULL_RANGE 2 /* activation range [-128, 127]: saturate only */

/* requantize + zero point + clamp of one accumulator, for a layer in `mode`. */
static inline __attribute__((always_inline)) int8_t tg_dsp_output(int32_t acc, const tg_dsp_requant *q, int mode,
                                                                  int32_t output_offset, int32_t act_min,
                                                                  int32_t act_max)
{
    int32_t r;
#if TG_DSP_SIMD
    int32_t m, hi, w;
    uint32_t lo, t;
    if (mode & TG_DSP_MIXED) {
        __asm__("ldrd   %[m], %[lo], [%[q]]\n\t"
                "ldrd   %[hi], %[w], [%[q], #8]\n\t"
                "smlal  %[lo], %[hi], %[acc], %[m]\n\t"
                "lsr    %[t], %[acc], #31\n\t"
                "and    %[m], %[w], #0x80000000\n\t"
                "smlal  %[lo], %[hi], %[t], %[m]\n\t"
                "lsl    %[hi], %[hi], #1\n\t"
                "orr    %[hi], %[hi], %[lo], lsr #31\n\t"
                "asr    %[hi], %[hi], %[w]\n\t"
                : [m] "=&r"(m), [lo] "=&r"(lo), [hi] "=&r"(hi), [w] "=&r"(w), [t] "=&r"(t)
                : [acc] "r"(acc), [q] "r"(q), "m"(*q));
        r = hi + output_offset;
    } else {
        __asm__("ldrd   %[m], %[lo], [%[q]]\n\t"
                "ldrd   %[hi], %[w], [%[q], #8]\n\t"
                "smlal  %[lo], %[hi], %[acc], %[m]\n\t"
                "lsr    %[t], %[acc], #31\n\t"
                "smlal  %[lo], %[hi], %[t], %[min]\n\t"
                "asr    %[hi], %[hi], %[w]\n\t"
                : [m] "=&r"(m), [lo] "=&r"(lo), [hi] "=&r"(hi), [w] "=&r"(w), [t] "=&r"(t)
                : [acc] "r"(acc), [q] "r"(q), [min] "r"(INT32_MIN), "m"(*q));
        r = hi;
    }
    if (mode & TG_DSP_FULL_RANGE) {
        return (int8_t)__ssat(r, 8);
    }
#else
    r = (mode & TG_DSP_MIXED) ? tg_dsp_requantize_mixed(acc, q) + output_offset : tg_dsp_requantize(acc, q);
    if (mode & TG_DSP_FULL_RANGE) {
        act_min = -128;
        act_max = 127;
    }
#endif
    r = r < act_min ? act_min : r;
    r = r > act_max ? act_max : r;
    return (int8_t)r;
}


/* ---- kernels -------------------------------------------------------------- */

/* Matrix-vector products shared by CONV_2D (1x1 or im2col) and FULLY_CONNECTED:
 * out_c outputs from k int8 inputs (k % 4 == 0), widened first into `scratch`
 * (k / 2 words). weights: int16 pairs packed in words (low half first),
 * [ceil(out_c / 4)][k / 4][4 channels][(w0, w2), (w1, w3)];
 * bias: folded per channel (padded to a multiple of 4). */
typedef struct {
    int32_t k;            /* inputs per output (multiple of 4) */
    int32_t out_c;        /* outputs per row */
    int32_t act_min, act_max;
    int32_t mode;         /* TG_DSP_MIXED | TG_DSP_FULL_RANGE bits */
    int32_t output_offset; /* mixed form only (the other folds it into K) */
    const int32_t *weights;
    const int32_t *bias;
    const tg_dsp_requant *quant;
} tg_dsp_gemm;

void tg_dsp_gemm_row_s8(const tg_dsp_gemm *g, const int8_t *input, int32_t *scratch, int8_t *output);

/* CONV_2D through tg_dsp_gemm_row_s8: the window of each output pixel is copied
 * (im2col, padding = input zero point) into scratch (after the k / 2 words of the
 * widened row) unless the layer is 1x1, unpadded with in_c % 4 == 0 (then the
 * input pixel is widened directly). */
typedef struct {
    int32_t in_h, in_w, in_c;
    int32_t k_h, k_w;
    int32_t out_h, out_w;
    int32_t stride_h, stride_w;
    int32_t pad_top, pad_left;
    int8_t pad_value;     /* the input zero point */
    int8_t direct;        /* 1: no im2col */
} tg_dsp_conv_shape;

void tg_dsp_conv2d_s8(const tg_dsp_conv_shape *s, const tg_dsp_gemm *g, const int8_t *input, int32_t *scratch,
                      int8_t *output);

/* DEPTHWISE_CONV_2D, depth multiplier 1, channels % 4 == 0.
 * weights: int16 pairs packed in words, [c / 4][kh * kw][(w_c0, w_c2), (w_c1, w_c3)];
 * bias: bias + input_offset * sum(filter). Windows reaching into the padding are first
 * copied to `scratch` (kh * kw * c bytes, padding = the input zero point). */
typedef struct {
    int32_t in_h, in_w, c;
    int32_t k_h, k_w;
    int32_t out_h, out_w;
    int32_t stride_h, stride_w;
    int32_t pad_top, pad_left;
    int32_t pad_value;    /* the input zero point */
    int32_t act_min, act_max;
    int32_t mode;         /* TG_DSP_MIXED | TG_DSP_FULL_RANGE bits */
    int32_t output_offset; /* mixed form only */
    const int32_t *weights;
    const int32_t *bias;
    const tg_dsp_requant *quant;
} tg_dsp_depthwise;

void tg_dsp_depthwise_conv2d_s8(const tg_dsp_depthwise *d, const int8_t *input, int8_t *scratch,
                                int8_t *output);

#ifdef __cplusplus
}
#endif

#endif /* TG_DSP_H */
