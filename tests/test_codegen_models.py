"""Generated C for every shared model, built for the host and run over the device
protocol: bit for bit equal to TFLM (the golden) and to the reference interpreter.

Per model, one normal build (-std=c99 -Wall -Wextra -Werror -O2) and one
AddressSanitizer + UBSan build (without profiling) that also garbage-fills every dead arena region
before each layer (TG_POISON_DEAD): a planner bug that let a live tensor be
overwritten, or a kernel reading uninitialised arena bytes, changes the output.
Models tinygen cannot generate must be refused with a clear error naming the op.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from codegen_helpers import generate_host, make, run_build
from conftest import MODELS, make_random_inputs, shared_models
from tinygen.errors import TinygenError
from tinygen.model import load_model

N_SAMPLES = 16
ASAN_DIR = "build-asan-poison"

MODEL_PATHS = shared_models()


def _generatable(path) -> bool:
    """Cheap collection-time check: every op has a portable kernel and the I/O types are allowed.
    (The fixture generates every model; a model this predicts wrongly fails the tests below.)"""
    from tinygen.codegen.backends.portable import BACKEND

    g = load_model(path)
    io_ok = all(g.tensors[i].dtype in ("int8", "uint8", "int16", "float32") for i in g.inputs + g.outputs)
    def int_op(op):  # only QUANTIZE/DEQUANTIZE touch float tensors in an int8 model
        ts = [g.tensors[i] for i in list(op.inputs) + list(op.outputs) if i >= 0]
        return op.type in ("QUANTIZE", "DEQUANTIZE") or all(t.dtype != "float32" for t in ts)

    return io_ok and all(op.type in BACKEND.modules and int_op(op) for op in g.ops)


GENERATABLE = [p for p in MODEL_PATHS if _generatable(p)]


@pytest.fixture(scope="session")
def built_models(tmp_path_factory):
    """model stem -> (graph, project dir), generated and built (both variants) once, in parallel."""
    if not MODELS.is_dir():
        pytest.skip(f"shared models folder {MODELS} is absent (tests read real models from ../shared)")
    root = tmp_path_factory.mktemp("codegen_models")
    projects = {}
    for path in MODEL_PATHS:
        graph = load_model(path)
        try:
            d = root / path.stem
            generate_host(graph, d, model_path=path)
        except TinygenError:
            continue
        projects[path.stem] = (graph, d, path)

    def build(d):
        make(d)
        make(d, "SANITIZE=1", "POISON=1", "PROFILE=0", f"BUILD_DIR={ASAN_DIR}", "OPT=-O1")

    with ThreadPoolExecutor(max_workers=max(1, min(2, os.cpu_count() or 1))) as pool:
        list(pool.map(build, [d for _, d, _ in projects.values()]))
    return projects


def _ids(paths):
    return [p.stem for p in paths]


@pytest.mark.parametrize("path", MODEL_PATHS, ids=_ids(MODEL_PATHS))
def test_firmware_bit_exact_with_tflm(path, built_models, golden):
    if path.stem not in built_models:
        with pytest.raises(TinygenError, match=r"unsupported op|integer|inputs"):
            from tinygen.codegen.emit import build_model_code
            build_model_code(load_model(path))
        return
    graph, project, _ = built_models[path.stem]
    from tinygen.ref import Interpreter

    inputs = make_random_inputs(graph, N_SAMPLES, seed=7)
    ours = run_build(project, inputs)
    ref = Interpreter(graph).run(inputs)
    gold = golden(path, inputs)
    for a, r, g in zip(ours, ref, gold):
        np.testing.assert_array_equal(a, r)
        np.testing.assert_array_equal(a, g.reshape(a.shape))


@pytest.mark.parametrize("path", GENERATABLE, ids=_ids(GENERATABLE))
def test_sanitized_poisoned_build_bit_exact(path, built_models):
    assert path.stem in built_models, f"{path.name} was expected to generate"
    graph, project, _ = built_models[path.stem]
    from tinygen.ref import Interpreter

    inputs = make_random_inputs(graph, N_SAMPLES, seed=11)
    ours = run_build(project, inputs, build_dir=ASAN_DIR)
    ref = Interpreter(graph).run(inputs)
    for a, r in zip(ours, ref):
        np.testing.assert_array_equal(a, r)


def test_profile_and_info(built_models):
    name = next(iter(built_models))
    graph, project, path = built_models[name]
    from tinygen.codegen.emit import model_hash_of_file
    from tinygen.device.firmware import open_firmware

    with open_firmware(project) as s:
        info = s.info()
        assert info["board"] == "host" and info["cycle_unit"] == "ns"
        assert info["model"]["hash"] == model_hash_of_file(path)
        x = make_random_inputs(graph, 1, seed=3)[0][0]
        _, total = s.invoke(x.tobytes())
        per_layer = s.profile()
    assert len(per_layer) == len(info["model"]["layers"]) > 0
    assert 0 < sum(per_layer) <= total
