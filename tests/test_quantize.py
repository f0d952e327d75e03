"""`tinygen quantize`: full-int8 models that run bit for bit the same in tinygen's reference
interpreter and in TFLM (the golden), accuracy kept within 2 points on the examples, and
the refusals (float .tflite, calibration data of the wrong shape, existing output).
"""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from tinygen.train import data as D

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"

pytestmark = pytest.mark.tf


def tinygen(*args) -> int:
    from tinygen.cli import main

    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in args])
    return int(exc.value.code or 0)


@pytest.fixture(scope="module")
def tf():
    pytest.importorskip("tensorflow", reason="TensorFlow is not installed (pip install 'tinygen[train]')")
    from tinygen.train import tf_module

    return tf_module()


def reference(tflite: Path, q: np.ndarray) -> np.ndarray:
    """tinygen's reference interpreter on int8 samples [N, *tensor shape]."""
    from tinygen.model import load_model
    from tinygen.ref.interpreter import Interpreter

    return Interpreter(load_model(tflite)).run([q])[0]


def input_tensor(tflite: Path):
    from tinygen.model import load_model

    return load_model(tflite).input_tensors()[0]


# One tiny model per architecture, so every op the architectures emit goes through the check.
ARCH_DATA = {
    "mlp": ((5,), None),
    "cnn1d": ((24,), "24,1"),
    "cnn2d": ((8, 8, 1), None),
    "dscnn": ((10, 10, 2), None),
}


@pytest.fixture(scope="module")
def tiny_models(tf, tmp_path_factory):
    """arch -> (folder, data path): each trained 2 epochs on 60 random rows and quantized."""
    root = tmp_path_factory.mktemp("tiny")
    out = {}
    for arch, (shape, flag) in ARCH_DATA.items():
        d = root / arch
        d.mkdir()
        rng = np.random.default_rng(len(arch))
        y = np.arange(60) % 3
        x = (rng.normal(0, 1, (60,) + shape) + y.reshape((-1,) + (1,) * len(shape))).astype(np.float32)
        np.savez(d / "d.npz", x=x, y=y)
        args = ["train", d / "d.npz", "--arch", arch, "--epochs", "2", "-o", d / "m.keras"]
        if flag:
            args += ["--input-shape", flag]
        assert tinygen(*args) == 0
        assert tinygen("quantize", d / "m.keras", "--calibration", d / "d.npz", "--samples", "30",
                       "-o", d / "m.tflite") == 0
        out[arch] = (d, d / "d.npz")
    return out


@pytest.mark.parametrize("arch", list(ARCH_DATA))
def test_int8_model_is_bit_exact_with_tflm(tiny_models, golden, arch):
    d, _ = tiny_models[arch]
    tflite = d / "m.tflite"
    t = input_tensor(tflite)
    assert t.dtype == "int8"
    from tinygen.model import load_model

    g = load_model(tflite)
    assert g.output_tensors()[0].dtype == "int8"
    assert not [x for x in g.tensors if x.dtype == "float32"], "float tensors left in a full-int8 model"
    rng = np.random.default_rng(5)
    q = rng.integers(-128, 128, (16,) + tuple(t.shape), dtype=np.int64).astype(np.int8)
    ours = reference(tflite, q)
    theirs = golden(tflite, [q])[0]
    np.testing.assert_array_equal(ours.reshape(theirs.shape), theirs)


def test_sidecar_follows_the_model_and_report_is_recorded(tiny_models, capsys):
    d, _ = tiny_models["dscnn"]
    meta = D.read_sidecar(d / "m.tflite")
    assert meta["labels"] == [0, 1, 2] and meta["input_shape"] == [10, 10, 2]
    assert meta["output_scale"] == pytest.approx(1 / 256) and meta["output_zero_point"] == -128
    rep = meta["int8_report"]
    assert rep["rows"] == 12 and -1.0 <= rep["cosine"] <= 1.0 and "accuracy" in rep["int8"]


