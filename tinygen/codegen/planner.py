"""Static memory planning: every activation and scratch buffer at a fixed offset
in ONE arena.

Steps
1. Buffers. Tensors that share memory form one buffer: RESHAPE / SQUEEZE /
   EXPAND_DIMS outputs alias their input (no copy, no code). Constant tensors
   live in flash and are not planned.
2. Order. Any topological order is a valid schedule; for branching graphs
   (ResNet) the order changes which tensors are alive together. The planner
   tries the file's order and a greedy one (at each step run the ready op that
   grows live memory least) and keeps the order whose plan is smaller.
3. In place. An elementwise op (LUT ops, same-shape ADD/SUB/MUL) writes its
   output over an input that dies at that op.
4. Offsets. Buffers whose lifetimes (first step .. last step) overlap must not
   overlap in memory; offsets are chosen greedily (largest first, best-fitting
   gap), with a few orderings tried, and the smallest arena kept.
5. Overlap. A backend may declare (`overlap(op)`) that its kernel for an op
   writes the output so that it may start D bytes below the input (sliding
   windows in row-major order never write over input they still have to
   read: see backends/portable/conv_common.window_overlap). When that input
   dies at the op, the two buffers may then overlap in memory; a first-fit
   placement that knows these pairs is tried too and kept when smaller. This
   takes the arena BELOW the layer-by-layer ideal peak (KWS: 10,136 B against
   16,000 B).

`ideal_peak` is the layer-by-layer figure: max over steps of the sum of the
buffers alive at that step. Without overlaps a planned arena is never below it
and, for the shared models, equal to it (up to alignment); with overlaps it is
below it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable

from tinygen.model.ir import Graph

ALIAS_OPS = frozenset({"RESHAPE", "SQUEEZE", "EXPAND_DIMS"})
# Ops whose output element i depends only on input element i (same shape): may run in place.
UNARY_ELEMENTWISE = frozenset({"LOGISTIC", "TANH", "RELU", "RELU6", "RELU_N1_TO_1", "LEAKY_RELU",
                               "HARD_SWISH", "QUANTIZE"})
BINARY_ELEMENTWISE = frozenset({"ADD", "SUB", "MUL"})


@dataclass
class Buffer:
    """One region of the arena: a tensor and its aliases, or an op's scratch."""

    id: int
    tensors: list[int]          # graph tensor indices living here (empty for scratch)
    size: int                   # bytes
    first: int                  # step that writes it first (-1: graph input, present before step 0)
    last: int                   # last step that reads it (n_steps: a graph output, read after the run)
    kind: str = "tensor"        # 'tensor' | 'scratch'
    op_index: int = -1          # scratch: the op that uses it
    offset: int = -1
    label: str = ""

    def overlaps_in_time(self, other: "Buffer") -> bool:
        return self.first <= other.last and other.first <= self.last


@dataclass
class ArenaPlan:
    order: list[int]                    # op indices in execution order
    buffers: list[Buffer]
    arena_bytes: int
    ideal_peak: int                     # max over steps of the live bytes (unaligned)
    alignment: int
    tensor_buffer: dict[int, int] = field(default_factory=dict)   # tensor index -> buffer id
    in_place: set[int] = field(default_factory=set)               # op indices that run in place
    strategy: str = ""
    # (input buffer id, output buffer id) -> D: the op's output may start D bytes below its
    # input's start (or anywhere lower): its kernel never writes over input it still has to read.
    overlaps: dict[tuple[int, int], int] = field(default_factory=dict)

    @property
    def n_steps(self) -> int:
        return len(self.order)

    def tensor_offset(self, tensor_index: int) -> int:
        return self.buffers[self.tensor_buffer[tensor_index]].offset

    def scratch_buffer(self, op_index: int) -> Buffer | None:
        for b in self.buffers:
            if b.kind == "scratch" and b.op_index == op_index:
                return b
        return None

    def live_at(self, step: int) -> list[Buffer]:
        return [b for b in self.buffers if b.first <= step <= b.last]

    def live_bytes(self, step: int) -> int:
        return sum(b.size for b in self.live_at(step))

    def live_after(self, step: int) -> list[Buffer]:
        """Buffers holding data still needed once `step` has finished."""
        return [b for b in self.buffers if b.first <= step < b.last]

    def check(self) -> None:
        """Assert that no two buffers alive together overlap (beyond what an overlapping
        op allows) and all fit the arena."""
        bs = self.buffers
        for i, a in enumerate(bs):
            assert 0 <= a.offset and a.offset + a.size <= self.arena_bytes, a
            for b in bs[i + 1:]:
                if a.overlaps_in_time(b):
                    assert _compatible(a, a.offset, b, b.offset, self.overlaps, 1), (a, b)


