/*
 * tg_dsp_gemm_s8.c - int8 matrix-vector rows for CONV_2D and FULLY_CONNECTED
 * (DSP extension: SXTB16 + SMLAD), and the CONV_2D driver around them.
 *
 * One row: out[o] = clamp(requant(bias[o] + sum_k w[o][k] * in[k]) + output_offset)
 * where bias already holds input_offset * sum_k w[o][k] (tinygen folds it), so
 * the inner loop is plain products. The row's inputs are widened once (SXTB16)
 * into int16 pairs (x0, x2), (x1, x3) per four inputs; the weights come
 * pre-paired in the same order, so four output channels take, per four inputs,
 * one LDRD of inputs, four LDRDs of weights and eight SMLADs.
 */
#include "tg_dsp.h"

/* in[0..k) (k % 4 == 0) as int16 pairs: per four inputs (x0, x2), (x1, x3). */
static void widen(const int8_t *in, int32_t k, int32_t *out)
{
    for (int32_t i = 0; i < k; i += 4) {
        const uint32_t v = tg_dsp_load4(in + i);
        out[0] = tg_dsp_lo_pairs(v);
        out[1] = tg_dsp_hi_pairs(v);
        out += 2;
    }
}

static inline __attribute__((always_inline)) void store4(const tg_dsp_gemm *g, const tg_dsp_requant *q,
                                                         int32_t a0, int32_t a1, int32_t a2, int32_t a3,
                                                         int8_t *out, int mode)
{
    const int32_t off = g->output_offset, lo = g->act_min, hi = g->act_max;
    out[0] = tg_dsp_output(a0, &q[0], mode, off, lo, hi);
    out[1] = tg_dsp_output(a1, &q[1], mode, off, lo, hi);
    out[2] = tg_dsp_output(a2, &q[2], mode, off, lo, hi);
    out[3] = tg_dsp_output(a3, &q[3], mode, off, lo, hi);
}

/* x: the widened row (k / 2 words). */
static inline __attribute__((always_inline)) void gemm_row(const tg_dsp_gemm *g, const int32_t *x0,
                                                           int8_t *output, int mode)
{
    const int32_t chunks = g->k >> 2;
    const int32_t *w = g->weights;
    const int32_t *bias = g->bias;
    const tg_dsp_requant *q = g->quant;
    for (int32_t o = 0; o < g->out_c; o += 4) {
        int32_t a0 = bias[0], a1 = bias[1], a2 = bias[2], a3 = bias[3];
        const int32_t *x = x0;
#if TG_DSP_SIMD
        /* 11 instructions per 16 multiply-accumulates (two chunks per loop turn): LDM takes
         * the two input words and four weight words at a time; LDM register lists must
         * ascend, hence the fixed registers (r7, a possible frame pointer, is left alone). */
        register int32_t r_a0 __asm__("r0") = a0;
        register int32_t r_a1 __asm__("r1") = a1;
        register int32_t r_a2 __asm__("r2") = a2;
        register int32_t r_a3 __asm__("r3") = a3;
        register uint32_t r_xl __asm__("r4");
        register uint32_t r_xh __asm__("r5");
        register const int32_t *r_x __asm__("r6") = x;
        register uint32_t r_w0 __asm__("r8");
        register uint32_t r_w1 __asm__("r9");
        register uint32_t r_w2 __asm__("r10");
        register uint32_t r_w3 __asm__("r11");
        register const int32_t *r_w __asm__("r12") = w;
        register int32_t r_n __asm__("lr") = chunks;
#define TG_GEMM_ASM_CHUNK                                   \
    "ldm    %[x]!, {%[xl], %[xh]}\n\t"                     \
    "ldm    %[w]!, {%[w0], %[w1], %[w2], %[w3]}\n\t"       \
    "smlad  %[a0], %[xl], %[w0], %[a0]\n\t"                 \
    "smlad  %[a0], %[xh], %[w1], %[a0]\n\t"                 \
    "smlad  %[a1], %[xl], %[w2], %[a1]\n\t"                 \
    "smlad  %[a1], %[xh], %[w3], %[a1]\n\t"                 \
    "ldm    %[w]!, {%[w0], %[w1], %[w2], %[w3]}\n\t"       \
    "smlad  %[a2], %[xl], %[w0], %[a2]\n\t"                 \
    "smlad  %[a2], %[xh], %[w1], %[a2]\n\t"                 \
    "smlad  %[a3], %[xl], %[w2], %[a3]\n\t"                 \
    "smlad  %[a3], %[xh], %[w3], %[a3]\n\t"
        __asm__ volatile(
            "tst    %[n], #1\n\t"
            "beq    2f\n\t"
            TG_GEMM_ASM_CHUNK
            "2:\n\t"
            "asrs   %[n], %[n], #1\n\t"
            "beq    3f\n\t"
            "1:\n\t"
            TG_GEMM_ASM_CHUNK
            TG_GEMM_ASM_CHUNK
            "subs   %[n], %[n], #1\n\t"
            "bne    1b\n\t"
            "3:\n\t"
            : [a0] "+r"(r_a0), [a1] "+r"(r_a1), [a2] "+r"(r_a2), [a3] "+r"(r_a3), [x] "+r"(r_x), [w] "+r"(r_w),
              [n] "+r"(r_n), [xl] "=&r"(r_xl), [xh] "=&r"(r_xh), [w0] "=&r"(r_w0), [w1] "=&r"(r_w1),
              [w2] "=&r"(r_w2), [w3] "=&r"(r_w3)
            :
            : "cc", "memory");
#undef TG_GEMM_ASM_CHUNK
        a0 = r_a0;
        a1 = r_a1;
        a2 = r_a2;
        a3 = r_a3;
        w = r_w;
#else
        for (int32_t i = 0; i < chunks; ++i) {
            const int32_t xl = x[0], xh = x[1];
            x += 2;
            a0 = tg_dsp_smlad(xl, w[0], a0);
            a0 = tg_dsp_smlad(xh, w[1], a0);
            a1 = tg_dsp_smlad(xl, w[2], a1);
            a1 = tg_dsp_smlad(xh, w[3], a1);
            a2 = tg_dsp_smlad(xl, w[4], a2);
            a2 = tg_dsp_smlad(xh, w[5], a2);
            a3 = tg_dsp_smlad(xl, w[6], a3);
            a3 = tg_dsp_smlad(xh, w[7], a3);
            w += 8;
        }
#endif
        const int32_t left = g->out_c - o;
        if (left >= 4) {
            store4(g, q, a0, a1, a2, a3, output + o, mode);
        } else { /* the last, partial block */
            int8_t tail[4];
            store4(g, q, a0, a1, a2, a3, tail, mode);
            for (int32_t j = 0; j < left; ++j) {
                output[o + j] = tail[j];
            }
        }
        bias += 4;
        q += 4;
    }
}

