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


AD = MODELS / "mlperf_tiny_ad_fc.tflite"


@pytest.mark.skipif(not AD.exists(), reason=f"{AD} is absent (../shared)")
def test_fc_multiplier_is_derived_in_double(golden):
    """Per-tensor FULLY_CONNECTED: TFLM's source reads double(float32(s_in*s_w))/s_out, the TFLM
    build behaves as the all-double product. These three samples of the AD model tell them apart."""
    from tinygen.quant.fixedpoint import quantize_multiplier
    from tinygen.quant.params import derive_params

    graph = load_model(AD)
    x = make_random_inputs(graph, 512, seed=5)[0][[231, 239, 465]]
    ours = Interpreter(graph).run([x])[0]
    np.testing.assert_array_equal(ours, golden(AD, [x])[0].reshape(ours.shape))
    # the float32-product variant really differs on these samples (keeps this test meaningful)
    params = derive_params(graph)
    for op in graph.ops:
        s_in, s_w, s_out = (np.float32(graph.tensors[i].quant.scale[0])
                            for i in (op.inputs[0], op.inputs[1], op.outputs[0]))
        m, s = quantize_multiplier(float(np.float32(s_in * s_w)) / float(s_out))
        params[op.index].output_multiplier[:] = m
        params[op.index].output_shift[:] = s
    f32_variant = Interpreter(graph, params=params).run([x])[0]
    assert not np.array_equal(f32_variant, ours)


# ---------------------------------------------------------------- the commands
def _cli(*args: str):
    """Run the real entry point in-process: (exit status, stdout, stderr)."""
    import contextlib
    import io

    from tinygen.cli import main

    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(list(args))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return code, out.getvalue(), err.getvalue()


HELLO = MODELS / "tflm_hello_world_int8.tflite"


@pytest.mark.skipif(not HELLO.exists(), reason=f"{HELLO} is absent (../shared)")
def test_run_command_contract(tmp_path):
    graph = load_model(HELLO)
    t = graph.input_tensors()[0]
    x = make_random_inputs(graph, 5, seed=1)[0]
    np.save(tmp_path / "in.npy", x)
    code, out, err = _cli("run", str(HELLO), "--input", str(tmp_path / "in.npy"), "--output", str(tmp_path / "out.npy"))
    assert code == 0, err
    y = np.load(tmp_path / "out.npy")
    np.testing.assert_array_equal(y, Interpreter(graph).run([x])[0])
    assert y.shape == (5,) + graph.output_tensors()[0].shape
    # an existing output is kept without --force (exit 2), replaced with it
    code, _, err = _cli("run", str(HELLO), "-i", str(tmp_path / "in.npy"), "-o", str(tmp_path / "out.npy"))
    assert code == 2 and "--force" in err
    # one sample of exactly the input shape gives exactly the output shape
    np.save(tmp_path / "one.npy", x[0])
    code, _, err = _cli("run", str(HELLO), "-i", str(tmp_path / "one.npy"), "-o", str(tmp_path / "out.npy"),
                        "--force")
    assert code == 0, err
    assert np.load(tmp_path / "out.npy").shape == graph.output_tensors()[0].shape
    # wrong dtype / shape: exit 2, one line naming both
    np.save(tmp_path / "bad.npy", x.astype(np.float32))
    code, _, err = _cli("run", str(HELLO), "-i", str(tmp_path / "bad.npy"), "-o", str(tmp_path / "o2.npy"))
    assert code == 2 and "float32" in err and "int8" in err and len(err.strip().splitlines()) == 1
    np.save(tmp_path / "bad2.npy", np.zeros((3, 7), np.int8))
    code, _, err = _cli("run", str(HELLO), "-i", str(tmp_path / "bad2.npy"), "-o", str(tmp_path / "o2.npy"))
    assert code == 2 and "3x7" in err and "x".join(map(str, t.shape)) in err
    assert not (tmp_path / "o2.npy").exists()


@pytest.mark.skipif(not HELLO.exists(), reason=f"{HELLO} is absent (../shared)")
def test_compare_command(tmp_path, golden, monkeypatch):
    code, out, err = _cli("compare", str(HELLO), "--samples", "6", "--seed", "3")
    assert code == 0, err
    assert "FULLY_CONNECTED" in out and "bit-exact" in out and out.count(" yes ") == 6
    # a reference that is off by one on one sample must be reported (exit 1)
    import tinygen.commands.compare as compare_mod

    real = compare_mod.run_reference

    def broken(graph, inputs):
        outs = real(graph, inputs)
        outs[0] = outs[0].copy()
        outs[0][2] ^= 1  # flip the last bit of sample 2
        return outs

    monkeypatch.setattr(compare_mod, "run_reference", broken)
    code, out, err = _cli("compare", str(HELLO), "--samples", "6", "--seed", "3")
    assert code == 1 and " NO " in out and "1 of 6" in err


def test_compare_without_tflm_exits_2(monkeypatch):
    import tinygen.golden

    monkeypatch.setattr(tinygen.golden, "tflm_available", lambda: False)
    code, _, err = _cli("compare", str(HELLO), "--samples", "2")
    assert code == 2 and "pip install tinygen[dev]" in err
