"""FULLY_CONNECTED (int8), bit-exact with TFLM's reference kernels.

acc[o] = bias[o] + sum_k (x[k] + input_offset) * (w[o,k] + filter_offset); the
filter offset is non-zero only for per-tensor filters with a zero point (TFLM
honours it); per-channel filters have one multiplier per output. One exact
GEMM over all N samples and rows.
"""
from __future__ import annotations

import numpy as np

from tinygen.quant.params import FullyConnectedParams
from tinygen.ref.common import Requantizer, gemm_requantize


def prepare_fully_connected(p: FullyConnectedParams, w: np.ndarray, bias: np.ndarray | None) -> dict:
    wf = w.astype(np.int64) + p.filter_offset
    max_w = float(np.abs(wf).max()) if wf.size else 0.0
    bound = p.accum_depth * 256.0 * max_w
    dt = np.float32 if bound < (1 << 24) else np.float64
    return {"wt": np.ascontiguousarray(wf.T.astype(dt)), "dtype": dt,
            "bias": None if bias is None else bias.astype(np.int64),
            "requant": Requantizer(p.output_multiplier, p.output_shift, p.output_offset,
                                   p.activation_min, p.activation_max)}


def fully_connected(p: FullyConnectedParams, x: np.ndarray, w: np.ndarray, bias: np.ndarray | None,
                    prepared: dict | None = None) -> np.ndarray:
    """x [N, *input_shape] int8 -> [N, *output_shape] int8."""
    if prepared is None:
        prepared = prepare_fully_connected(p, w, bias)
    n = x.shape[0]
    dt = prepared["dtype"]
    rows = x.reshape(-1, p.accum_depth).astype(dt) + dt(p.input_offset)
    y = gemm_requantize(rows, prepared["wt"], prepared["bias"], prepared["requant"])
    return y.reshape((n,) + tuple(p.output_shape))
