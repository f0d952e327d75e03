"""The static memory planner (tinygen/codegen/planner.py).

- no two buffers alive at the same step overlap, on real models and on random
  branching graphs;
- on every shared model the arena equals the layer-by-layer ideal peak (the
  planner never uses more than the live tensors of the worst step need);
- RESHAPE aliases its input, ADD runs in place when an input dies;
- the arenas beat TFLM's (<= 0.95x each, <= 0.70x summed).
The garbage-fill check of the plan (TG_POISON_DEAD) runs in test_codegen_models.py.
"""
from __future__ import annotations

import numpy as np
import pytest

from conftest import MODELS
from tinygen.codegen.planner import plan_arena
from tinygen.model import load_model
from tinygen.model.ir import Graph, Op, Options, Tensor

# Arena sizes of TFLM + CMSIS-NN (measured with TFLM's recording allocator, see the project brief).
TFLM_ARENA = {"mlperf_tiny_kws_dscnn": 22820, "mlperf_tiny_vww_96": 100708, "mlperf_tiny_ic_resnet8": 54996,
              "mlperf_tiny_ad_fc": 2580}


def _align(n, a=4):
    return (n + a - 1) // a * a


def _aligned_ideal(plan) -> int:
    return max(sum(_align(b.size, plan.alignment) for b in plan.live_at(s)) for s in range(-1, plan.n_steps + 1))


def _models():
    if not MODELS.is_dir():
        pytest.skip(f"shared models folder {MODELS} is absent (tests read real models from ../shared)")
    return sorted(MODELS.glob("*.tflite"))


def test_shared_models_plans_are_valid_and_ideal():
    for path in _models():
        g = load_model(path)
        plan = plan_arena(g)
        plan.check()
        assert plan.ideal_peak <= plan.arena_bytes <= _aligned_ideal(plan), path.name
        # every activation tensor has a place
        for t in g.tensors:
            if not t.is_constant and any(t.index in op.inputs or t.index in op.outputs for op in g.ops):
                assert t.index in plan.tensor_buffer, (path.name, t.name)


def test_reshape_aliases_and_add_in_place():
    paths = {p.stem: p for p in _models()}
    g = load_model(paths["mlperf_tiny_ic_resnet8"])
    plan = plan_arena(g)
    for op in g.ops:
        if op.type == "RESHAPE":
            assert plan.tensor_offset(op.inputs[0]) == plan.tensor_offset(op.outputs[0])
    adds = [op for op in g.ops if op.type == "ADD"]
    assert adds and all(op.index in plan.in_place for op in adds)
    for op in adds:
        assert plan.tensor_offset(op.outputs[0]) in {plan.tensor_offset(i) for i in op.inputs}


def test_arenas_beat_tflm():
    paths = {p.stem: p for p in _models()}
    ours = {}
    for name, tflm in TFLM_ARENA.items():
        ours[name] = plan_arena(load_model(paths[name])).arena_bytes
        assert ours[name] <= 0.95 * tflm, (name, ours[name], tflm)
    assert sum(ours.values()) <= 0.70 * sum(TFLM_ARENA.values()), ours


def _random_graph(rng: np.random.Generator, n_ops: int) -> Graph:
    """A random DAG of ops with activation tensors of random sizes (elementwise ADDs included)."""
    tensors = [Tensor(0, "in", (int(rng.integers(1, 300)),), "int8")]
    ops = []
    for k in range(n_ops):
        avail = list(range(len(tensors)))
        kind = rng.choice(["CONV_2D", "ADD", "RESHAPE", "LOGISTIC"])
        a = int(rng.choice(avail[-4:]))
        if kind == "ADD":
            b = int(rng.choice(avail))
            shape = tensors[a].shape
            if tensors[b].shape != shape:
                b = a
            ins = [a, b] if b != a else [a, a]
        else:
            ins = [a]
            shape = tensors[a].shape if kind in ("LOGISTIC", "RESHAPE") else (int(rng.integers(1, 300)),)
        out = Tensor(len(tensors), f"t{len(tensors)}", shape, "int8")
        tensors.append(out)
        ops.append(Op(k, str(kind), ins, [out.index], Options(str(kind))))
    consumed = {i for op in ops for i in op.inputs}
    outputs = [t.index for t in tensors[1:] if t.index not in consumed][:3] or [tensors[-1].index]
    return Graph("random", tensors, ops, [0], outputs)