static void gemm_row_widened(const tg_dsp_gemm *g, const int32_t *x, int8_t *output)
{
    switch (g->mode) {
    case 0:
        gemm_row(g, x, output, 0);
        break;
    case TG_DSP_MIXED:
        gemm_row(g, x, output, TG_DSP_MIXED);
        break;
    case TG_DSP_FULL_RANGE:
        gemm_row(g, x, output, TG_DSP_FULL_RANGE);
        break;
    default:
        gemm_row(g, x, output, TG_DSP_MIXED | TG_DSP_FULL_RANGE);
        break;
    }
}

void tg_dsp_gemm_row_s8(const tg_dsp_gemm *g, const int8_t *input, int32_t *scratch, int8_t *output)
{
    widen(input, g->k, scratch);
    gemm_row_widened(g, scratch, output);
}

void tg_dsp_conv2d_s8(const tg_dsp_conv_shape *s, const tg_dsp_gemm *g, const int8_t *input, int32_t *scratch,
                      int8_t *output)
{
    const int32_t in_w = s->in_w, in_c = s->in_c, k_w = s->k_w;
    const int32_t row_bytes = k_w * in_c;
    const int32_t used = s->k_h * row_bytes;
    int8_t *window = (int8_t *)(scratch + g->k / 2); /* im2col bytes after the widened row */
    if (!s->direct) {
        memset(window + used, 0, (size_t)(g->k - used)); /* the pad up to k: zero weights */
    }
    const uint32_t pad4 = (uint32_t)(uint8_t)s->pad_value * 0x01010101u;
    const int32_t pad_pair = tg_dsp_lo_pairs(pad4); /* (zero point, zero point) */
    for (int32_t oy = 0; oy < s->out_h; ++oy) {
        const int32_t iy0 = oy * s->stride_h - s->pad_top;
        for (int32_t ox = 0; ox < s->out_w; ++ox) {
            const int32_t ix0 = ox * s->stride_w - s->pad_left;
            if (s->direct) {
                tg_dsp_gemm_row_s8(g, input + ((size_t)iy0 * in_w + ix0) * in_c, scratch, output);
                output += g->out_c;
                continue;
            }
            if (in_c % 4 == 0) { /* cells are whole input words: widen straight from the input */
                int32_t *dst = scratch;
                for (int32_t ky = 0; ky < s->k_h; ++ky) {
                    const int32_t iy = iy0 + ky;
                    const int row_in = iy >= 0 && iy < s->in_h;
                    const int8_t *src = input + (size_t)iy * in_w * in_c;
                    if (row_in && ix0 >= 0 && ix0 + k_w <= in_w) {
                        widen(src + (size_t)ix0 * in_c, row_bytes, dst);
                        dst += row_bytes / 2;
                        continue;
                    }
                    for (int32_t kx = 0; kx < k_w; ++kx, dst += in_c / 2) {
                        const int32_t ix = ix0 + kx;
                        if (!row_in || ix < 0 || ix >= in_w) {
                            for (int32_t i = 0; i < in_c / 2; ++i) {
                                dst[i] = pad_pair;
                            }
                        } else {
                            widen(src + (size_t)ix * in_c, in_c, dst);
                        }
                    }
                }
                gemm_row_widened(g, scratch, output);
                output += g->out_c;
                continue;
            }
            int8_t *dst = window;
            for (int32_t ky = 0; ky < s->k_h; ++ky, dst += row_bytes) {
                const int32_t iy = iy0 + ky;
                if (iy < 0 || iy >= s->in_h) {
                    memset(dst, s->pad_value, (size_t)row_bytes);
                    continue;
                }
                const int8_t *src = input + (size_t)iy * in_w * in_c;
                if (ix0 >= 0 && ix0 + k_w <= in_w) {
                    memcpy(dst, src + (size_t)ix0 * in_c, (size_t)row_bytes);
                    continue;
                }
                for (int32_t kx = 0; kx < k_w; ++kx) {
                    const int32_t ix = ix0 + kx;
                    if (ix < 0 || ix >= in_w) {
                        memset(dst + kx * in_c, s->pad_value, (size_t)in_c);
                    } else {
                        memcpy(dst + kx * in_c, src + (size_t)ix * in_c, (size_t)in_c);
                    }
                }
            }
            tg_dsp_gemm_row_s8(g, window, scratch, output);
            output += g->out_c;
        }
    }
}
