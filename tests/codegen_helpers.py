"""Helpers for the code-generation tests: generate + build a host firmware once,
run samples through it over the device protocol."""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

from tinygen.codegen.emit import build_model_code, model_hash_of_file, write_project
from tinygen.device.firmware import open_firmware, run_session


def generate_host(graph, out_dir: Path, model_path: Path | None = None, backend: str = "portable"):
    code = build_model_code(graph, backend=backend, target="host",
                            model_hash=model_hash_of_file(model_path) if model_path else "0" * 16)
    write_project(code, out_dir, force=True)
    return code


def make(project: Path, *args: str) -> None:
    r = subprocess.run(["make", "-j2", "-s", *args], cwd=project, capture_output=True, text=True)
    assert r.returncode == 0, f"make {' '.join(args)} failed in {project}:\n{r.stdout}\n{r.stderr}"


def run_build(project: Path, inputs: list[np.ndarray], build_dir: str = "build") -> list[np.ndarray]:
    with open_firmware(project, build_dir=build_dir) as session:
        return run_session(session, inputs)[0]
