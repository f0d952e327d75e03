"""The reference interpreter against TFLM on every real model in ../shared/models.

Supported models: >= 32 random full-range samples each, every output bit for bit.
Models with ops tinygen does not implement: building the interpreter must raise
UnsupportedOpError naming the op (never run and answer wrongly).
person_detect: the two real camera images classify right and agree with TFLM.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import DATA, MODELS, make_random_inputs, shared_models
from tinygen.errors import UnsupportedOpError
from tinygen.model import load_model
from tinygen.quant.params import SUPPORTED_OPS
from tinygen.ref import Interpreter

N_SAMPLES = 32

# Models whose ops (or op variants) tinygen does not implement, and the op it must name.
EXPECTED_UNSUPPORTED = {
    "tflm_mnist_lstm_int8": "UNIDIRECTIONAL_SEQUENCE_LSTM",
    "tflm_keyword_svdf_int16": "SVDF",
    "tflm_hello_world_float": "FULLY_CONNECTED",  # float32 model: int8 kernels only
}

_MODELS = shared_models()
_IDS = [p.stem for p in _MODELS]

pytestmark = pytest.mark.skipif(not _MODELS, reason=f"shared models folder {MODELS} is absent")


@pytest.fixture(scope="module")
def model_runs(golden):
    """stem -> (inputs, TFLM outputs or GoldenError) for every supported model, one TFLM process."""
    from tinygen.golden import run_tflm_many

    todo = {}
    for path in _MODELS:
        if path.stem in EXPECTED_UNSUPPORTED:
            continue
        graph = load_model(path)
        todo[path.stem] = (path, make_random_inputs(graph, N_SAMPLES, seed=len(path.stem)))
    results = run_tflm_many(list(todo.values()))
    return {stem: (inputs, gold) for (stem, (_, inputs)), gold in zip(todo.items(), results)}


@pytest.mark.parametrize("path", _MODELS, ids=_IDS)
def test_model_matches_tflm(path: Path, model_runs):
    graph = load_model(path)
    if path.stem in EXPECTED_UNSUPPORTED:
        with pytest.raises(UnsupportedOpError) as info:
            Interpreter(graph)
        assert info.value.op_type == EXPECTED_UNSUPPORTED[path.stem]
        assert EXPECTED_UNSUPPORTED[path.stem] in str(info.value)
        assert f"position {info.value.op_index}" in str(info.value)
        assert graph.ops[info.value.op_index].type == info.value.op_type
        return
    unsupported = sorted({op.type for op in graph.ops} - set(SUPPORTED_OPS))
    assert not unsupported, f"{path.stem} uses {unsupported}: add it to EXPECTED_UNSUPPORTED or implement it"
    inputs, gold = model_runs[path.stem]
    if isinstance(gold, Exception):
        raise gold
    ours = Interpreter(graph).run(inputs)
    assert len(ours) == len(gold)
    for a, b in zip(ours, gold):
        assert a.shape[0] == N_SAMPLES
        np.testing.assert_array_equal(a, b.reshape(a.shape))


def read_bmp_gray(path: Path) -> np.ndarray:
    """An 8-bit paletted (grayscale) BMP as a [H, W] uint8 array, top row first."""
    raw = path.read_bytes()
    assert raw[:2] == b"BM", f"{path} is not a BMP"
    offset = int.from_bytes(raw[10:14], "little")
    header_size = int.from_bytes(raw[14:18], "little")
    width = int.from_bytes(raw[18:22], "little", signed=True)
    height = int.from_bytes(raw[22:26], "little", signed=True)
    bpp = int.from_bytes(raw[28:30], "little")
    compression = int.from_bytes(raw[30:34], "little")
    assert bpp == 8 and compression == 0, f"{path}: {bpp} bpp, compression {compression}"
    n_colors = int.from_bytes(raw[46:50], "little") or 256
    palette = np.frombuffer(raw, np.uint8, count=4 * n_colors, offset=14 + header_size).reshape(n_colors, 4)
    stride = (width + 3) // 4 * 4
    rows = np.frombuffer(raw, np.uint8, count=stride * abs(height), offset=offset).reshape(abs(height), stride)
    index = rows[:, :width]
    if height > 0:  # bottom-up storage
        index = index[::-1]
    gray = palette[index, 0]  # B channel of a gray palette (B == G == R)
    assert np.array_equal(palette[index, 1], gray) and np.array_equal(palette[index, 2], gray)
    return gray


@pytest.mark.skipif(not (DATA / "person.bmp").exists(), reason=f"{DATA}/person.bmp is absent (../shared)")
def test_person_detect_real_images(golden):
    path = MODELS / "tflm_person_detect.tflite"
    graph = load_model(path)
    t = graph.input_tensors()[0]
    images = []
    for name in ("no_person.bmp", "person.bmp"):
        gray = read_bmp_gray(DATA / name)
        assert gray.shape == t.shape[1:3]
        # TFLM's person_detection test memcpy's these files' pixel bytes straight into the
        # int8 input (the BMPs store int8 pixels as bytes), so reinterpret, do not shift:
        # subtracting 128 instead misclassifies person.bmp (scores [4, -4]).
        images.append(gray.view(np.int8).reshape(t.shape))
    x = np.stack(images)
    ours = Interpreter(graph).run([x])[0].reshape(2, -1)
    gold = golden(path, [x])[0].reshape(2, -1)
    np.testing.assert_array_equal(ours, gold)
    # labels of the TFLM person_detection example: 0 = "notperson", 1 = "person"
    assert ours[0].argmax() == 0, f"no_person.bmp scored {ours[0]}"
    assert ours[1].argmax() == 1, f"person.bmp scored {ours[1]}"