def _align(n: int, a: int) -> int:
    return (n + a - 1) // a * a


class _UnionFind:
    def __init__(self):
        self.parent: dict[int, int] = {}

    def find(self, x: int) -> int:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[rb] = ra


def _activation_inputs(graph: Graph, op) -> list[int]:
    return [i for i in op.inputs if i >= 0 and not graph.tensors[i].is_constant]


def _alias_groups(graph: Graph) -> _UnionFind:
    uf = _UnionFind()
    for op in graph.ops:
        if op.type in ALIAS_OPS:
            ins = _activation_inputs(graph, op)
            if ins:
                uf.union(ins[0], op.outputs[0])
    return uf


def _greedy_order(graph: Graph, uf: _UnionFind) -> list[int]:
    """Topological order that, at each step, runs the ready op adding the fewest live bytes."""
    ops = {op.index: op for op in graph.ops}
    producers = {}
    for op in graph.ops:
        for t in op.outputs:
            producers[t] = op.index
    deps = {i: {producers[t] for t in _activation_inputs(graph, op) if t in producers} for i, op in ops.items()}
    # remaining readers per alias group (graph outputs are read at the end)
    readers: dict[int, int] = {}
    for op in graph.ops:
        for t in set(_activation_inputs(graph, op)):
            readers[uf.find(t)] = readers.get(uf.find(t), 0) + 1
    for t in graph.outputs:
        readers[uf.find(t)] = readers.get(uf.find(t), 0) + 1
    size = {}
    for t in graph.tensors:
        if not t.is_constant:
            r = uf.find(t.index)
            size[r] = max(size.get(r, 0), t.nbytes)
    done: set[int] = set()
    order: list[int] = []
    while len(order) < len(ops):
        ready = [i for i in ops if i not in done and deps[i] <= done]
        best, best_key = None, None
        for i in ready:
            op = ops[i]
            grow = freed = 0
            if op.type not in ALIAS_OPS:
                grow = sum(size[uf.find(t)] for t in op.outputs)
                for t in set(uf.find(x) for x in _activation_inputs(graph, op)):
                    if readers.get(t, 0) == 1:
                        freed += size[t]
            key = (grow - freed, i)
            if best_key is None or key < best_key:
                best, best_key = i, key
        done.add(best)
        order.append(best)
        for t in set(uf.find(x) for x in _activation_inputs(graph, ops[best])):
            readers[t] -= 1
    return order


