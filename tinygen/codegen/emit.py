"""The C emitter: Graph + derived params + arena plan -> a firmware project.

    project = build_model_code(graph, backend="portable", target="host", model_hash=...)
    generate_project(model_path, out_dir, target="host", backend="portable", force=False)

`build_model_code` lowers every op through the backend (one layer function per
op, constant arrays named after the layer) and returns a `ModelCode` with the
plan and memory figures; `generate_project` renders the Jinja2 templates in
templates/project/ (+ the target's linker script) and copies the firmware
sources the project needs (firmware/common, the kernels used, the board files)
so the directory builds on its own with `make` or CMake.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import numpy as np

from tinygen import __version__
from tinygen.codegen.lowering import (CTYPES, Layer, LayerContext, get_backend, layer_names,
                                      tensor_summary)
from tinygen.codegen.names import c_comment, c_identifier, c_string, c_string_lines, short_name
from tinygen.codegen.planner import ArenaPlan, plan_arena
from tinygen.errors import TinygenError
from tinygen.model.ir import Graph, shape_str
from tinygen.paths import FIRMWARE_DIR, TEMPLATES_DIR
from tinygen.quant.params import derive_params
from tinygen.targets import Target, get_target

PROJECT_TEMPLATES = TEMPLATES_DIR / "project"
COMMON_FILES = ("common/board.h", "common/protocol.h", "common/protocol.c", "common/tg_main.c")
KERNEL_HEADERS = ("kernels/tg_kernels.h", "kernels/tg_broadcast.h")
METADATA_FILE = "tinygen.json"


@dataclass
class ModelCode:
    graph: Graph
    name: str                 # C identifier
    macro: str                # upper-case prefix
    backend: str
    target: Target
    plan: ArenaPlan
    layers: list[Layer]       # in execution order, alias-only layers included
    model_hash: str           # 16 hex digits
    kernels: list[str] = field(default_factory=list)   # firmware-relative kernel sources
    backend_build: dict = field(default_factory=dict)

    @property
    def code_layers(self) -> list[Layer]:
        return [l for l in self.layers if not l.alias_only]

    @property
    def weight_bytes(self) -> int:
        return sum(a.nbytes for l in self.layers for a in l.arrays)

    @property
    def arena_bytes(self) -> int:
        return self.plan.arena_bytes


def model_hash_of_file(path: str | Path) -> str:
    """The model identity: the first 8 bytes of the file's SHA-256, as 16 hex digits."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def _io_tensor(graph: Graph, index: int) -> dict:
    t = graph.tensors[index]
    return {
        "name": t.name,
        "shape": [int(d) for d in t.shape],
        "dtype": t.dtype,
        "scale": float(t.quant.single_scale) if t.quant is not None else None,
        "zero_point": int(t.quant.single_zero_point) if t.quant is not None else None,
        "bytes": int(t.nbytes),
    }


def memory_figures(graph: Graph, backend: str = "portable") -> dict:
    """arena_bytes, ideal_peak, weight_bytes of `graph` under `backend` (for `tinygen inspect`)."""
    code = build_model_code(graph, backend=backend, target="host", model_hash="0" * 16)
    return {"arena_bytes": code.arena_bytes, "ideal_peak_bytes": code.plan.ideal_peak,
            "weight_bytes": code.weight_bytes, "backend": backend}


