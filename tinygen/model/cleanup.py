"""Graph clean-ups: remove converter artefacts once, right after reading.

`clean_graph(graph)` runs these rewrites in order, each a small function that
returns how many places it changed:

1. `fold_shape_constants` - Keras 3 `Flatten` (and other shape arithmetic)
   emits SHAPE -> STRIDED_SLICE -> PACK feeding RESHAPE's shape input. Any op
   whose result is a small int32/int64 tensor computable from constants (or,
   for SHAPE, from a static shape) becomes a constant tensor.
2. `fuse_dilated_convolutions` - TensorFlow writes a dilated convolution as
   SPACE_TO_BATCH_ND -> CONV_2D / DEPTHWISE_CONV_2D -> BATCH_TO_SPACE_ND. The
   three become one convolution with its dilation factors and SAME/VALID
   padding inferred from the paddings, crops and shapes.
3. `normalise_reshapes` - a RESHAPE's target shape is its output tensor's
   shape (as in TFLM, which ignores the shape input); the shape input is
   dropped so nothing downstream has to read it.
4. `remove_dead_ops` then `Graph.prune_tensors` - ops whose results nobody
   reads, and tensors nobody refers to, disappear; ops are renumbered.

A rewrite that does not recognise its exact pattern leaves the graph alone;
structural nonsense it trips over (a RESHAPE changing the element count, a
folded shape disagreeing with the declared one) is a ModelFormatError.
"""
from __future__ import annotations

import numpy as np

from tinygen.errors import ModelFormatError
from tinygen.model.ir import Graph, Op, Quantization, shape_str

# A folded "shape-like" result is small; anything bigger is real data left to the kernels.
_MAX_FOLDED_ELEMENTS = 64
_SHAPE_DTYPES = ("int32", "int64")


def clean_graph(graph: Graph, label: str | None = None) -> Graph:
    """Apply every clean-up in place and return the graph.

    `label` (default: the graph's name) starts error messages, e.g. the file path.
    """
    fold_shape_constants(graph, label)
    fuse_dilated_convolutions(graph)
    normalise_reshapes(graph, label)
    remove_dead_ops(graph)
    graph.prune_tensors()
    graph.renumber()
    return graph


# ---------------------------------------------------------------- helpers

def _where(graph: Graph, op: Op, label: str | None) -> str:
    return f"{label or graph.name}: op {op.index} ({op.type})"


def _const(graph: Graph, index: int) -> np.ndarray | None:
    if index < 0:
        return None
    return graph.tensors[index].data


def _read_count(graph: Graph) -> dict[int, int]:
    """How many op inputs (plus graph outputs) read each tensor."""
    count: dict[int, int] = {}
    for op in graph.ops:
        for i in op.inputs:
            if i >= 0:
                count[i] = count.get(i, 0) + 1
    for i in graph.outputs:
        count[i] = count.get(i, 0) + 1
    return count