@pytest.mark.parametrize("seed", range(40))
def test_random_graphs_never_overlap(seed):
    rng = np.random.default_rng(seed)
    g = _random_graph(rng, int(rng.integers(2, 25)))
    scratch = {op.index: int(rng.integers(0, 100)) for op in g.ops if rng.random() < 0.3}
    plan = plan_arena(g, scratch=scratch)
    plan.check()
    assert plan.arena_bytes >= plan.ideal_peak
    # the order is topological
    done = set(g.inputs)
    ops = {op.index: op for op in g.ops}
    for i in plan.order:
        assert set(ops[i].inputs) <= done
        done.update(ops[i].outputs)
    # graph outputs live to the end, scratch only during its op
    for t in g.outputs:
        assert plan.buffers[plan.tensor_buffer[t]].last == plan.n_steps
    for b in plan.buffers:
        if b.kind == "scratch":
            assert b.first == b.last == plan.order.index(b.op_index)


def _simulate_window_op(in_shape, out_shape, kh, kw, sh, sw, pt, pl, dh, dw, d):
    """Replay a sliding-window kernel's memory traffic with the output D bytes below the input
    (input bytes of a pixel's window are read while its output channels are being written):
    returns True when no read ever sees a byte the kernel already overwrote."""
    n, h, w, ci = in_shape
    _, oh, ow, co = out_shape
    in_base = d if d > 0 else 0
    out_base = in_base - d
    clobbered = set()
    p = 0
    for b in range(n):
        for oy in range(oh):
            for ox in range(ow):
                reads = set()
                for ky in range(kh):
                    iy = oy * sh - pt + ky * dh
                    for kx in range(kw):
                        ix = ox * sw - pl + kx * dw
                        if 0 <= iy < h and 0 <= ix < w:
                            start = in_base + ((b * h + iy) * w + ix) * ci
                            reads.update(range(start, start + ci))
                # a kernel may write some of pixel p's channels before it has read p's whole
                # window again (one channel block at a time), so p's own writes count too
                clobbered.update(range(out_base + p * co, out_base + (p + 1) * co))
                if reads & clobbered:
                    return False
                p += 1
    return True


@pytest.mark.parametrize("seed", range(60))
def test_window_overlap_distance_is_safe_and_tight(seed):
    from tinygen.codegen.backends.portable.conv_common import window_overlap
    from tinygen.quant.params import compute_padding

    rng = np.random.default_rng(seed)
    kh, kw = int(rng.integers(1, 5)), int(rng.integers(1, 5))
    sh, sw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    dh, dw = (1, 1) if rng.random() < 0.7 else (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
    h, w = int(rng.integers(kh * dh, 12)), int(rng.integers(kw * dw, 12))
    ci, co = int(rng.integers(1, 6)), int(rng.integers(1, 6))
    padding = "SAME" if rng.random() < 0.5 else "VALID"
    oh, pt, _ = compute_padding(h, kh, sh, dh, padding)
    ow, pl, _ = compute_padding(w, kw, sw, dw, padding)
    in_shape, out_shape = (1, h, w, ci), (1, oh, ow, co)
    d = window_overlap(in_shape, out_shape, kh, kw, sh, sw, pt, pl, dh, dw)
    assert _simulate_window_op(in_shape, out_shape, kh, kw, sh, sw, pt, pl, dh, dw, d)
    # one byte closer and some write lands on input still to be read
    assert not _simulate_window_op(in_shape, out_shape, kh, kw, sh, sw, pt, pl, dh, dw, d - 1)


def test_overlap_shrinks_the_shared_models():
    """Overlapping each op's output with its consumed input goes below the layer-by-layer peak."""
    from tinygen.codegen.emit import build_model_code

    paths = {p.stem: p for p in _models()}
    for name in ("mlperf_tiny_kws_dscnn", "mlperf_tiny_vww_96", "mlperf_tiny_ic_resnet8"):
        code = build_model_code(load_model(paths[name]))
        assert code.plan.overlaps and code.arena_bytes < code.plan.ideal_peak, name
        code.plan.check()