def build_model_code(graph: Graph, backend: str = "portable", target: str | Target = "host",
                     model_hash: str = "0" * 16, params: dict | None = None) -> ModelCode:
    be = get_backend(backend)
    tgt = target if isinstance(target, Target) else get_target(target)
    be = be.for_target(tgt)
    if not graph.inputs or not graph.outputs:
        raise TinygenError("model has no inputs or no outputs")
    if len(set(graph.outputs)) != len(graph.outputs) or set(graph.inputs) & set(graph.outputs):
        raise TinygenError("model lists a tensor twice among its inputs/outputs")
    for idx in graph.outputs:
        if graph.tensors[idx].is_constant:
            raise TinygenError(f"model output '{graph.tensors[idx].name}' is a constant")
    for idx in list(graph.inputs) + list(graph.outputs):
        t = graph.tensors[idx]
        if t.dtype not in ("int8", "uint8", "int16", "float32"):
            raise TinygenError(f"model {'input' if idx in graph.inputs else 'output'} '{t.name}' is {t.dtype}; "
                               "generated code takes int8/uint8/int16/float32 inputs and outputs")
    params = params if params is not None else derive_params(graph)
    for op in graph.ops:
        be.module(op)  # UnsupportedOpError early, naming the op
    scratch = {op.index: be.scratch_bytes(graph, op, params[op.index]) for op in graph.ops}
    plan = plan_arena(graph, scratch=scratch, in_place_ok=be.in_place_ok,
                      overlap=lambda op: be.overlap(graph, op, params[op.index]))
    name = c_identifier(graph.name)
    arena_symbol = f"{name}_arena"
    names = layer_names(graph, plan.order)
    ops = {op.index: op for op in graph.ops}
    layers: list[Layer] = []
    kernels: list[str] = []
    for step, op_index in enumerate(plan.order):
        op = ops[op_index]
        layer = Layer(op=op, name=names[op_index], step=step)
        mod = be.module(op)
        ctx = LayerContext(graph, plan, arena_symbol, layer)
        mod.lower(ctx, op, params[op_index])
        if not layer.kernels:
            layer.kernels = tuple(getattr(mod, "KERNELS", ()))
        for k in layer.kernels:
            path = f"{be.kernel_root}/{k}"
            if path not in kernels:
                kernels.append(path)
        layers.append(layer)
    return ModelCode(graph=graph, name=name, macro=name.upper(), backend=backend, target=tgt, plan=plan,
                     layers=layers, model_hash=model_hash, kernels=kernels, backend_build=be.project_files(layers))


# ---------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------

def _format_array(values: np.ndarray, per_line: int) -> list[str]:
    flat = values.reshape(-1)
    if values.dtype == np.int32:
        items = ["INT32_MIN" if v == -(1 << 31) else str(v) for v in flat.tolist()]
    elif values.dtype == np.float32:
        items = [f"{v!r}f" for v in flat.tolist()]
    else:
        items = [str(v) for v in flat.tolist()]
    return [", ".join(items[i:i + per_line]) + "," for i in range(0, len(items), per_line)]


def _layer_header(code: ModelCode, layer: Layer) -> list[str]:
    g = code.graph
    op = layer.op
    lines = [f"Layer {layer.step}: {layer.name} -- {op.type} (op {op.index} in the model file)"]
    for role, indices in (("in ", op.inputs), ("out", op.outputs)):
        for i in indices:
            if i < 0:
                continue
            t = g.tensors[i]
            where = "constant" if t.is_constant else f"arena[{code.plan.tensor_offset(i)}..+{t.nbytes})"
            lines.append(f"  {role} {tensor_summary(t):<44} {where}  '{c_comment(short_name(t.name))}'")
    if layer.op.index in code.plan.in_place:
        lines.append("  runs in place: the output overwrites an input that dies here")
    for h in layer.header:
        lines.append(f"  {c_comment(h)}")
    sb = code.plan.scratch_buffer(op.index)
    if sb is not None:
        lines.append(f"  scratch arena[{sb.offset}..+{sb.size})")
    return lines


def _dead_regions(code: ModelCode) -> list[list[tuple[int, int]]]:
    """Per code layer k (and one entry before the first): arena ranges holding nothing still needed."""
    plan = code.plan

    def free_after(step: int) -> list[tuple[int, int]]:
        live = sorted((b.offset, b.offset + b.size) for b in plan.buffers if b.first <= step < b.last)
        out, cursor = [], 0
        for lo, hi in live:
            if lo > cursor:
                out.append((cursor, lo - cursor))
            cursor = max(cursor, hi)
        if cursor < plan.arena_bytes:
            out.append((cursor, plan.arena_bytes - cursor))
        return out

    regions = [free_after(-1)]
    for layer in code.code_layers:
        regions.append(free_after(layer.step))
    return regions