def _same_quant(a: Quantization | None, b: Quantization | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return (a.scale.shape == b.scale.shape and bool(np.all(a.scale == b.scale))
            and bool(np.all(a.zero_point == b.zero_point)))


# ------------------------------------------------- 1. shape-constant folding

def _fold_shape(graph: Graph, op: Op, ins: list[np.ndarray | None]) -> np.ndarray | None:
    """SHAPE of a tensor whose shape is static (always so in a TFLite file)."""
    if len(op.inputs) != 1 or op.inputs[0] < 0:
        return None
    return np.array(graph.tensors[op.inputs[0]].shape, dtype=np.int64)


def _fold_strided_slice(graph: Graph, op: Op, ins: list[np.ndarray | None]) -> np.ndarray | None:
    """STRIDED_SLICE with begin/end/strides masks (no ellipsis or new axes)."""
    if len(ins) != 4 or any(a is None for a in ins):
        return None
    data, begin, end, strides = ins[0], ins[1].ravel(), ins[2].ravel(), ins[3].ravel()
    o = op.options
    if o.get("ellipsis_mask", 0) or o.get("new_axis_mask", 0):
        return None
    n = begin.size
    if end.size != n or strides.size != n or n > data.ndim or np.any(strides == 0):
        return None
    index: list[object] = []
    for axis in range(n):
        bit = 1 << axis
        b, e, s = int(begin[axis]), int(end[axis]), int(strides[axis])
        if o.get("offset", False):
            e = b + e
        if o.get("shrink_axis_mask", 0) & bit:
            if not -data.shape[axis] <= b < data.shape[axis]:
                return None
            index.append(b)
            continue
        index.append(slice(None if o.get("begin_mask", 0) & bit else b,
                           None if o.get("end_mask", 0) & bit else e, s))
    return np.asarray(data[tuple(index)])


def _fold_pack(graph: Graph, op: Op, ins: list[np.ndarray | None]) -> np.ndarray | None:
    if not ins or any(a is None for a in ins):
        return None
    if len({a.shape for a in ins}) != 1:
        return None
    axis = int(op.options.get("axis", 0))
    rank = ins[0].ndim + 1
    if not -rank <= axis < rank:
        return None
    return np.stack(ins, axis=axis)


def _fold_concatenation(graph: Graph, op: Op, ins: list[np.ndarray | None]) -> np.ndarray | None:
    if not ins or any(a is None for a in ins) or op.options.get("fused_activation_function", "NONE") != "NONE":
        return None
    rank = ins[0].ndim
    axis = int(op.options.get("axis", 0))
    if rank == 0 or not -rank <= axis < rank or any(a.ndim != rank for a in ins):
        return None
    axis %= rank
    if len({a.shape[:axis] + a.shape[axis + 1:] for a in ins}) != 1:
        return None
    return np.concatenate(ins, axis=axis)


def _fold_gather(graph: Graph, op: Op, ins: list[np.ndarray | None]) -> np.ndarray | None:
    if len(ins) != 2 or any(a is None for a in ins) or op.options.get("batch_dims", 0):
        return None
    params, indices = ins
    axis = int(op.options.get("axis", 0))
    if params.ndim == 0 or not -params.ndim <= axis < params.ndim:
        return None
    axis %= params.ndim
    if indices.size and (indices.min() < 0 or indices.max() >= params.shape[axis]):
        return None
    return np.take(params, indices.astype(np.int64), axis=axis)


_FOLDERS = {
    "SHAPE": _fold_shape,
    "STRIDED_SLICE": _fold_strided_slice,
    "PACK": _fold_pack,
    "CONCATENATION": _fold_concatenation,
    "GATHER": _fold_gather,
}


def fold_shape_constants(graph: Graph, label: str | None = None) -> int:
    """Replace shape arithmetic on constants by its constant result.

    Ops run in file order, so one pass folds chains (SHAPE -> STRIDED_SLICE ->
    PACK). A folded op is removed and its output tensor gets `data`; a result
    whose shape disagrees with the declared output shape is a format error.
    """
    graph_outputs = set(graph.outputs)
    kept: list[Op] = []
    folded = 0
    for op in graph.ops:
        fold = _FOLDERS.get(op.type)
        out = graph.tensors[op.outputs[0]] if len(op.outputs) == 1 else None
        if (fold is None or out is None or out.dtype not in _SHAPE_DTYPES or out.is_constant
                or out.index in graph_outputs or any(i < 0 for i in op.inputs)):
            kept.append(op)
            continue
        ins = [_const(graph, i) for i in op.inputs]
        if op.type != "SHAPE" and any(a is None for a in ins):
            kept.append(op)
            continue
        if op.type != "SHAPE" and any(a.dtype.kind not in "iu" for a in ins if a is not None):
            kept.append(op)
            continue
        value = fold(graph, op, ins)
        if value is None or value.size > _MAX_FOLDED_ELEMENTS:
            kept.append(op)
            continue
        if tuple(value.shape) != tuple(out.shape):
            raise ModelFormatError(
                f"{_where(graph, op, label)}: computes shape {shape_str(value.shape)} but its output tensor "
                f"'{out.name}' is declared {shape_str(out.shape)}")
        info = np.iinfo(out.dtype)
        if value.size and (value.min() < info.min or value.max() > info.max):
            kept.append(op)
            continue
        out.data = value.astype(out.dtype)
        folded += 1
    graph.ops = kept
    return folded


# ------------------------------------------------ 2. dilated convolutions

def _dilated_padding(in_size: int, out_size: int, block: int, pad: tuple[int, int],
                     crop: tuple[int, int], kernel: int) -> set[str]:
    """Which TFLM padding modes reproduce one spatial axis of S2B -> conv -> B2S.

    With a VALID, stride-1 inner convolution, uncropped output position j reads
    padded input positions j + block*t (t < kernel). After cropping, output i
    reads input position i + crop_before - pad_before + block*t, so the fused
    convolution has dilation `block` and pads `pad_before - crop_before` in
    front. TFLM's SAME pads (effective_kernel - 1) // 2 in front and keeps the
    size; VALID pads nothing and gives in - effective_kernel + 1.
    """
    padded = in_size + pad[0] + pad[1]
    if block < 1 or kernel < 1 or padded % block:
        return set()
    if padded - block * (kernel - 1) - crop[0] - crop[1] != out_size:
        return set()
    front = pad[0] - crop[0]
    effective = (kernel - 1) * block + 1
    modes = set()
    if out_size == in_size and front == (effective - 1) // 2:
        modes.add("SAME")
    if out_size == in_size - effective + 1 and front == 0 and out_size > 0:
        modes.add("VALID")
    return modes


def _match_dilated(graph: Graph, s2b: Op, reads: dict[int, int]) -> tuple[Op, Op, dict] | None:
    """Return (conv, b2s, new options) when s2b starts a fusable dilated conv."""
    if len(s2b.inputs) != 3 or len(s2b.outputs) != 1:
        return None
    x = graph.tensors[s2b.inputs[0]] if s2b.inputs[0] >= 0 else None
    block, pads = _const(graph, s2b.inputs[1]), _const(graph, s2b.inputs[2])
    if x is None or block is None or pads is None or len(x.shape) != 4:
        return None
    if block.shape != (2,) or pads.shape != (2, 2):
        return None
    mid = s2b.outputs[0]
    if reads.get(mid, 0) != 1:
        return None
    conv = next((op for op in graph.ops if mid in op.inputs), None)
    if conv is None or conv.type not in ("CONV_2D", "DEPTHWISE_CONV_2D") or conv.inputs[0] != mid:
        return None
    if len(conv.outputs) != 1 or len(conv.inputs) < 2 or conv.inputs[1] < 0:
        return None
    o = conv.options
    if (o.get("padding") != "VALID" or o.get("stride_h", 1) != 1 or o.get("stride_w", 1) != 1
            or o.get("dilation_h_factor", 1) != 1 or o.get("dilation_w_factor", 1) != 1):
        return None
    conv_out = conv.outputs[0]
    if reads.get(conv_out, 0) != 1:
        return None
    b2s = next((op for op in graph.ops if conv_out in op.inputs), None)
    if b2s is None or b2s.type != "BATCH_TO_SPACE_ND" or len(b2s.inputs) != 3 or len(b2s.outputs) != 1:
        return None
    if b2s.inputs[0] != conv_out:
        return None
    block2, crops = _const(graph, b2s.inputs[1]), _const(graph, b2s.inputs[2])
    if block2 is None or crops is None or crops.shape != (2, 2) or not np.array_equal(block, block2):
        return None
    y = graph.tensors[b2s.outputs[0]]
    t_mid, t_conv = graph.tensors[mid], graph.tensors[conv_out]
    # S2B / B2S copy bytes: the fused conv must see the same quantization.
    if x.dtype != t_mid.dtype or y.dtype != t_conv.dtype:
        return None
    if not _same_quant(x.quant, t_mid.quant) or not _same_quant(y.quant, t_conv.quant):
        return None
    if len(y.shape) != 4 or y.shape[0] != x.shape[0]:
        return None
    filt = graph.tensors[conv.inputs[1]]
    if len(filt.shape) != 4:
        return None
    modes = None
    for axis in (0, 1):
        m = _dilated_padding(x.shape[1 + axis], y.shape[1 + axis], int(block[axis]),
                             (int(pads[axis][0]), int(pads[axis][1])),
                             (int(crops[axis][0]), int(crops[axis][1])), filt.shape[1 + axis])
        modes = m if modes is None else modes & m
    if not modes:
        return None
    return conv, b2s, {
        "padding": "VALID" if "VALID" in modes else "SAME",
        "dilation_h_factor": int(block[0]),
        "dilation_w_factor": int(block[1]),
    }


def fuse_dilated_convolutions(graph: Graph) -> int:
    """Rewrite SPACE_TO_BATCH_ND -> (DEPTHWISE_)CONV_2D -> BATCH_TO_SPACE_ND as one dilated conv.

    The fused conv reads the S2B input and writes the B2S output. Golden
    caveat (measured): TFLM does not resize the intermediate tensors, whose
    static batch the converter writes as 1, so on the original file it
    computes only the outputs at block-phase (0, 0) and pads with an
    uninitialised value; the fused conv computes what TensorFlow means (zero
    padding in real terms, i.e. the input zero point).
    """
    fused = 0
    while True:
        reads = _read_count(graph)
        for s2b in graph.ops:
            if s2b.type != "SPACE_TO_BATCH_ND":
                continue
            match = _match_dilated(graph, s2b, reads)
            if match is None:
                continue
            conv, b2s, fields = match
            conv.inputs[0] = s2b.inputs[0]
            conv.outputs = [b2s.outputs[0]]
            for key, value in fields.items():
                setattr(conv.options, key, value)
            graph.ops = [op for op in graph.ops if op is not s2b and op is not b2s]
            fused += 1
            break
        else:
            return fused


# ----------------------------------------------------- 3. RESHAPE targets

def normalise_reshapes(graph: Graph, label: str | None = None) -> int:
    """Make every RESHAPE read one input; its target is its output tensor's shape.

    TFLM's reshape takes the output tensor's dims (turning the legacy [0] of a
    one-input RESHAPE into a scalar) and only checks the element count; it
    never reads the shape input. The same is done here, once, and the target
    is also recorded as `options.new_shape`.
    """
    changed = 0
    for op in graph.ops:
        if op.type != "RESHAPE":
            continue
        where = _where(graph, op, label)
        if not 1 <= len(op.inputs) <= 2 or len(op.outputs) != 1 or op.inputs[0] < 0:
            raise ModelFormatError(f"{where}: needs 1 or 2 inputs and 1 output, "
                                   f"has {len(op.inputs)} and {len(op.outputs)}")
        src, out = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
        if len(op.inputs) == 1 and out.shape == (0,):
            out.shape = ()
        if src.size != out.size:
            raise ModelFormatError(f"{where}: reshapes {shape_str(src.shape)} ({src.size} elements) to "
                                   f"{shape_str(out.shape)} ({out.size} elements)")
        if src.dtype != out.dtype:
            raise ModelFormatError(f"{where}: input is {src.dtype} but output is {out.dtype}")
        op.inputs = [op.inputs[0]]
        op.options = type(op.options)(op.type, new_shape=list(out.shape))
        changed += 1
    return changed


# ------------------------------------------------------------ 4. dead ops

def remove_dead_ops(graph: Graph) -> int:
    """Drop ops none of whose outputs is read by another op or is a graph output."""
    removed = 0
    while True:
        reads = _read_count(graph)
        live = [op for op in graph.ops if any(reads.get(i, 0) for i in op.outputs)]
        if len(live) == len(graph.ops):
            return removed
        removed += len(graph.ops) - len(live)
        graph.ops = live


__all__ = ["clean_graph", "fold_shape_constants", "fuse_dilated_convolutions", "normalise_reshapes",
           "remove_dead_ops"]