def _build_buffers(graph: Graph, order: list[int], uf: _UnionFind, scratch: dict[int, int],
                   in_place_ok: Callable | None) -> tuple[list[Buffer], dict[int, int], set[int]]:
    step_of = {op_index: s for s, op_index in enumerate(order)}
    n = len(order)
    ops = {op.index: op for op in graph.ops}
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    size: dict[int, int] = {}
    for t in graph.tensors:
        if not t.is_constant:
            r = uf.find(t.index)
            size[r] = max(size.get(r, 0), t.nbytes)
    for t in graph.inputs:
        first[uf.find(t)] = -1
    for s, op_index in enumerate(order):
        op = ops[op_index]
        for t in op.outputs:
            r = uf.find(t)
            first[r] = min(first.get(r, s), s)
        for t in _activation_inputs(graph, op):
            r = uf.find(t)
            last[r] = max(last.get(r, s), s)
    for t in graph.outputs:
        last[uf.find(t)] = n
    # In place: merge an elementwise op's output group into a dying input's group.
    in_place: set[int] = set()
    for s, op_index in enumerate(order):
        op = ops[op_index]
        if op.type not in UNARY_ELEMENTWISE | BINARY_ELEMENTWISE:
            continue
        if in_place_ok is not None and not in_place_ok(op):
            continue
        out = graph.tensors[op.outputs[0]]
        ro = uf.find(out.index)
        for t in _activation_inputs(graph, op):
            ti = graph.tensors[t]
            rt = uf.find(t)
            if rt == ro or tuple(ti.shape) != tuple(out.shape) or ti.dtype != out.dtype:
                continue
            if last.get(rt, -2) != s or op.inputs.count(t) > 1:
                continue  # the input is read later (or twice here): keep it
            # merge: the output lives where the input was
            merged = (first.pop(rt, s), first.pop(ro, s)), (last.pop(rt, s), last.pop(ro, s)), \
                (size.pop(rt, 0), size.pop(ro, 0))
            uf.union(rt, ro)
            r = uf.find(rt)
            first[r], last[r], size[r] = min(merged[0]), max(merged[1]), max(merged[2])
            in_place.add(op_index)
            break
    buffers: list[Buffer] = []
    tensor_buffer: dict[int, int] = {}
    members: dict[int, list[int]] = {}
    for t in graph.tensors:
        if not t.is_constant:
            members.setdefault(uf.find(t.index), []).append(t.index)
    for r in sorted(members):
        mem = members[r]
        if r not in first:
            if r not in last:
                continue  # neither produced nor read: nothing to place
            # read but never written (a variable/state tensor): lives for the whole run
            first[r], last[r] = -1, n
        b = Buffer(id=len(buffers), tensors=mem, size=size[r], first=first[r], last=last.get(r, first[r]))
        b.label = graph.tensors[mem[0]].name
        buffers.append(b)
        for t in mem:
            tensor_buffer[t] = b.id
    for op_index, nbytes in sorted(scratch.items()):
        if nbytes <= 0 or op_index not in step_of:
            continue
        s = step_of[op_index]
        buffers.append(Buffer(id=len(buffers), tensors=[], size=int(nbytes), first=s, last=s, kind="scratch",
                              op_index=op_index, label=f"scratch of op {op_index} ({ops[op_index].type})"))
    return buffers, tensor_buffer, in_place


def _place(buffers: list[Buffer], order_key: Callable[[Buffer], tuple], alignment: int) -> int:
    """Assign offsets in `order_key` order, each at the best-fitting free gap. Returns the arena size."""
    placed: list[Buffer] = []
    for b in sorted(buffers, key=order_key):
        size = _align(b.size, alignment)
        busy = sorted((p.offset, p.offset + _align(p.size, alignment)) for p in placed if p.overlaps_in_time(b))
        best_off, best_gap = None, None
        cursor = 0
        for lo, hi in busy:
            if lo - cursor >= size:
                gap = lo - cursor
                if best_gap is None or gap < best_gap:
                    best_off, best_gap = cursor, gap
            cursor = max(cursor, hi)
        if best_off is None:
            best_off = cursor
        b.offset = best_off
        placed.append(b)
    return max((b.offset + _align(b.size, alignment) for b in buffers), default=0)


def _compatible(b: Buffer, x: int, q: Buffer, qx: int, overlaps: dict, alignment: int) -> bool:
    """May buffer b at offset x share the arena with buffer q at qx while both are alive?"""
    sb, sq = _align(b.size, alignment), _align(q.size, alignment)
    if x + sb <= qx or qx + sq <= x:
        return True
    d = overlaps.get((q.id, b.id))
    if d is not None:  # b is the output of an op reading q
        return qx - x >= d
    d = overlaps.get((b.id, q.id))
    if d is not None:  # b is the input of an op writing q
        return x - qx >= d
    return False


def _place_overlapping(buffers: list[Buffer], order_key: Callable[[Buffer], tuple], alignment: int,
                       overlaps: dict) -> int:
    """First fit at the lowest feasible offset, where an op's output may overlap the part of its
    dying input it has already consumed (`overlaps`). Returns the arena size."""
    placed: list[Buffer] = []
    by_id = {b.id: b for b in buffers}
    for b in sorted(buffers, key=order_key):
        live = [q for q in placed if q.overlaps_in_time(b)]
        cands = {0}
        for q in live:
            cands.add(q.offset + _align(q.size, alignment))
        for (i, o), d in overlaps.items():
            if o == b.id and i in by_id and by_id[i].offset >= 0 and by_id[i] in live:
                x = (by_id[i].offset - d) // alignment * alignment
                if x >= 0:
                    cands.add(x)
            if i == b.id and o in by_id and by_id[o].offset >= 0 and by_id[o] in live:
                cands.add(_align(max(by_id[o].offset + d, 0), alignment))
        for x in sorted(cands):
            if all(_compatible(b, x, q, q.offset, overlaps, alignment) for q in live):
                b.offset = x
                break
        placed.append(b)
    return max((b.offset + _align(b.size, alignment) for b in buffers), default=0)