def _info_json(code: ModelCode) -> str:
    g = code.graph
    info = {
        "name": code.name,
        "hash": code.model_hash,
        "backend": code.backend,
        "target": code.target.name,
        "arena_bytes": code.arena_bytes,
        "weight_bytes": code.weight_bytes,
        "inputs": [_io_tensor(g, i) for i in g.inputs],
        "outputs": [_io_tensor(g, i) for i in g.outputs],
        "input_bytes": sum(g.tensors[i].nbytes for i in g.inputs),
        "output_bytes": sum(g.tensors[i].nbytes for i in g.outputs),
        "layers": [{"name": l.name, "op": l.op.type} for l in code.code_layers],
        "tinygen": __version__,
    }
    return json.dumps(info, separators=(",", ":"))


def _arena_table(code: ModelCode) -> list[dict]:
    g = code.graph
    rows = []
    for b in sorted(code.plan.buffers, key=lambda b: (b.offset, b.first)):
        if b.kind == "scratch":
            what = b.label
        else:
            what = ", ".join(f"'{short_name(g.tensors[t].name)}' {shape_str(g.tensors[t].shape)}" for t in b.tensors)
        rows.append({"offset": b.offset, "size": b.size, "first": b.first, "last": b.last,
                     "what": c_comment(what)})
    return rows


def _overlap_notes(code: ModelCode) -> list[str]:
    """One line per op whose output overlaps the input it consumes."""
    names = {l.op.index: l.name for l in code.layers}
    by_buffer = {}
    for layer in code.layers:
        for t in layer.op.outputs:
            by_buffer.setdefault(code.plan.tensor_buffer.get(t), layer)
    notes = []
    for (bi, bo), d in sorted(code.plan.overlaps.items(), key=lambda kv: code.plan.buffers[kv[0][1]].first):
        a, b = code.plan.buffers[bi], code.plan.buffers[bo]
        if a.offset < b.offset + b.size and b.offset < a.offset + a.size:
            layer = by_buffer.get(bo)
            who = names.get(layer.op.index, "?") if layer is not None else "?"
            notes.append(f"{who}: output arena[{b.offset}..+{b.size}) overlaps its input arena[{a.offset}..+{a.size}) "
                         f"(allowed down to {d} bytes below the input: it only overwrites input already used)")
    return notes


def _env() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader([str(TEMPLATES_DIR)]), trim_blocks=True,
                             lstrip_blocks=True, keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
    env.filters["c_string"] = c_string
    env.filters["c_comment"] = c_comment
    env.filters["c_string_lines"] = c_string_lines
    return env


