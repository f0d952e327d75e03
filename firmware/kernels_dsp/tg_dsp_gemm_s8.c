/*
 * tg_dsp_gemm_s8.c - int8 matrix-vector rows for CONV_2D and FULLY_CONNECTED
 * (DSP extension: SXTB16 + SMLAD), and the CONV_2D driver around it.
 *
 * One row: out[o] = clamp(requant(bias[o] + sum_k w[o][k] * in[k]) + output_offset)
 * where bias already holds input_offset * sum_k w[o][k] (tinygen folds it), so
 * the inner loop is plain products. Four output channels share every input
 * word: per four inputs one load and two SXTB16 feed eight SMLADs whose weights
 * come pre-paired (int16) in the order the loop reads them.
 */
#include "tg_dsp.h"

static inline void requant4(const tg_dsp_gemm *g, const tg_dsp_requant *q, int32_t a0, int32_t a1, int32_t a2,
                            int32_t a3, int32_t n, int8_t *out)
{
    const int32_t lo = g->act_min, hi = g->act_max;
    out[0] = tg_dsp_clamp8(tg_dsp_requantize(a0, &q[0]), lo, hi);
    if (n > 1) {
        out[1] = tg_dsp_clamp8(tg_dsp_requantize(a1, &q[1]), lo, hi);
    }
    if (n > 2) {
        out[2] = tg_dsp_clamp8(tg_dsp_requantize(a2, &q[2]), lo, hi);
    }
    if (n > 3) {
        out[3] = tg_dsp_clamp8(tg_dsp_requantize(a3, &q[3]), lo, hi);
    }
}

void tg_dsp_gemm_row_s8(const tg_dsp_gemm *g, const int8_t *input, int8_t *output)
{
    const int32_t chunks = g->k >> 2;
    const int32_t *w = g->weights;
    const int32_t *bias = g->bias;
    const tg_dsp_requant *q = g->quant;
    for (int32_t o = 0; o < g->out_c; o += 4) {
        int32_t a0 = bias[0], a1 = bias[1], a2 = bias[2], a3 = bias[3];
        const int8_t *x = input;
        for (int32_t i = 0; i < chunks; ++i) {
            const uint32_t v = tg_dsp_load4(x);
            const int32_t xl = tg_dsp_lo_pairs(v), xh = tg_dsp_hi_pairs(v);
            x += 4;
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
        const int32_t left = g->out_c - o;
        requant4(g, q, a0, a1, a2, a3, left < 4 ? left : 4, output + o);
        bias += 4;
        q += 4;
    }
}

void tg_dsp_conv2d_s8(const tg_dsp_conv_shape *s, const tg_dsp_gemm *g, const int8_t *input, int8_t *scratch,
                      int8_t *output)
{
    const int32_t in_w = s->in_w, in_c = s->in_c, k_w = s->k_w;
    const int32_t row_bytes = k_w * in_c;
    const int32_t used = s->k_h * row_bytes;
    if (!s->direct) {
        memset(scratch + used, 0, (size_t)(g->k - used)); /* the pad up to k: zero weights */
    }
    for (int32_t oy = 0; oy < s->out_h; ++oy) {
        const int32_t iy0 = oy * s->stride_h - s->pad_top;
        for (int32_t ox = 0; ox < s->out_w; ++ox) {
            const int32_t ix0 = ox * s->stride_w - s->pad_left;
            if (s->direct) {
                tg_dsp_gemm_row_s8(g, input + ((size_t)iy0 * in_w + ix0) * in_c, output);
                output += g->out_c;
                continue;
            }
            int8_t *dst = scratch;
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
            tg_dsp_gemm_row_s8(g, scratch, output);
            output += g->out_c;
        }
    }
}
