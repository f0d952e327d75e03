"""`tinygen inspect MODEL`: what is in a model, what it costs, and what tinygen can run.

Prints one row per layer (index, op, input/output shapes, quantization, MACs,
parameter bytes), the totals, and the ops tinygen does not support. `--json`
prints the same as one JSON object for scripts.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import click
import numpy as np

from tinygen.errors import TinygenError
from tinygen.model import load_model
from tinygen.model.ir import Graph, Op, Quantization, Tensor, shape_str
from tinygen.model.stats import graph_macs, graph_params_bytes, op_macs, op_params_bytes

BACKENDS = ("portable", "cmsis-nn", "dsp")


# ------------------------------------------------------------------ report

def _quant_json(q: Quantization | None) -> dict:
    if q is None:
        return {"scale": None, "zero_point": None}
    if q.per_channel:
        return {"scale": [float(s) for s in q.scale], "zero_point": [int(z) for z in q.zero_point],
                "axis": int(q.axis)}
    return {"scale": q.single_scale, "zero_point": q.single_zero_point}


def _tensor_json(t: Tensor) -> dict:
    return {"index": t.index, "name": t.name, "shape": list(t.shape), "dtype": t.dtype,
            "constant": t.is_constant, **_quant_json(t.quant)}


def _weights(graph: Graph, op: Op) -> Tensor | None:
    """The op's main constant operand (filter / weights), if it has one."""
    for i in op.inputs[1:2]:
        if i >= 0 and graph.tensors[i].is_constant:
            return graph.tensors[i]
    return None


def _activation_inputs(graph: Graph, op: Op) -> list[Tensor]:
    return [graph.tensors[i] for i in op.inputs if i >= 0 and not graph.tensors[i].is_constant]


def _quant_summary(graph: Graph, op: Op) -> str:
    """'out s=.. zp=..; w int8 per-channel[8]' (the parts that exist).

    The input's quantization is the producing layer's output one, so only the
    output and the weights are shown.
    """
    parts = []
    outs = graph.op_outputs(op)
    if outs and outs[0].quant is not None:
        parts.append(f"out {outs[0].quant.describe()}")
    w = _weights(graph, op)
    if w is not None:
        wq = "float" if w.quant is None else (f"per-channel[{w.quant.scale.size}]" if w.quant.per_channel
                                               else f"per-tensor zp={w.quant.single_zero_point}")
        parts.append(f"w {w.dtype} {wq}")
    return "; ".join(parts) or "-"


def _support_checker():
    """derive_op_params, or None while tinygen.quant.params is unavailable."""
    try:
        from tinygen.quant.params import derive_op_params
    except ImportError:
        return None
    return derive_op_params


def _memory_figures(graph: Graph, backend: str) -> dict:
    """HOOK for the code generator: memory figures for `backend`.

    Return e.g. {"arena_bytes": ..., "flash_bytes": ...}; every key is added to
    the JSON report and printed under the totals. Empty until the memory planner
    fills it.
    """
    from tinygen.codegen.emit import memory_figures

    try:
        return memory_figures(graph, backend)
    except TinygenError:  # an op the backend cannot generate: no figures to report
        return {}


def model_report(graph: Graph, backend: str = "portable") -> dict:
    """Everything `inspect` shows, as plain JSON-able data."""
    derive = _support_checker()
    ops, unsupported = [], []
    for op in graph.ops:
        supported, reason = None, ""
        if derive is not None:
            try:
                derive(graph, op)
                supported = True
            except TinygenError as exc:
                supported, reason = False, str(exc)
                unsupported.append({"index": op.index, "op": op.type, "reason": reason})
        ins = _activation_inputs(graph, op)
        ops.append({
            "index": op.index,
            "op": op.type if not op.custom_code else f"CUSTOM:{op.custom_code}",
            "input_shapes": [list(t.shape) for t in ins],
            "output_shapes": [list(t.shape) for t in graph.op_outputs(op)],
            "inputs": [_tensor_json(graph.tensors[i]) if i >= 0 else None for i in op.inputs],
            "outputs": [_tensor_json(t) for t in graph.op_outputs(op)],
            "quantization": _quant_summary(graph, op),
            "options": {k: v for k, v in op.options.as_dict().items()
                        if isinstance(v, (int, float, str, bool, list))},
            "macs": op_macs(graph, op),
            "params_bytes": op_params_bytes(graph, op),
            "supported": supported,
            **({"reason": reason} if reason else {}),
        })
    report = {
        "name": graph.name,
        "backend": backend,
        "inputs": [_tensor_json(t) for t in graph.input_tensors()],
        "outputs": [_tensor_json(t) for t in graph.output_tensors()],
        "ops": ops,
        "macs": graph_macs(graph),
        "params_bytes": graph_params_bytes(graph),
        "support_checked": derive is not None,
        "unsupported": unsupported,
    }
    report.update(_memory_figures(graph, backend))
    return report


