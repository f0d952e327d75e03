"""`tinygen verify MODEL (--port URL | --firmware DIR)`: prove the device computes
what the reference interpreter computes, bit for bit.

1. INFO: the device must run this very model (the identity hash of the .tflite);
   another model -> exit 1 with a message naming both.
2. Inputs: --input IN.npy (or .npz keyed by input name) or --random N samples
   (uniform over the input dtype's range, --seed S).
3. Each sample goes to the device (INVOKE, retried on link errors: a corrupted
   reply fails its CRC and is never compared), its output is compared bit for
   bit with tinygen's reference interpreter.
4. Prints a line per mismatching sample and the first few bit-exact ones
   (every sample with --verbose), then the bit-exact count, the max |difference|,
   cycles (instructions under QEMU) per inference and MACs per cycle.
   Exit 1 on any mismatch. --report R.json writes all of it as JSON.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import click
import numpy as np

from tinygen.errors import CheckFailed, TinygenError


def random_inputs(graph, n: int, seed: int) -> list[np.ndarray]:
    """N samples per model input, uniform over the whole range of its integer dtype."""
    rng = np.random.default_rng(seed)
    arrays = []
    for t in graph.input_tensors():
        dt = np.dtype(t.dtype)
        if dt.kind in "iu":
            info = np.iinfo(dt)
            arrays.append(rng.integers(info.min, info.max, size=(n, *t.shape), endpoint=True, dtype=dt))
        elif dt.kind == "f":
            arrays.append(rng.standard_normal(size=(n, *t.shape)).astype(dt))
        elif dt.kind == "b":
            arrays.append(rng.integers(0, 2, size=(n, *t.shape)).astype(dt))
        else:
            raise TinygenError(f"cannot make random inputs of dtype {dt} for input '{t.name}'")
    return arrays


def _payload(arrays: list[np.ndarray], k: int) -> bytes:
    return b"".join(np.ascontiguousarray(a[k]).tobytes() for a in arrays)


def _split_outputs(raw: bytes, specs: list[dict]) -> list[np.ndarray]:
    outs, pos = [], 0
    for spec in specs:
        n = int(spec["bytes"])
        outs.append(np.frombuffer(raw[pos:pos + n], dtype=spec["dtype"]).reshape(spec["shape"]))
        pos += n
    return outs


def _max_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    if a.dtype.kind == "f" or b.dtype.kind == "f":
        return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))) if a.size else 0.0
    return float(np.max(np.abs(a.astype(np.int64) - b.astype(np.int64)))) if a.size else 0.0


# Passing samples printed one line each before the rest is summed up (unless verbose).
SHOW_PASSES = 10


def verify_device(device, graph, inputs: list[np.ndarray], progress: bool = True, echo=click.echo,
                  verbose: bool = False) -> dict:
    """Run every sample on `device` (tinygen.device.connect.Device) and compare with
    the reference interpreter. Returns the report dict (no exception on mismatch).

    Prints a line for every mismatching sample, for the first SHOW_PASSES
    bit-exact ones (all of them when `verbose`), then '... N more bit-exact'."""
    from tinygen.model.stats import graph_macs
    from tinygen.ref import Interpreter

    out_specs = device.model["outputs"]
    in_specs = device.model["inputs"]
    for spec, a in zip(in_specs, inputs):
        if tuple(a.shape[1:]) != tuple(spec["shape"]) or a.dtype != np.dtype(spec["dtype"]):
            raise TinygenError(f"the device's input '{spec['name']}' is {'x'.join(map(str, spec['shape']))} "
                               f"{spec['dtype']}, the model's is {'x'.join(map(str, a.shape[1:]))} {a.dtype}")
    expected = Interpreter(graph).run(inputs)
    n = inputs[0].shape[0]
    macs = graph_macs(graph)
    unit = device.cycle_unit
    samples = []
    it = range(n)
    bar = None
    if progress and n > 1:
        from tinygen.commands._common import progress_bar

        bar = progress_bar(total=n, desc="verify", unit="sample")
        if not bar.disable:
            echo = bar.write
    t0 = time.monotonic()
    passes_shown = passes_hidden = 0
    for k in it:
        raw, cycles = device.invoke(_payload(inputs, k))
        got = _split_outputs(raw, out_specs)
        exact = True
        diff = 0.0
        for g, e in zip(got, expected):
            want = np.asarray(e[k])
            same = g.dtype == want.dtype and g.shape == want.shape and g.tobytes() == want.tobytes()
            exact &= same
            if not same:
                diff = max(diff, _max_abs_diff(g.reshape(want.shape), want))
        top = int(np.argmax(got[0])) if got and got[0].size > 1 else None
        samples.append({"index": k, "bit_exact": bool(exact), "max_abs_diff": diff, "cycles": int(cycles),
                        "top1": top})
        line = (f"sample {k:>4}: {'bit-exact' if exact else 'MISMATCH '}  {cycles:>13,} {unit}"
                + (f"  top-1 {top}" if top is not None else "")
                + ("" if exact else f"  max |diff| {diff:g}"))
        if not exact or verbose or passes_shown < SHOW_PASSES:
            echo(line)
            passes_shown += bool(exact)
        else:
            passes_hidden += 1
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    if passes_hidden:
        echo(f"... {passes_hidden} more bit-exact (--verbose lists every sample)")
    cycles = [s["cycles"] for s in samples]
    mean = float(np.mean(cycles)) if cycles else 0.0
    return {
        "model": device.model.get("name"),
        "model_hash": device.model.get("hash"),
        "board": device.info.get("board"),
        "backend": device.model.get("backend"),
        "link": device.description,
        "cycle_unit": unit,
        "emulated": device.emulated,
        "samples": samples,
        "count": n,
        "bit_exact": sum(s["bit_exact"] for s in samples),
        "max_abs_diff": max((s["max_abs_diff"] for s in samples), default=0.0),
        "cycles_mean": mean,
        "cycles_min": min(cycles, default=0),
        "cycles_max": max(cycles, default=0),
        "macs": macs,
        "macs_per_cycle": (macs / mean) if mean else None,
        "retries": device.session.retries,
        "seconds": time.monotonic() - t0,
    }


def print_summary(report: dict, echo=click.echo) -> None:
    unit = report["cycle_unit"]
    per = {"cycles": "cycle", "instructions": "instruction"}.get(unit, unit)
    echo(f"bit-exact: {report['bit_exact']}/{report['count']}   max |diff|: {report['max_abs_diff']:g}")
    echo(f"{unit} per inference: {report['cycles_mean']:,.0f} (min {report['cycles_min']:,}, "
         f"max {report['cycles_max']:,})")
    if report["macs_per_cycle"] is not None:
        echo(f"MACs: {report['macs']:,}   MACs per {per}: {report['macs_per_cycle']:.3f}")
    if report["emulated"]:
        from tinygen.targets.cortex_m import ICOUNT_NOTE

        echo(f"note: {ICOUNT_NOTE}")
    if report["retries"]:
        echo(f"link: {report['retries']} request(s) resent after transmission errors")


@click.command("verify")
@click.argument("model", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--port", "-p", metavar="URL", default=None,
              help="serial port of a device running the firmware: /dev/ttyACM0, socket://HOST:PORT, "
                   "a /dev/pts/N of 'tinygen emulate', any pyserial URL")
@click.option("--firmware", "firmware_dir", metavar="DIR", default=None,
              type=click.Path(file_okay=False, path_type=Path),
              help="start the built firmware of project DIR here (host program, or QEMU for emulated boards)")
@click.option("--input", "-i", "input_path", metavar="IN.npy", default=None,
              type=click.Path(dir_okay=False, path_type=Path),
              help="[N, *input_shape] samples (.npz keyed by input name for several inputs)")
@click.option("--random", "-n", "n_random", type=click.IntRange(min=1), default=None, metavar="N",
              help="N random inputs over the input dtype's full range (default 8 when no --input)")
@click.option("--seed", type=int, default=0, show_default=True, help="seed of --random")
@click.option("--report", "report_path", metavar="R.json", default=None, type=click.Path(path_type=Path),
              help="write the per-sample results and the summary as JSON")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=5.0, show_default=True,
              help="seconds to wait for an answer (per attempt; INVOKE gets 1 s more per KB of input)")
@click.option("--force", is_flag=True, help="overwrite an existing --report file")
@click.option("--verbose", "-v", is_flag=True,
              help=f"one line per sample (default: mismatches, the first {SHOW_PASSES} bit-exact, a count)")
def command(model: Path, port, firmware_dir, input_path, n_random, seed, report_path, timeout, force,
            verbose=False):
    """Check that the device computes MODEL bit for bit as the reference interpreter.

    \b
    Examples:
      tinygen verify kws.tflite --firmware out/ --random 8
      tinygen verify kws.tflite --port socket://127.0.0.1:4444 --input x.npy --report r.json

    Exit status 0 when every sample is bit-exact, 1 on any mismatch or when the
    device runs another model, 2 on bad input or an unreachable/silent device.
    """
    from tinygen.codegen.emit import model_hash_of_file
    from tinygen.commands.run import load_inputs
    from tinygen.device.connect import check_model, connect
    from tinygen.model import load_model

    if not model.is_file():
        raise TinygenError(f"{model}: no such file")
    if input_path is not None and n_random is not None:
        raise TinygenError("give --input or --random, not both")
    if report_path is not None:
        from tinygen.commands._common import check_output_path

        check_output_path(report_path, force, "--report")
    graph = load_model(model)
    from tinygen.commands._common import check_supported

    check_supported(graph)  # an op tinygen cannot run: say so, not "flash this model first"
    if input_path is not None:
        inputs, _ = load_inputs(graph, input_path)
    else:
        inputs = random_inputs(graph, n_random or 8, seed)
    with connect(port=port, firmware_dir=firmware_dir, timeout=timeout,
                 announce=lambda line: click.echo(line, err=True)) as device:
        check_model(device, model_hash_of_file(model), model)
        click.echo(f"device: {device.info.get('board')} via {device.description}; model "
                   f"{device.model.get('name')} ({device.model.get('backend')} backend), "
                   f"{inputs[0].shape[0]} sample(s)")
        report = verify_device(device, graph, inputs, verbose=verbose)
    print_summary(report)
    if report_path is not None:
        report_path.write_text(json.dumps(report, indent=2) + "\n")
        click.echo(f"report: {report_path}")
    if report["bit_exact"] != report["count"]:
        raise CheckFailed(f"{report['count'] - report['bit_exact']} of {report['count']} samples differ from "
                          "the reference interpreter")
