"""CONV_2D and DEPTHWISE_CONV_2D (int8 activations, int8 weights per-tensor or
per-channel, int32 bias), bit-exact with TFLM's reference integer kernels.

acc[c] = bias[c] + sum (x + input_offset) * w[c]  over the window (padding
contributes nothing, i.e. behaves as the input zero point), then
MultiplyByQuantizedMultiplier per channel, + output_offset, clamp.

CONV_2D goes through im2col and one exact GEMM (float32 when the partial sums
stay below 2^24, else float64); groups are separate GEMMs. DEPTHWISE sums
KH*KW shifted views in int32.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from tinygen.quant.params import ConvParams, DepthwiseConvParams
from tinygen.ref.common import Requantizer, gemm_requantize


def _pad_input(p: ConvParams, x: np.ndarray, dtype=np.int32) -> np.ndarray:
    """x [B,H,W,C] int8 -> (x - zp) in `dtype`, zero-padded (zero = the input zero point)."""
    b, h, w, c = x.shape
    if not (p.pad_top or p.pad_bottom or p.pad_left or p.pad_right):
        xs = x.astype(dtype)
        xs += dtype(p.input_offset)
        return xs
    xp = np.zeros((b, h + p.pad_top + p.pad_bottom, w + p.pad_left + p.pad_right, c), dtype=dtype)
    inner = xp[:, p.pad_top:p.pad_top + h, p.pad_left:p.pad_left + w]
    inner[...] = x
    inner += dtype(p.input_offset)
    return xp


def _windows(p: ConvParams, xp: np.ndarray, kh: int, kw: int, oh: int, ow: int) -> np.ndarray:
    """Strided view [B, OH, OW, KH, KW, C] of the padded input (no copy)."""
    b, _, _, c = xp.shape
    s0, s1, s2, s3 = xp.strides
    return as_strided(
        xp,
        shape=(b, oh, ow, kh, kw, c),
        strides=(s0, s1 * p.stride_h, s2 * p.stride_w, s1 * p.dilation_h, s2 * p.dilation_w, s3),
        writeable=False,
    )


def prepare_conv2d(p: ConvParams, w: np.ndarray, bias: np.ndarray | None) -> dict:
    """Per-layer constants: the filter as [groups, K, C_out/groups] GEMM operands and the bias."""
    cout, kh, kw, fin = w.shape
    groups = p.groups
    per_group = cout // groups
    wg = w.astype(np.float64).reshape(groups, per_group, kh * kw * fin).transpose(0, 2, 1)
    max_w = float(np.abs(w.astype(np.int64)).max()) if w.size else 0.0
    bound = kh * kw * fin * 256.0 * max_w
    mult, shift = p.output_multiplier, p.output_shift
    requants = []
    for g in range(groups):
        sl = slice(g * per_group, (g + 1) * per_group)
        requants.append(Requantizer(mult[sl] if mult.size > 1 else mult, shift[sl] if shift.size > 1 else shift,
                                    p.output_offset, p.activation_min, p.activation_max))
    return {
        "requant": requants,
        "w": [np.ascontiguousarray(wg[g]) for g in range(groups)],
        "w32": [np.ascontiguousarray(wg[g].astype(np.float32)) for g in range(groups)] if bound < (1 << 24) else None,
        "bias": None if bias is None else bias.astype(np.int64),
        "bound": bound,
    }


def conv2d(p: ConvParams, x: np.ndarray, w: np.ndarray, bias: np.ndarray | None,
           prepared: dict | None = None) -> np.ndarray:
    """x [N, *input_shape] int8 -> [N, *output_shape] int8."""
    if prepared is None:
        prepared = prepare_conv2d(p, w, bias)
    n = x.shape[0]
    _, h, wd, cin = p.input_shape
    _, oh, ow, cout = p.output_shape
    cout_w, kh, kw, fin = p.filter_shape
    xb = x.reshape(-1, h, wd, cin)
    b = xb.shape[0]
    groups = p.groups
    ws = prepared["w32"] or prepared["w"]
    dt = np.float32 if prepared["w32"] else np.float64
    if kh == 1 and kw == 1 and p.stride_h == 1 and p.stride_w == 1 and not (
            p.pad_top or p.pad_bottom or p.pad_left or p.pad_right):
        cols_all = (xb.astype(dt) + dt(p.input_offset)).reshape(b * oh * ow, cin)
    else:
        xp = _pad_input(p, xb, dt)
        win = _windows(p, xp, kh, kw, oh, ow)  # [B,OH,OW,KH,KW,C]
        cols_all = None
    bias_all = prepared["bias"]
    per_group = cout // groups
    out = np.empty((b * oh * ow, cout), dtype=np.int8)
    for g in range(groups):
        if cols_all is not None:
            cols = cols_all[:, g * fin:(g + 1) * fin] if groups > 1 else cols_all
        else:
            wg = win[..., g * fin:(g + 1) * fin] if groups > 1 else win
            cols = np.ascontiguousarray(wg).reshape(b * oh * ow, kh * kw * fin)
        sl = slice(g * per_group, (g + 1) * per_group)
        bg = None if bias_all is None else bias_all[sl]
        out[:, sl] = gemm_requantize(cols, ws[g], bg, prepared["requant"][g])
    return out.reshape((n,) + tuple(p.output_shape))


def prepare_depthwise_conv2d(p: DepthwiseConvParams, w: np.ndarray, bias: np.ndarray | None) -> dict:
    return {"w": w.reshape(w.shape[1], w.shape[2], w.shape[3]).astype(np.int32),
            "bias": None if bias is None else bias.astype(np.int64),
            "requant": Requantizer(p.output_multiplier, p.output_shift, p.output_offset,
                                   p.activation_min, p.activation_max)}


def depthwise_conv2d(p: DepthwiseConvParams, x: np.ndarray, w: np.ndarray, bias: np.ndarray | None,
                     prepared: dict | None = None) -> np.ndarray:
    """x [N, *input_shape] int8 -> [N, *output_shape] int8; output channel c*dm + m reads input channel c."""
    if prepared is None:
        prepared = prepare_depthwise_conv2d(p, w, bias)
    n = x.shape[0]
    _, h, wd, cin = p.input_shape
    _, oh, ow, cout = p.output_shape
    _, kh, kw, _ = p.filter_shape
    xb = x.reshape(-1, h, wd, cin)
    b = xb.shape[0]
    wk = prepared["w"]
    bias = prepared["bias"]
    requant = prepared["requant"]
    sh, sw, dh, dw = p.stride_h, p.stride_w, p.dilation_h, p.dilation_w
    if 16 <= kh * kw < 512 and cin <= 16:  # < 512 taps: float32 sums stay exact (< 2^24)
        # big kernels on few channels (micro_speech's 10x8): one exact GEMM per input channel
        # over its windows beats KH*KW shifted multiply-adds
        xp = _pad_input(p, xb, np.float32)
        win = _windows(p, xp, kh, kw, oh, ow)  # [B,OH,OW,KH,KW,C]
        dm = p.depth_multiplier
        acc = np.empty((b * oh * ow, cout), dtype=np.int64)
        wf = prepared["w"].astype(np.float32)  # [KH,KW,C_out]
        for c in range(cin):
            cols = np.ascontiguousarray(win[..., c]).reshape(b * oh * ow, kh * kw)
            acc[:, c * dm:(c + 1) * dm] = np.matmul(cols, wf[:, :, c * dm:(c + 1) * dm].reshape(kh * kw, dm))
        if bias is not None:
            acc += bias
        return requant(acc).reshape((n,) + tuple(p.output_shape))
    out = np.empty((b, oh, ow, cout), dtype=np.int8)
    # a few samples at a time so the int32 accumulator and temporaries stay in cache
    nb = max(1, (1 << 16) // max(1, oh * ow * cout))
    for s0 in range(0, b, nb):
        xp = _pad_input(p, xb[s0:s0 + nb])
        if p.depth_multiplier > 1:
            xp = np.repeat(xp, p.depth_multiplier, axis=3)
        acc = np.zeros((xp.shape[0], oh, ow, cout), dtype=np.int32)
        tmp = np.empty_like(acc)
        for i in range(kh):
            r0 = i * dh
            rows = xp[:, r0:r0 + (oh - 1) * sh + 1:sh]
            for j in range(kw):
                c0 = j * dw
                np.multiply(rows[:, :, c0:c0 + (ow - 1) * sw + 1:sw], wk[i, j], out=tmp)
                acc += tmp
        acc64 = acc.astype(np.int64)
        if bias is not None:
            acc64 += bias
        out[s0:s0 + nb] = requant(acc64)
    return out.reshape((n,) + tuple(p.output_shape))
