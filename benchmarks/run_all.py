"""Run every benchmark in turn and print their tables (`make bench`).

Each benchmark is a standalone script (run one with `python benchmarks/<name>.py --help`):
  bench_interpreter.py  tinygen's reference interpreter vs TFLM's Python interpreter, ms/inference
  bench_codegen.py      arena bytes vs TFLM and the ideal peak; host-built C vs TFLM-python, ms/inference
  bench_device.py       instructions/inference on the emulated Cortex-M4, flash split, arena vs TFLM
"""
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = ["bench_interpreter.py", "bench_codegen.py", "bench_device.py"]


def main() -> int:
    status = 0
    for name in BENCHMARKS:
        print(f"\n=== {name} ===", flush=True)
        rc = subprocess.call([sys.executable, str(HERE / name)])
        if rc != 0:
            print(f"{name} exited with status {rc}", flush=True)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