def test_savedmodel_folder_is_accepted(tf, tiny_models, tmp_path, capsys):
    d, data = tiny_models["cnn1d"]
    model = tf.keras.models.load_model(d / "m.keras", compile=False)
    model.export(str(tmp_path / "sm"), format="tf_saved_model", verbose=False)
    assert tinygen("quantize", tmp_path / "sm", "--calibration", data, "-o", tmp_path / "sm.tflite") == 0
    out = capsys.readouterr().out
    assert "cosine similarity" in out and "no sidecar" in out
    assert input_tensor(tmp_path / "sm.tflite").shape == (1, 24, 1)


def test_float_tflite_is_refused_with_a_pointer_to_the_keras_model(tf, tiny_models, tmp_path, capsys):
    d, data = tiny_models["mlp"]
    model = tf.keras.models.load_model(d / "m.keras", compile=False)
    model.export(str(tmp_path / "sm"), format="tf_saved_model", verbose=False)
    buf = tf.lite.TFLiteConverter.from_saved_model(str(tmp_path / "sm")).convert()
    (tmp_path / "float.tflite").write_bytes(buf)
    assert tinygen("quantize", tmp_path / "float.tflite", "--calibration", data, "-o", tmp_path / "q.tflite") == 2
    err = capsys.readouterr().err
    assert "float .tflite" in err and ".keras" in err and "SavedModel" in err
    assert not (tmp_path / "q.tflite").exists()


def test_calibration_of_the_wrong_shape_names_both_shapes(tiny_models, tmp_path, capsys):
    d, _ = tiny_models["cnn2d"]
    np.savez(tmp_path / "bad.npz", x=np.zeros((10, 7, 7, 1), np.float32), y=np.zeros(10, np.int64))
    assert tinygen("quantize", d / "m.keras", "--calibration", tmp_path / "bad.npz", "-o", tmp_path / "q.tflite") == 2
    err = capsys.readouterr().err
    assert "(7, 7, 1)" in err and "(8, 8, 1)" in err and "Traceback" not in err


def test_existing_output_needs_force(tiny_models, tmp_path, capsys):
    d, data = tiny_models["mlp"]
    (tmp_path / "q.tflite").write_bytes(b"keep me")
    assert tinygen("quantize", d / "m.keras", "--calibration", data, "-o", tmp_path / "q.tflite") == 2
    assert "--force" in capsys.readouterr().err
    assert (tmp_path / "q.tflite").read_bytes() == b"keep me"


# --------------------------------------------------------------------------- the committed examples

def _load_example_module(name: str):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / name / "make_data.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _example_data(name: str, tmp: Path) -> Path:
    mod = _load_example_module(name)
    if name == "shapes":
        return mod.write_npz(tmp / "data.npz")
    return mod.write_csv(tmp / "data.csv")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["shapes", "waveforms", "sine"])