_STRATEGIES: dict[str, Callable[[Buffer], tuple]] = {
    "size": lambda b: (-b.size, b.first, b.id),
    "lifetime-size": lambda b: (-(b.last - b.first), -b.size, b.id),
    "area": lambda b: (-(b.size * (b.last - b.first + 1)), b.id),
    "first": lambda b: (b.first, -b.size, b.id),
    "reverse-time": lambda b: (-b.last, -b.first, -b.size, b.id),
}


def _ideal_peak(buffers: Iterable[Buffer], n_steps: int) -> int:
    buffers = list(buffers)
    return max((sum(b.size for b in buffers if b.first <= s <= b.last) for s in range(-1, n_steps + 1)), default=0)


def _overlap_pairs(graph: Graph, order: list[int], buffers: list[Buffer], tensor_buffer: dict[int, int],
                   overlap: Callable) -> dict[tuple[int, int], int]:
    ops = {op.index: op for op in graph.ops}
    pairs = {}
    for s, op_index in enumerate(order):
        op = ops[op_index]
        if op.type in ALIAS_OPS:
            continue
        res = overlap(op)
        if res is None:
            continue
        t_in, d = res
        if t_in not in tensor_buffer or op.outputs[0] not in tensor_buffer or op.inputs.count(t_in) != 1:
            continue
        bi, bo = tensor_buffer[t_in], tensor_buffer[op.outputs[0]]
        if bi == bo or buffers[bi].kind != "tensor" or buffers[bi].last != s or buffers[bo].first != s:
            continue  # the input is read later, or the output existed before
        pairs[(bi, bo)] = int(d)
    return pairs


def plan_arena(graph: Graph, scratch: dict[int, int] | None = None, alignment: int = 4,
               in_place_ok: Callable | None = None, order: list[int] | None = None,
               overlap: Callable | None = None) -> ArenaPlan:
    """Plan the arena of `graph`.

    scratch: {op.index: bytes} of per-op scratch buffers (a backend's kernels' needs).
    in_place_ok(op) -> bool: whether the backend's kernel for an elementwise op can write over its input.
    order: force an execution order (op indices); default: the best of the file's and a greedy order.
    overlap(op) -> (input tensor index, D) | None: the op's kernel writes its output in an order that
        lets the output start D bytes below the input's start (it never overwrites input it has yet
        to read); when that input dies at the op, the planner may overlap the two.
    """
    scratch = scratch or {}
    uf = _alias_groups(graph)
    if order is not None:
        candidates = {"given": list(order)}
    else:
        candidates = {"file": [op.index for op in graph.ops]}
        greedy = _greedy_order(graph, uf)
        if greedy != candidates["file"]:
            candidates["greedy"] = greedy
    best: ArenaPlan | None = None
    for order_name, cand in candidates.items():
        for strat_name, key in _STRATEGIES.items():
            for mode in ("disjoint", "overlap") if overlap is not None else ("disjoint",):
                buffers, tensor_buffer, in_place = _build_buffers(graph, cand, _alias_groups(graph), scratch,
                                                                  in_place_ok)
                pairs = {}
                if mode == "disjoint":
                    arena = _place(buffers, key, alignment)
                else:
                    pairs = _overlap_pairs(graph, cand, buffers, tensor_buffer, overlap)
                    if not pairs:
                        continue
                    arena = _place_overlapping(buffers, key, alignment, pairs)
                peak = _ideal_peak(buffers, len(cand))
                plan = ArenaPlan(order=cand, buffers=buffers, arena_bytes=arena, ideal_peak=peak,
                                 alignment=alignment, tensor_buffer=tensor_buffer, in_place=in_place,
                                 strategy=f"{order_name}/{strat_name}/{mode}", overlaps=pairs)
                if best is None or (plan.arena_bytes, plan.ideal_peak) < (best.arena_bytes, best.ideal_peak):
                    best = plan
    assert best is not None
    best.check()
    return best
