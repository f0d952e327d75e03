"""`tinygen profile (--firmware DIR | --port URL) [MODEL]`: cycles per layer.

Runs one inference on the device (a seeded random input, or --input) and asks
for the per-layer counts the firmware took (built with PROFILE=1, the default).
Layer names and op types come from the device's INFO; with MODEL (which must be
the model the device runs) the table adds each layer's output shape, MACs and
MACs per cycle. Under QEMU the counts are instructions (-icount shift=0).
"""
from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np

from tinygen.errors import TinygenError


def _layer_details(graph, device) -> dict[str, dict]:
    """Layer name -> {'shape', 'macs'} by lowering MODEL the way the firmware was generated."""
    from tinygen.codegen.emit import build_model_code
    from tinygen.model.ir import shape_str
    from tinygen.model.stats import op_macs

    model = device.model
    try:
        code = build_model_code(graph, backend=model.get("backend", "portable"),
                                target=model.get("target", "host"), model_hash=model.get("hash", ""))
    except TinygenError:
        return {}
    out = {}
    for layer in code.code_layers:
        t = graph.tensors[layer.op.outputs[0]] if layer.op.outputs else None
        out[layer.name] = {"shape": shape_str(t.shape) if t is not None else "", "macs": op_macs(graph, layer.op)}
    return out


def profile_device(device, graph=None, input_path: Path | None = None, seed: int = 0) -> dict:
    from tinygen.commands.verify import random_inputs

    model = device.model
    if not device.info.get("profile", False):
        raise TinygenError("the firmware was built without per-layer counters: rebuild with "
                           "'tinygen build DIR PROFILE=1'")
    if input_path is not None:
        if graph is None:
            raise TinygenError("--input needs MODEL (to check the input's shape)")
        from tinygen.commands.run import load_inputs

        inputs, _ = load_inputs(graph, input_path)
        payload = b"".join(np.ascontiguousarray(a[0]).tobytes() for a in inputs)
    elif graph is not None:
        payload = b"".join(np.ascontiguousarray(a[0]).tobytes() for a in random_inputs(graph, 1, seed))
    else:
        rng = np.random.default_rng(seed)
        payload = rng.integers(0, 256, size=int(model["input_bytes"]), dtype=np.uint8).tobytes()
    _, total = device.invoke(payload)
    counts = device.profile()
    layers = model.get("layers", [])
    if len(counts) != len(layers):
        raise TinygenError(f"the device reported {len(counts)} layer counts for {len(layers)} layers")
    details = _layer_details(graph, device) if graph is not None else {}
    rows = []
    for layer, c in zip(layers, counts):
        d = details.get(layer["name"], {})
        macs = d.get("macs")
        rows.append({"name": layer["name"], "op": layer["op"], "shape": d.get("shape", ""), "cycles": int(c),
                     "macs": macs, "macs_per_cycle": (macs / c) if macs and c else None})
    return {"model": model.get("name"), "board": device.info.get("board"), "cycle_unit": device.cycle_unit,
            "emulated": device.emulated, "total": int(total), "layers": rows}


def print_profile(prof: dict, echo=click.echo) -> None:
    unit = prof["cycle_unit"]
    per = {"cycles": "cycle", "instructions": "instruction"}.get(unit, unit)
    rows = prof["layers"]
    have_macs = any(r["macs"] is not None for r in rows)
    layer_sum = sum(r["cycles"] for r in rows) or 1
    w = max([len("layer")] + [len(r["name"]) for r in rows])
    wo = max([len("op")] + [len(r["op"]) for r in rows])
    ws = max([len("output")] + [len(r["shape"]) for r in rows])
    head = f"{'layer':<{w}}  {'op':<{wo}}  {'output':<{ws}}  {unit:>14}  {'share':>6}"
    if have_macs:
        head += f"  {'MACs':>12}  {'MACs/' + per:>16}"
    echo(head)
    echo("-" * len(head))
    for r in rows:
        line = (f"{r['name']:<{w}}  {r['op']:<{wo}}  {r['shape']:<{ws}}  {r['cycles']:>14,}  "
                f"{100.0 * r['cycles'] / layer_sum:>5.1f}%")
        if have_macs:
            mpc = f"{r['macs_per_cycle']:.3f}" if r["macs_per_cycle"] is not None else "-"
            line += f"  {r['macs'] or 0:>12,}  {mpc:>16}"
        echo(line)
    echo("-" * len(head))
    total_line = f"{'layers total':<{w + wo + ws + 4}}  {layer_sum:>14,}  100.0%"
    if have_macs:
        macs = sum(r["macs"] or 0 for r in rows)
        total_line += f"  {macs:>12,}  {macs / layer_sum:>16.3f}"
    echo(total_line)
    echo(f"{'whole inference':<{w + wo + ws + 4}}  {prof['total']:>14,}  (incl. {prof['total'] - layer_sum:,} "
         f"outside layers)")
    if prof["emulated"]:
        from tinygen.targets.cortex_m import ICOUNT_NOTE

        echo(f"note: {ICOUNT_NOTE}")


@click.command("profile")
@click.argument("model", type=click.Path(dir_okay=False, path_type=Path), required=False)
@click.option("--firmware", "firmware_dir", metavar="DIR", default=None,
              type=click.Path(file_okay=False, path_type=Path),
              help="start the built firmware of project DIR here (host program, or QEMU for emulated boards)")
@click.option("--port", "-p", metavar="URL", default=None, help="serial port of a device running the firmware")
@click.option("--input", "-i", "input_path", metavar="IN.npy", default=None,
              type=click.Path(dir_okay=False, path_type=Path), help="profile on this sample (first one; needs MODEL)")
@click.option("--seed", type=int, default=0, show_default=True, help="seed of the random input")
@click.option("--json", "json_path", metavar="OUT.json", default=None, type=click.Path(path_type=Path),
              help="also write the table as JSON")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=5.0, show_default=True,
              help="seconds to wait for an answer (per attempt)")
@click.option("--force", is_flag=True, help="overwrite an existing --json file")
def command(model, firmware_dir, port, input_path, seed, json_path, timeout, force=False):
    """Cycles (instructions under QEMU) per layer of one inference on the device.

    \b
    Examples:
      tinygen profile --firmware out/ kws.tflite
      tinygen profile --port /dev/ttyACM0
    """
    from tinygen.commands._common import check_output_path
    from tinygen.device.connect import check_model, connect

    if json_path is not None:
        check_output_path(json_path, force, "--json")
    graph = None
    if model is not None:
        if not model.is_file():
            raise TinygenError(f"{model}: no such file")
        from tinygen.model import load_model

        graph = load_model(model)
    with connect(port=port, firmware_dir=firmware_dir, timeout=timeout,
                 announce=lambda line: click.echo(line, err=True)) as device:
        if model is not None:
            from tinygen.codegen.emit import model_hash_of_file

            check_model(device, model_hash_of_file(model), model)
        prof = profile_device(device, graph, input_path, seed)
    click.echo(f"{prof['model']} on {prof['board']}")
    print_profile(prof)
    if json_path is not None:
        json_path.write_text(json.dumps(prof, indent=2) + "\n")
