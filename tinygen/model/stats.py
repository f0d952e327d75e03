"""Per-op cost figures read off the graph: multiply-accumulates and parameter bytes.

MACs count the multiply-accumulates of the op's main arithmetic (one per
filter tap per output element for convolutions, one per weight per batch row
for fully connected layers, ...). Ops without a weighted sum (pooling,
element-wise, reshapes, softmax) count 0: they cost time, but not MACs.
Parameter bytes are the bytes of every constant tensor the op reads (weights,
bias, and any other constant such as a PAD's paddings).
"""
from __future__ import annotations

from dataclasses import dataclass

from tinygen.model.ir import Graph, Op, Tensor


@dataclass
class OpStats:
    index: int
    type: str
    macs: int
    params_bytes: int


def _in(graph: Graph, op: Op, k: int) -> Tensor | None:
    if k >= len(op.inputs) or op.inputs[k] < 0:
        return None
    return graph.tensors[op.inputs[k]]


def _out(graph: Graph, op: Op) -> Tensor | None:
    return graph.tensors[op.outputs[0]] if op.outputs else None


def _shape(t: Tensor | None) -> tuple[int, ...]:
    return tuple(t.shape) if t is not None else ()


def _conv_macs(graph: Graph, op: Op) -> int:
    """Each output element sums KH*KW*filter_in_channels products."""
    filt, out = _in(graph, op, 1), _out(graph, op)
    fs = _shape(filt)
    if out is None or len(fs) != 4:
        return 0
    return out.size * fs[1] * fs[2] * fs[3]


def _depthwise_macs(graph: Graph, op: Op) -> int:
    """Each output element sums KH*KW products (one input channel)."""
    filt, out = _in(graph, op, 1), _out(graph, op)
    fs = _shape(filt)
    if out is None or len(fs) != 4:
        return 0
    return out.size * fs[1] * fs[2]


def _transpose_conv_macs(graph: Graph, op: Op) -> int:
    """Every input element is scattered through KH*KW*out_channels products."""
    filt, x = _in(graph, op, 1), _in(graph, op, 2)
    fs = _shape(filt)
    if x is None or len(fs) != 4:
        return 0
    return x.size * fs[0] * fs[1] * fs[2]


def _fully_connected_macs(graph: Graph, op: Op) -> int:
    """Each output element sums `in_features` products (weights are [units, in_features])."""
    w, out = _in(graph, op, 1), _out(graph, op)
    ws = _shape(w)
    if out is None or len(ws) != 2:
        return 0
    return out.size * ws[1]


def _batch_matmul_macs(graph: Graph, op: Op) -> int:
    a, out = _in(graph, op, 0), _out(graph, op)
    if a is None or out is None or not a.shape:
        return 0
    k = a.shape[-2] if op.options.get("adj_x", False) and len(a.shape) >= 2 else a.shape[-1]
    return out.size * k


def _svdf_macs(graph: Graph, op: Op) -> int:
    """Feature matmul (filters x input) per batch row, then rank-wise time filtering."""
    x, wf, wt = _in(graph, op, 0), _in(graph, op, 1), _in(graph, op, 2)
    if x is None or wf is None or wt is None or len(wf.shape) != 2 or len(wt.shape) != 2 or not x.shape:
        return 0
    batches = x.shape[0]
    return batches * (wf.shape[0] * wf.shape[1] + wt.shape[0] * wt.shape[1])


def _lstm_macs(graph: Graph, op: Op) -> int:
    """Four gates, each an input and a recurrent matmul, at every time step."""
    x = _in(graph, op, 0)
    w_in = [_in(graph, op, k) for k in (1, 2, 3, 4)]
    w_rec = [_in(graph, op, k) for k in (5, 6, 7, 8)]
    if x is None or len(x.shape) < 2:
        return 0
    rows = x.size // x.shape[-1]  # batch * time steps
    total = 0
    for w in w_in + w_rec:
        if w is not None and len(w.shape) == 2:
            total += rows * w.shape[0] * w.shape[1]
    return total


_MACS = {
    "CONV_2D": _conv_macs,
    "DEPTHWISE_CONV_2D": _depthwise_macs,
    "TRANSPOSE_CONV": _transpose_conv_macs,
    "FULLY_CONNECTED": _fully_connected_macs,
    "BATCH_MATMUL": _batch_matmul_macs,
    "SVDF": _svdf_macs,
    "UNIDIRECTIONAL_SEQUENCE_LSTM": _lstm_macs,
}


def op_macs(graph: Graph, op: Op) -> int:
    fn = _MACS.get(op.type)
    return int(fn(graph, op)) if fn else 0


def op_params_bytes(graph: Graph, op: Op) -> int:
    """Bytes of the constant tensors this op reads (each counted once per op)."""
    seen = {i for i in op.inputs if i >= 0 and graph.tensors[i].is_constant}
    return sum(graph.tensors[i].nbytes for i in seen)


def op_stats(graph: Graph, op: Op) -> OpStats:
    return OpStats(op.index, op.type, op_macs(graph, op), op_params_bytes(graph, op))


def graph_params_bytes(graph: Graph) -> int:
    """Bytes of every constant any op reads, counting a shared constant once."""
    used = {i for op in graph.ops for i in op.inputs if i >= 0 and graph.tensors[i].is_constant}
    return sum(graph.tensors[i].nbytes for i in used)


def graph_macs(graph: Graph) -> int:
    return sum(op_macs(graph, op) for op in graph.ops)


__all__ = ["OpStats", "graph_macs", "graph_params_bytes", "op_macs", "op_params_bytes", "op_stats"]