def test_committed_example_quantizes_within_two_points_and_bit_exact(tf, golden, tmp_path, capsys, name):
    """Re-quantize the committed example model from its regenerated data (same seed):
    int8 within 2 accuracy points of float (sine: RMSE within 0.02), the reference interpreter
    bit-exact with TFLM on every held-out row, and the committed .tflite reproduced."""
    keras = EXAMPLES / name / "model.keras"
    data = _example_data(name, tmp_path)
    # sidecar next to the copy, as `tinygen train` left it
    (tmp_path / "model.keras").write_bytes(keras.read_bytes())
    (tmp_path / "model.labels.json").write_text((EXAMPLES / name / "model.labels.json").read_text())
    assert tinygen("quantize", tmp_path / "model.keras", "--calibration", data, "-o", tmp_path / "model.tflite") == 0
    capsys.readouterr()
    rep = D.read_sidecar(tmp_path / "model.tflite")["int8_report"]
    if "accuracy" in rep["float"]:
        assert rep["int8"]["accuracy"] >= rep["float"]["accuracy"] - 0.02, rep
        assert rep["float"]["accuracy"] >= 0.9, rep
    else:
        assert rep["int8"]["rmse"] <= rep["float"]["rmse"] + 0.02, rep
    assert rep["cosine"] > 0.99

    # bit-exact on the held-out rows, fed exactly as the device gets them
    spec = importlib.util.spec_from_file_location("tinygen_examples_pipeline", EXAMPLES / "pipeline.py")
    pipeline = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = pipeline  # its dataclasses look themselves up there
    spec.loader.exec_module(pipeline)
    from tinygen.train.ptq import quantize_input

    meta = D.read_sidecar(tmp_path / "model.tflite")
    x, _ = pipeline.held_out(tmp_path, data, meta)
    q = quantize_input(x, meta["input_scale"], meta["input_zero_point"])[:, None]
    ours = reference(tmp_path / "model.tflite", q)
    theirs = golden(tmp_path / "model.tflite", [q])[0]
    np.testing.assert_array_equal(ours.reshape(theirs.shape), theirs)

    committed = EXAMPLES / name / "model.tflite"
    assert (tmp_path / "model.tflite").read_bytes() == committed.read_bytes(), \
        f"re-quantizing {keras.name} no longer reproduces the committed {committed.name}"
    assert json.loads((EXAMPLES / name / "model.labels.json").read_text())["task"] == meta["task"]


# --------------------------------------------------------------------------- calibration CSV columns

def _write_csv(path: Path, header: list[str], cols: dict[str, list]) -> Path:
    n = len(next(iter(cols.values())))
    rows = [",".join(header)] + [",".join(str(cols[h][i]) for h in header) for i in range(n)]
    path.write_text("\n".join(rows) + "\n")
    return path


def test_calibration_csv_columns_are_taken_by_name(tmp_path):
    """The sidecar's feature_columns pick the calibration features by name and order;
    extra columns (text ones too, and the label) are ignored."""
    from tinygen.train.ptq import load_calibration

    rng = np.random.default_rng(3)
    cols = {c: list(np.round(rng.normal(size=12), 3)) for c in "abcd"}
    cols["label"] = [i % 3 for i in range(12)]
    cols["fruit"] = ["apple"] * 12
    meta = {"feature_columns": ["a", "b", "c", "d"], "label_column": "label"}
    p = _write_csv(tmp_path / "shuffled.csv", ["fruit", "d", "label", "b", "a", "c"], cols)
    ds = load_calibration(p, meta, 4)
    want = np.array([cols[c] for c in "abcd"], np.float32).T
    np.testing.assert_array_equal(ds.x, want)
    assert ds.feature_columns == ["a", "b", "c", "d"]


@pytest.mark.parametrize("header,missing", [(["x1", "x2", "x3", "target"], "a"),
                                            (["a", "b", "c", "e", "fruit"], "d")])
def test_calibration_csv_lacking_a_feature_column_is_refused(tf, tmp_path, capsys, header, missing):
    rng = np.random.default_rng(4)
    cols = {c: list(np.round(rng.normal(size=30), 3)) for c in "abcd"}
    cols["label"] = [i % 3 for i in range(30)]
    train = _write_csv(tmp_path / "train.csv", ["a", "b", "c", "d", "label"], cols)
    assert tinygen("train", train, "--arch", "mlp", "--epochs", "1", "-o", tmp_path / "m.keras") == 0
    assert D.read_sidecar(tmp_path / "m.keras")["feature_columns"] == ["a", "b", "c", "d"]
    bad = _write_csv(tmp_path / "cal.csv", header, {h: [1.0] * 10 for h in header})
    capsys.readouterr()
    assert tinygen("quantize", tmp_path / "m.keras", "--calibration", bad, "-o", tmp_path / "q.tflite") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert f"calibration CSV lacks feature column '{missing}' (the model was trained on a,b,c,d)" in err[0]
    assert not (tmp_path / "q.tflite").exists()
