"""Generated code vs TFLM, per MLPerf Tiny model, measured in the same run.

    python benchmarks/bench_codegen.py [--samples 50] [--models kws,vww,...]

Memory: tinygen's arena (portable backend; cmsis-nn too when CMSIS_NN_PATH is set
and the backend is installed) against TFLM's arena from its Python interpreter
(RecordingMicroAllocator via print_allocations: the total, and the 'head' = the
planned activations alone), against the layer-by-layer ideal peak, and against
the TFLM + CMSIS-NN arena measured on a Cortex-M4 (project brief).
Speed: host-built generated code (-O2; the firmware's own INVOKE timing, in ns)
vs TFLM's Python interpreter (reference kernels, time around invoke()) on the
same random inputs. Prints Markdown tables with ratios.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from mlperf_tiny import MODELS, SHARED, TFLM_ARENA as TFLM_M4_ARENA  # noqa: E402  (one source for both benchmarks)

_TFLM_SCRIPT = textwrap.dedent("""
    import os, sys, time, numpy as np
    from tflite_micro.python.tflite_micro import runtime
    buf = open(sys.argv[1], 'rb').read()
    x = np.load(sys.argv[2])
    it = runtime.Interpreter.from_bytes(buf)
    times = []
    for k in range(len(x)):
        it.set_input(x[k], 0)
        t0 = time.perf_counter_ns(); it.invoke(); times.append(time.perf_counter_ns() - t0)
    sys.stdout.write('median_ns %d\\n' % int(np.median(times))); sys.stdout.flush()
    os.dup2(1, 2)
    it.print_allocations()
""")


def tflm_measure(model: Path, samples: np.ndarray) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        xp = Path(tmp) / "x.npy"
        np.save(xp, samples)
        r = subprocess.run([sys.executable, "-c", _TFLM_SCRIPT, str(model), str(xp)], capture_output=True,
                           text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    out = r.stdout + r.stderr
    if r.returncode != 0:
        raise RuntimeError(f"TFLM failed on {model.name}: {out[-500:]}")
    total = int(re.search(r"Arena allocation total (\d+)", out).group(1))
    head = int(re.search(r"Arena allocation head (\d+)", out).group(1))
    ns = int(re.search(r"median_ns (\d+)", out).group(1))
    return {"arena_total": total, "arena_head": head, "ns": ns}


def tinygen_measure(model: Path, samples: np.ndarray, backend: str, work: Path) -> dict:
    from tinygen.codegen.emit import generate_project
    from tinygen.device.firmware import open_firmware, run_session

    d = work / f"{model.stem}_{backend}"
    code = generate_project(model, d, target="host", backend=backend, force=True)
    r = subprocess.run(["make", "-j2", "-s", "PROFILE=0", "BUILD_DIR=build"], cwd=d, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"build failed for {model.name} ({backend}): {r.stderr[-800:]}")
    with open_firmware(d) as s:
        _, cycles = run_session(s, [samples])
    return {"arena": code.arena_bytes, "ideal": code.plan.ideal_peak, "weights": code.weight_bytes,
            "ns": int(np.median(cycles))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=50)
    ap.add_argument("--models", default=",".join(MODELS))
    args = ap.parse_args(argv)
    if not SHARED.is_dir():
        print(f"skipped: {SHARED} is absent")
        return 0
    from tinygen.model import load_model

    backends = ["portable"]
    if os.environ.get("CMSIS_NN_PATH"):
        try:
            from tinygen.codegen.lowering import get_backend
            get_backend("cmsis-nn")
            backends.append("cmsis-nn")
        except Exception as exc:  # noqa: BLE001 - report, carry on with portable
            print(f"(cmsis-nn backend not measured: {exc})")
    rows = []
    with tempfile.TemporaryDirectory(prefix="tinygen_bench_") as tmp:
        work = Path(tmp)
        for key in args.models.split(","):
            path = SHARED / f"{MODELS[key]}.tflite"
            g = load_model(path)
            t = g.tensors[g.inputs[0]]
            x = np.random.default_rng(0).integers(-128, 128, size=(args.samples, *t.shape), dtype=np.int8)
            tf = tflm_measure(path, x)
            ours = {b: tinygen_measure(path, x, b, work) for b in backends}
            rows.append((key, tf, ours))
            print(f"measured {key}", file=sys.stderr)

    print("\n### Arena (bytes)\n")
    hdr = "| model | tinygen portable | ideal peak |"
    if "cmsis-nn" in backends:
        hdr += " tinygen cmsis-nn |"
    hdr += " TFLM py total | TFLM py head | TFLM+CMSIS-NN M4 | portable / TFLM M4 | portable / TFLM py total |"
    print(hdr)
    print("|" + "---|" * (hdr.count("|") - 1))
    sums = {"p": 0, "m4": 0, "py": 0}
    for key, tf, ours in rows:
        p = ours["portable"]
        line = f"| {key} | {p['arena']:,} | {p['ideal']:,} |"
        if "cmsis-nn" in backends:
            line += f" {ours['cmsis-nn']['arena']:,} |"
        m4 = TFLM_M4_ARENA[key]
        line += (f" {tf['arena_total']:,} | {tf['arena_head']:,} | {m4:,} | {p['arena'] / m4:.3f} |"
                 f" {p['arena'] / tf['arena_total']:.3f} |")
        print(line)
        sums["p"] += p["arena"]
        sums["m4"] += m4
        sums["py"] += tf["arena_total"]
    print(f"\nsummed: portable {sums['p']:,} B vs TFLM M4 {sums['m4']:,} B = {sums['p'] / sums['m4']:.3f}x; "
          f"vs TFLM py {sums['py']:,} B = {sums['p'] / sums['py']:.3f}x")

    print(f"\n### Host speed (median of {args.samples} inferences, ms)\n")
    hdr = "| model | tinygen portable (-O2) |"
    if "cmsis-nn" in backends:
        hdr += " tinygen cmsis-nn |"
    hdr += " TFLM python | TFLM / portable |"
    print(hdr)
    print("|" + "---|" * (hdr.count("|") - 1))
    for key, tf, ours in rows:
        line = f"| {key} | {ours['portable']['ns'] / 1e6:.3f} |"
        if "cmsis-nn" in backends:
            line += f" {ours['cmsis-nn']['ns'] / 1e6:.3f} |"
        line += f" {tf['ns'] / 1e6:.3f} | {tf['ns'] / ours['portable']['ns']:.2f}x |"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
