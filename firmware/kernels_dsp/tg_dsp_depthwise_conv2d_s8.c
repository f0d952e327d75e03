/*
 * tg_dsp_depthwise_conv2d_s8.c - DEPTHWISE_CONV_2D (depth multiplier 1,
 * channels % 4 == 0) with the DSP extension.
 *
 * Four channels at a time: per window cell one input word, two SXTB16 give the
 * channel pairs (c0, c2), (c1, c3); the weights of those channels come
 * pre-paired (int16) in the same order, so SMLABB / SMLATT accumulate each
 * channel on its own. Windows wholly inside the input start from the folded
 * bias (input_offset * sum(filter) included) and multiply raw inputs; clipped
 * border windows start from the bias and add input_offset to every input (SADD16).
 * 3x3 windows get their own copy of the loop with the sizes known.
 */
#include "tg_dsp.h"

static inline void finish4(const tg_dsp_depthwise *d, const tg_dsp_requant *q, int32_t a0, int32_t a1,
                           int32_t a2, int32_t a3, int8_t *out)
{
    const int32_t lo = d->act_min, hi = d->act_max;
    out[0] = tg_dsp_clamp8(tg_dsp_requantize(a0, &q[0]), lo, hi);
    out[1] = tg_dsp_clamp8(tg_dsp_requantize(a1, &q[1]), lo, hi);
    out[2] = tg_dsp_clamp8(tg_dsp_requantize(a2, &q[2]), lo, hi);
    out[3] = tg_dsp_clamp8(tg_dsp_requantize(a3, &q[3]), lo, hi);
}

/* One output pixel, all channels; window rows ky_lo..ky_hi-1, cells kx_lo..kx_hi-1.
 * `win` points at cell (0, 0) of the window (possibly outside the input). */
static inline __attribute__((always_inline)) void pixel(const tg_dsp_depthwise *d, const int8_t *win,
                                                        int32_t k_h, int32_t k_w, int32_t ky_lo, int32_t ky_hi,
                                                        int32_t kx_lo, int32_t kx_hi, int inside, int8_t *out)
{
    const int32_t c = d->c;
    const int32_t row = d->in_w * c;
    const int32_t *w = d->weights;
    const int32_t *bias = inside ? d->bias_folded : d->bias;
    const tg_dsp_requant *q = d->quant;
    const int32_t off = (int32_t)(((uint32_t)(uint16_t)d->input_offset) * 0x10001u);
    for (int32_t cb = 0; cb < c; cb += 4) {
        int32_t a0 = bias[0], a1 = bias[1], a2 = bias[2], a3 = bias[3];
        for (int32_t ky = ky_lo; ky < ky_hi; ++ky) {
            const int8_t *x = win + ky * row + cb;
            const int32_t *wr = w + (ky * k_w) * 2;
            for (int32_t kx = kx_lo; kx < kx_hi; ++kx) {
                const uint32_t v = tg_dsp_load4(x + kx * c);
                int32_t xl = tg_dsp_lo_pairs(v), xh = tg_dsp_hi_pairs(v);
                if (!inside) {
                    xl = tg_dsp_sadd16(xl, off);
                    xh = tg_dsp_sadd16(xh, off);
                }
                const int32_t wl = wr[2 * kx], wh = wr[2 * kx + 1];
                a0 = tg_dsp_smlabb(xl, wl, a0);
                a2 = tg_dsp_smlatt(xl, wl, a2);
                a1 = tg_dsp_smlabb(xh, wh, a1);
                a3 = tg_dsp_smlatt(xh, wh, a3);
            }
        }
        finish4(d, q, a0, a1, a2, a3, out + cb);
        w += 2 * k_h * k_w;
        bias += 4;
        q += 4;
    }
}

static inline __attribute__((always_inline)) void run(const tg_dsp_depthwise *d, const int8_t *input,
                                                      int8_t *output, int32_t k_h, int32_t k_w)
{
    const int32_t c = d->c, in_h = d->in_h, in_w = d->in_w;
    for (int32_t oy = 0; oy < d->out_h; ++oy) {
        const int32_t iy0 = oy * d->stride_h - d->pad_top;
        const int32_t ky_lo = iy0 < 0 ? -iy0 : 0;
        const int32_t ky_hi = iy0 + k_h > in_h ? in_h - iy0 : k_h;
        for (int32_t ox = 0; ox < d->out_w; ++ox) {
            const int32_t ix0 = ox * d->stride_w - d->pad_left;
            const int32_t kx_lo = ix0 < 0 ? -ix0 : 0;
            const int32_t kx_hi = ix0 + k_w > in_w ? in_w - ix0 : k_w;
            const int8_t *win = input + ((iy0 * in_w) + ix0) * c;
            if (ky_lo == 0 && ky_hi == k_h && kx_lo == 0 && kx_hi == k_w) {
                pixel(d, win, k_h, k_w, 0, k_h, 0, k_w, 1, output);
            } else {
                pixel(d, win, k_h, k_w, ky_lo, ky_hi, kx_lo, kx_hi, 0, output);
            }
            output += c;
        }
    }
}

void tg_dsp_depthwise_conv2d_s8(const tg_dsp_depthwise *d, const int8_t *input, int8_t *output)
{
    if (d->k_h == 3 && d->k_w == 3) {
        run(d, input, output, 3, 3);
    } else {
        run(d, input, output, d->k_h, d->k_w);
    }
}
