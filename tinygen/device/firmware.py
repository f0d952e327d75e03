"""Run a built firmware project: start it, talk the device protocol, feed inputs.

    with open_firmware(project_dir) as session:      # DeviceSession
        info = session.info()
        out, cycles = session.invoke(x.tobytes())

    outputs = run_firmware(project_dir, [x0, x1, ...])   # numpy arrays in, numpy arrays out

How a firmware is started depends on its target kind ('host': the native
program as a child process over stdin/stdout). Other kinds register a launcher
in LAUNCHERS: kind -> function(project_dir: Path, meta: dict) -> Link
(the Cortex-M targets start QEMU and return a SerialLink).
"""
from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from tinygen.device.link import Link, ProcessLink
from tinygen.device.protocol import DeviceSession
from tinygen.errors import TinygenError

METADATA_FILE = "tinygen.json"


def read_project(project_dir: str | Path) -> dict:
    d = Path(project_dir)
    meta_path = d / METADATA_FILE
    if not meta_path.is_file():
        raise TinygenError(f"{d} is not a tinygen project (no {METADATA_FILE}; create one with 'tinygen generate')")
    try:
        return json.loads(meta_path.read_text())
    except json.JSONDecodeError as exc:
        raise TinygenError(f"{meta_path} is damaged: {exc}") from None


def _host_launcher(project_dir: Path, meta: dict, build_dir: str = "build") -> Link:
    exe = project_dir / build_dir / "firmware"
    if not exe.is_file():
        raise TinygenError(f"{exe} does not exist: build the project first ('tinygen build {project_dir}')")
    return ProcessLink([exe.resolve()], cwd=str(project_dir))


LAUNCHERS: dict[str, Callable[..., Link]] = {"host": _host_launcher}


def _cortex_m_launcher(project_dir: Path, meta: dict) -> Link:
    """Cortex-M projects run in QEMU (tinygen.targets.qemu, helper D)."""
    from tinygen.targets.qemu import launch_project

    return launch_project(project_dir, meta)


LAUNCHERS["cortex-m"] = _cortex_m_launcher


@contextlib.contextmanager
def open_firmware(project_dir: str | Path, timeout: float = 10.0, build_dir: str = "build",
                  check_model_hash: str | None = None) -> Iterator[DeviceSession]:
    """A DeviceSession to the project's built firmware (started here, stopped on exit)."""
    from tinygen.device.connect import check_fresh_build

    d = Path(project_dir)
    meta = read_project(d)
    if build_dir == "build":
        check_fresh_build(d, meta)
    kind = meta.get("target_kind", "host")
    launcher = LAUNCHERS.get(kind)
    if launcher is None:
        raise TinygenError(f"tinygen cannot start firmware for target kind '{kind}' here")
    link = launcher(d, meta, build_dir=build_dir) if kind == "host" else launcher(d, meta)
    try:
        session = DeviceSession(link, timeout=timeout)
        info = session.info()
        if info["model"].get("hash") != meta.get("model_hash") and meta.get("model_hash") and build_dir == "build":
            raise TinygenError(f"{d} was regenerated since it was built: run tinygen build {d}")
        if check_model_hash is not None and info["model"]["hash"] != check_model_hash:
            raise TinygenError(f"the firmware in {d} was generated from another model "
                               f"(hash {info['model']['hash']}, this model {check_model_hash})")
        yield session
    finally:
        link.close()


def run_session(session: DeviceSession, inputs, progress: bool = False) -> tuple[list[np.ndarray], list[int]]:
    """Run N samples through the device. `inputs`: one [N, *shape] array per model input
    (or a single array for a one-input model). Returns ([N, *shape] per output, cycles per sample)."""
    info = session.info()["model"]
    in_specs, out_specs = info["inputs"], info["outputs"]
    if isinstance(inputs, np.ndarray):
        inputs = [inputs]
    if len(inputs) != len(in_specs):
        raise TinygenError(f"the firmware's model has {len(in_specs)} inputs, got {len(inputs)}")
    arrays = []
    for spec, a in zip(in_specs, inputs):
        a = np.asarray(a)
        if a.dtype != np.dtype(spec["dtype"]) or tuple(a.shape[1:]) != tuple(spec["shape"]):
            raise TinygenError(f"input '{spec['name']}' must be [N, {'x'.join(map(str, spec['shape']))}] "
                               f"{spec['dtype']}, got {'x'.join(map(str, a.shape))} {a.dtype}")
        arrays.append(a)
    n = arrays[0].shape[0]
    outs: list[list[np.ndarray]] = [[] for _ in out_specs]
    cycles = []
    it = range(n)
    if progress and n > 1:
        from tqdm import tqdm
        it = tqdm(it, desc="firmware", unit="sample", leave=False, disable=None)
    for k in it:
        payload = b"".join(np.ascontiguousarray(a[k]).tobytes() for a in arrays)
        raw, c = session.invoke(payload)
        pos = 0
        for j, spec in enumerate(out_specs):
            outs[j].append(np.frombuffer(raw[pos:pos + spec["bytes"]], dtype=spec["dtype"]).reshape(spec["shape"]))
            pos += spec["bytes"]
        cycles.append(c)
    result = [np.stack(o) if o else np.zeros((0, *spec["shape"]), dtype=spec["dtype"])
              for o, spec in zip(outs, out_specs)]
    return result, cycles


def run_firmware(project_dir: str | Path, inputs, **kwargs) -> list[np.ndarray]:
    with open_firmware(project_dir, **kwargs) as session:
        return run_session(session, inputs)[0]


def run_model_on_firmware(model_path: str | Path, project_dir: str | Path, inputs: list[np.ndarray],
                          progress: bool = True) -> list[np.ndarray]:
    """`tinygen run --firmware DIR`: run [N, *shape] inputs through the built firmware of DIR,
    after checking it was generated from `model_path` (same sha256 prefix)."""
    from tinygen.codegen.emit import model_hash_of_file

    with open_firmware(project_dir, check_model_hash=model_hash_of_file(model_path)) as session:
        return run_session(session, inputs, progress=progress)[0]


__all__ = ["LAUNCHERS", "open_firmware", "read_project", "run_firmware", "run_model_on_firmware", "run_session"]
