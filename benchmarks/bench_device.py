"""The generated firmware on the emulated Cortex-M4 (QEMU mps2-an386), against TFLM + CMSIS-NN.

    python benchmarks/bench_device.py [--samples 2] [--models kws,vww,ic,ad] [--backends portable,cmsis-nn,dsp]

Per MLPerf Tiny model and backend (cmsis-nn only when CMSIS_NN_PATH is set; dsp = tinygen's
own SMLAD kernels, firmware/kernels_dsp):
- instructions per inference, measured by the firmware itself (SysTick under
  QEMU -icount shift=0, 1 instruction = 1 ns: see firmware/targets/mps2_an386/board.c),
  every sample also checked bit for bit against the reference interpreter;
- MACs per instruction;
- flash split from the ELF's link map: weights (+ quantization params),
  kernels, everything else (layer code, main loop, protocol, board, libc);
- the arena (the `*_arena` symbol) and RAM.

The TFLM + CMSIS-NN figures are the ones measured on this same emulated M4 for the
project brief (KWS 7.70M, VWW 24.1M, IC 29.9M, AD 0.58M instructions; arenas
22,820 / 100,708 / 54,996 / 2,580 B; 45.7 KB runtime flash besides weights); they
are constants here, not re-measured (building TFLM for Cortex-M is out of this
repository's scope). QEMU counts instructions, not cycles: the ratios compare
instruction counts on the same emulator.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from mlperf_tiny import MODELS, SHARED, TFLM_ARENA, TFLM_INSTRUCTIONS, TFLM_RUNTIME_FLASH  # noqa: E402  (one source for both benchmarks)


def measure(key: str, backend: str, samples: int, workdir: Path) -> dict:
    from tinygen.codegen.emit import generate_project
    from tinygen.commands.build import build_project
    from tinygen.commands.verify import random_inputs, verify_device
    from tinygen.device.connect import connect
    from tinygen.model import load_model
    from tinygen.targets import get_target
    from tinygen.targets.cortex_m import memory_report

    model = SHARED / f"{MODELS[key]}.tflite"
    d = workdir / f"{key}-{backend}"
    t0 = time.monotonic()
    generate_project(model, d, target="mps2-an386", backend=backend, force=True)
    res = build_project(d)
    build_s = time.monotonic() - t0
    mem = memory_report(res["firmware"], get_target("mps2-an386"))
    graph = load_model(model)
    with connect(firmware_dir=d, timeout=20.0) as device:
        rep = verify_device(device, graph, random_inputs(graph, samples, 0), progress=False, echo=lambda s: None)
    return {"model": key, "backend": backend, "instructions": rep["cycles_mean"], "macs": rep["macs"],
            "bit_exact": f"{rep['bit_exact']}/{rep['count']}", "mem": mem, "build_s": build_s,
            "verify_s": rep["seconds"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--samples", type=int, default=2, help="random inputs per model (all checked bit for bit)")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--backends", default=None,
                    help="default: portable, cmsis-nn when CMSIS_NN_PATH is set, and dsp")
    a = ap.parse_args()
    if not SHARED.is_dir():
        sys.exit(f"{SHARED} is absent: the benchmark reads the MLPerf Tiny models from ../shared/models")
    backends = a.backends.split(",") if a.backends else (
        ["portable"] + (["cmsis-nn"] if os.environ.get("CMSIS_NN_PATH") else []) + ["dsp"])
    keys = [k.strip() for k in a.models.split(",") if k.strip()]
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_device_") as tmp:
        for backend in backends:
            for key in keys:
                print(f"... {key} / {backend}", file=sys.stderr, flush=True)
                rows.append(measure(key, backend, a.samples, Path(tmp)))

    print("\n## Speed on the emulated Cortex-M4 (QEMU mps2-an386, -icount shift=0: instruction counts)\n")
    print("| model | backend | bit-exact | instructions/inference | TFLM+CMSIS-NN | ratio | MACs | MACs/instr |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        tflm = TFLM_INSTRUCTIONS[r["model"]]
        print(f"| {r['model']} | {r['backend']} | {r['bit_exact']} | {r['instructions']:,.0f} | {tflm:,.0f} | "
              f"{r['instructions'] / tflm:.2f}x | {r['macs']:,} | {r['macs'] / r['instructions']:.3f} |")

    print("\n## Flash (bytes, from the link map)\n")
    print("| model | backend | weights | kernels | everything else | total | non-weight flash vs TFLM 45.7 KB |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        f = r["mem"]["flash"]
        other = f["total"] - f["weights"] - f["kernels"]
        runtime = f["total"] - f["weights"]
        print(f"| {r['model']} | {r['backend']} | {f['weights']:,} | {f['kernels']:,} | {other:,} | {f['total']:,} | "
              f"{runtime:,} ({runtime / TFLM_RUNTIME_FLASH:.2f}x) |")

    print("\n## RAM (bytes)\n")
    print("| model | backend | arena (`*_arena`) | TFLM+CMSIS-NN arena | ratio | stack | other | RAM total |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    sums: dict[str, list[int]] = {}
    for r in rows:
        m = r["mem"]["ram"]
        tflm = TFLM_ARENA[r["model"]]
        sums.setdefault(r["backend"], [0, 0])
        sums[r["backend"]][0] += m["arena"] or 0
        sums[r["backend"]][1] += tflm
        print(f"| {r['model']} | {r['backend']} | {m['arena']:,} | {tflm:,} | {(m['arena'] or 0) / tflm:.2f}x | "
              f"{m['stack']:,} | {m['other']:,} | {m['total']:,} |")
    for backend, (ours, theirs) in sums.items():
        print(f"| **sum** | {backend} | {ours:,} | {theirs:,} | {ours / theirs:.2f}x | | | |")
    print("\nTFLM figures: measured earlier with TFLM + CMSIS-NN on this same emulated M4 (project brief), "
          "not re-run here.")
    print(f"Run time: build {sum(r['build_s'] for r in rows):.0f} s, device runs "
          f"{sum(r['verify_s'] for r in rows):.0f} s.")


if __name__ == "__main__":
    main()