# ------------------------------------------------------------------- text

def _io_line(t: dict) -> str:
    if t["scale"] is None:
        q = "no quantization"
    elif isinstance(t["scale"], list):
        q = f"per-channel[{len(t['scale'])}]"
    else:
        q = f"scale {t['scale']:.6g} zero_point {t['zero_point']}"
    return f"{t['name']}  {shape_str(t['shape'])} {t['dtype']}  {q}"


def _table(headers: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
    widths = [max(len(h), *(len(r[c]) for r in rows)) if rows else len(h) for c, h in enumerate(headers)]

    def line(cells):
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return [line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows]


# How the memory figures read in the text report (the JSON keeps the keys).
MEMORY_LABELS = {"ideal_peak_bytes": "layer-by-layer peak bytes (no overlap)"}
PEAK_NOTE = ("the arena can be below the layer-by-layer peak: the planner lets a layer write over "
             "input it has already read")


def format_report(report: dict) -> str:
    out = [f"model {report['name']} ({len(report['ops'])} ops, backend {report['backend']})"]
    out += [f"  input  {_io_line(t)}" for t in report["inputs"]]
    out += [f"  output {_io_line(t)}" for t in report["outputs"]]
    out.append("")
    rows = []
    for op in report["ops"]:
        mark = "" if op["supported"] in (True, None) else " *"
        rows.append([
            str(op["index"]), op["op"] + mark,
            ", ".join(shape_str(s) for s in op["input_shapes"]) or "-",
            ", ".join(shape_str(s) for s in op["output_shapes"]) or "-",
            op["quantization"],
            f"{op['macs']:,}", f"{op['params_bytes']:,}",
        ])
    out += _table(["#", "op", "input", "output", "quantization", "MACs", "params B"], rows, right={0, 5, 6})
    out.append("")
    out.append(f"total: {report['macs']:,} MACs, {report['params_bytes']:,} parameter bytes")
    for key, value in report.items():
        if key.endswith("_bytes") and key != "params_bytes":
            label = MEMORY_LABELS.get(key, key.replace('_', ' '))
            out.append(f"{label}: {value:,}" if isinstance(value, int) else f"{label}: {value}")
    if "ideal_peak_bytes" in report:
        out.append(f"  ({PEAK_NOTE})")
    if not report["support_checked"]:
        out.append("supported ops: not checked (tinygen.quant.params is not available)")
    elif report["unsupported"]:
        out.append(f"unsupported ops (* above): {len(report['unsupported'])}")
        out += _unsupported_lines(report["unsupported"])
    else:
        out.append("all ops supported")
    return "\n".join(out)


def _unsupported_lines(unsupported: list[dict]) -> list[str]:
    """One line per distinct (op, reason), listing the layers it applies to."""
    groups: dict[tuple[str, str], list[int]] = {}
    for u in unsupported:
        reason = re.sub(r"^unsupported op \S+ at position \d+: ", "", u["reason"])
        groups.setdefault((u["op"], reason), []).append(u["index"])
    return [f"  {op} (op {', '.join(map(str, idx))}): {reason}" for (op, reason), idx in groups.items()]


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


# ---------------------------------------------------------------- command

@click.command("inspect")
@click.argument("model", metavar="MODEL")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of the table.")
@click.option("--backend", type=click.Choice(BACKENDS), default="portable", show_default=True,
              help="Kernel backend the memory figures are for.")
def command(model: str, as_json: bool, backend: str) -> None:
    """Show MODEL (.tflite) layer by layer: shapes, quantization, MACs,
    parameter bytes, totals, and the ops tinygen cannot run.

    \b
    Examples:
      tinygen inspect model.tflite
      tinygen inspect model.tflite --json | jq .macs
    """
    path = Path(model)
    if not path.exists():
        raise TinygenError(f"{model}: no such file")
    graph = load_model(path)
    report = model_report(graph, backend)
    if as_json:
        click.echo(json.dumps(report, indent=1, default=_json_default))
    else:
        click.echo(format_report(report))