def render_project(code: ModelCode) -> dict[str, str]:
    """File name -> contents of every generated text file."""
    g = code.graph
    tin, tout = g.tensors[g.inputs[0]], g.tensors[g.outputs[0]]
    info_json = _info_json(code)
    arrays = [a for l in code.layers for a in l.arrays]
    board_sources = [s for s in code.target.board_sources]
    sources = (["model.c", "model_data.c", "firmware/common/tg_main.c", "firmware/common/protocol.c"]
               + [f"firmware/{k}" for k in code.kernels if k.endswith(".c")]
               + [f"firmware/{s}" for s in board_sources if s.endswith((".c", ".s", ".S"))]
               + list(code.backend_build.get("sources", [])))
    ctx = {
        "version": __version__,
        "code": code,
        "name": code.name,
        "NAME": code.macro,
        "graph": g,
        "target": code.target,
        "backend": code.backend,
        "model_hash": code.model_hash,
        "input": tin, "output": tout,
        "inputs": [g.tensors[i] for i in g.inputs], "outputs": [g.tensors[i] for i in g.outputs],
        "input_total": sum(g.tensors[i].nbytes for i in g.inputs),
        "output_total": sum(g.tensors[i].nbytes for i in g.outputs),
        "input_ctype": CTYPES[tin.dtype], "output_ctype": CTYPES[tout.dtype],
        "input_shape": shape_str(tin.shape), "output_shape": shape_str(tout.shape),
        "input_offset": code.plan.tensor_offset(tin.index),
        "output_offset": code.plan.tensor_offset(tout.index),
        "layers": code.code_layers,
        "all_layers": code.layers,
        "headers": {l.name: _layer_header(code, l) for l in code.layers},
        "arrays": arrays,
        "format_array": _format_array,
        "arena_table": _arena_table(code),
        "overlap_notes": _overlap_notes(code),
        "dead_regions": _dead_regions(code),
        "info_json": info_json,
        "plan": code.plan,
        "weight_bytes": code.weight_bytes,
        "sources": sources,
        "include_dirs": ["firmware/common", "firmware/kernels"] + list(code.backend_build.get("include_dirs", [])),
        "defines": list(code.backend_build.get("defines", [])),
        "make_vars": dict(code.backend_build.get("make_vars", {})),
        "firmware_name": code.target.firmware_name,
    }
    env = _env()
    files = {}
    for tpl, out in (("model.h.j2", "model.h"), ("model.c.j2", "model.c"), ("model_data.h.j2", "model_data.h"),
                     ("model_data.c.j2", "model_data.c"), ("Makefile.j2", "Makefile"),
                     ("CMakeLists.txt.j2", "CMakeLists.txt"), ("README.md.j2", "README.md")):
        files[out] = env.get_template(f"project/{tpl}").render(**ctx)
    if code.target.linker_script:
        files["linker.ld"] = env.get_template(code.target.linker_script).render(**ctx)
    meta = {
        "tinygen": __version__, "model": code.name, "model_hash": code.model_hash, "target": code.target.name,
        "target_kind": code.target.kind, "backend": code.backend, "arena_bytes": code.arena_bytes,
        "ideal_peak_bytes": code.plan.ideal_peak, "weight_bytes": code.weight_bytes,
        "firmware": f"build/{code.target.firmware_name}",
        "inputs": [_io_tensor(g, i) for i in g.inputs], "outputs": [_io_tensor(g, i) for i in g.outputs],
        "layers": [l.name for l in code.code_layers],
    }
    files[METADATA_FILE] = json.dumps(meta, indent=2) + "\n"
    return files


def _check_out_dir(out_dir: Path, force: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise TinygenError(f"{out_dir} exists and is not a directory")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not force:
        raise TinygenError(f"{out_dir} exists and is not empty (use --force to overwrite)")


def write_project(code: ModelCode, out_dir: str | Path, force: bool = False) -> list[Path]:
    out_dir = Path(out_dir)
    _check_out_dir(out_dir, force)
    files = render_project(code)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for rel, text in files.items():
        p = out_dir / rel
        p.write_text(text)
        written.append(p)
    copies = list(COMMON_FILES) + list(KERNEL_HEADERS) + list(code.kernels) + list(code.target.board_sources)
    copies += list(code.backend_build.get("firmware_files", []))
    for rel in dict.fromkeys(copies):
        src = FIRMWARE_DIR / rel
        if not src.exists():
            raise TinygenError(f"tinygen installation is missing firmware/{rel}")
        dst = out_dir / "firmware" / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
        written.append(dst)
    return written


def generate_project(model_path: str | Path, out_dir: str | Path, target: str = "host",
                     backend: str = "portable", force: bool = False, graph: Graph | None = None) -> ModelCode:
    """Read, plan, lower and write the project for one model file."""
    from tinygen.model import load_model

    _check_out_dir(Path(out_dir), force)
    model_path = Path(model_path)
    if not model_path.is_file():
        raise TinygenError(f"model file not found: {model_path}")
    graph = graph if graph is not None else load_model(model_path)
    code = build_model_code(graph, backend=backend, target=target, model_hash=model_hash_of_file(model_path))
    write_project(code, out_dir, force=force)
    return code
