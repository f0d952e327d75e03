"""`tinygen train`: data reading, architectures, determinism and the exit-2 error cases.

Training runs in-process on tiny generated data for 1-2 epochs (TensorFlow is
imported once per session). The error cases fail before TensorFlow is loaded.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tinygen.train import data as D

REPO = Path(__file__).resolve().parents[1]


def tinygen(*args: str) -> int:
    """Run the CLI in this process; returns its exit status."""
    from tinygen.cli import main

    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in args])
    return int(exc.value.code or 0)


@pytest.fixture(scope="module")
def tf():
    pytest.importorskip("tensorflow", reason="TensorFlow is not installed (pip install 'tinygen[train]')")
    from tinygen.train import tf_module

    return tf_module()


def write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    path.write_text(",".join(header) + "\n" + "".join(",".join(str(v) for v in r) + "\n" for r in rows))
    return path


def blobs(n: int = 60, features: int = 4, classes: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    x = rng.normal(0, 0.3, (n, features)) + y[:, None]
    return x.astype(np.float32), y


# --------------------------------------------------------------------------- architectures

ARCH_CASES = [
    # arch, sample shape in the file, --input-shape, model input shape
    ("mlp", (6,), None, (6,)),
    ("cnn1d", (32,), "32,1", (32, 1)),
    ("cnn2d", (8, 8, 1), None, (8, 8, 1)),
    ("dscnn", (64,), "8,8,1", (8, 8, 1)),
]


@pytest.mark.tf
@pytest.mark.parametrize("arch,file_shape,flag,model_shape", ARCH_CASES, ids=[c[0] for c in ARCH_CASES])
def test_each_architecture_trains_with_the_shape_asked(tf, tmp_path, capsys, arch, file_shape, flag, model_shape):
    rng = np.random.default_rng(1)
    n = 40
    y = np.array(["a", "b", "c", "d"])[np.arange(n) % 4]
    x = rng.normal(0, 1, (n,) + file_shape).astype(np.float32)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    args = ["train", tmp_path / "d.npz", "--arch", arch, "--epochs", "2", "-o", tmp_path / "m.keras"]
    if flag:
        args += ["--input-shape", flag]
    assert tinygen(*args) == 0
    out = capsys.readouterr().out
    model = tf.keras.models.load_model(tmp_path / "m.keras", compile=False)
    assert tuple(model.inputs[0].shape[1:]) == model_shape
    assert tuple(model.outputs[0].shape[1:]) == (4,)
    meta = D.read_sidecar(tmp_path / "m.keras")
    assert meta["input_shape"] == list(model_shape) and meta["arch"] == arch
    assert meta["labels"] == ["a", "b", "c", "d"] and meta["task"] == "classification"
    # the printed table's total is the model's real parameter count, and MACs are counted
    assert meta["params"] == model.count_params()
    assert f"{model.count_params():,}" in out and meta["macs"] > 0
    assert "accuracy" in out and "held-out" in out


@pytest.mark.tf
def test_mac_count_matches_hand_count(tf):
    from tinygen.train.architectures import build_model, layer_table

    m = build_model("cnn2d", (16, 16, 1), 4, True)
    rows, params, macs = layer_table(m)
    by = {r[0]: r for r in rows}
    assert by["conv_1"][4] == 16 * 16 * 8 * 9 * 1
    assert by["conv_2"][4] == 8 * 8 * 16 * 9 * 8
    assert by["logits"][4] == 4 * 4 * 16 * 4
    assert macs == 16 * 16 * 8 * 9 + 8 * 8 * 16 * 72 + 256 * 4
    assert params == m.count_params()
    d = build_model("dscnn", (16, 16, 1), 4, True)
    dby = {r[0]: r for r in layer_table(d)[0]}
    assert dby["dw_1"][4] == 8 * 8 * 16 * 9 and dby["pw_1"][4] == 8 * 8 * 16 * 16


# --------------------------------------------------------------------------- labels, tasks, determinism

@pytest.mark.tf
def test_string_labels_round_trip_through_the_sidecar(tf, tmp_path, capsys):
    x, y = blobs()
    names = np.array(["dog", "cat", "bird"])[y]
    write_csv(tmp_path / "d.csv", ["f0", "f1", "f2", "f3", "animal"],
              [list(r) + [n] for r, n in zip(x, names)])
    assert tinygen("train", tmp_path / "d.csv", "--epochs", "1", "-o", tmp_path / "m.keras") == 0
    meta = json.loads((tmp_path / "m.labels.json").read_text())
    assert meta["labels"] == ["bird", "cat", "dog"]  # sorted: index i is class i of the output
    assert meta["label_column"] == "animal" and meta["feature_columns"] == ["f0", "f1", "f2", "f3"]
    np.testing.assert_array_equal(D.encode_labels(np.array(["cat", "dog", "bird"]), meta["labels"]), [1, 2, 0])
    capsys.readouterr()


@pytest.mark.tf
def test_label_column_named_label_is_used_wherever_it_is(tf, tmp_path):
    x, y = blobs(features=2)
    write_csv(tmp_path / "d.csv", ["label", "a", "b"], [[c, r[0], r[1]] for r, c in zip(x, y)])
    assert tinygen("train", tmp_path / "d.csv", "--epochs", "1", "-o", tmp_path / "m.keras") == 0
    meta = D.read_sidecar(tmp_path / "m.keras")
    assert meta["label_column"] == "label" and meta["input_shape"] == [2] and meta["labels"] == [0, 1, 2]


@pytest.mark.tf
def test_float_labels_train_a_regression_and_say_so(tf, tmp_path, capsys):
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 6.28, 80)
    write_csv(tmp_path / "s.csv", ["x", "y"], [[f"{a:.4f}", f"{np.sin(a):.4f}"] for a in x])
    assert tinygen("train", tmp_path / "s.csv", "--epochs", "2", "-o", tmp_path / "m.keras") == 0
    out = capsys.readouterr().out
    assert "non-integer" in out and "regression" in out and "RMSE" in out
    meta = D.read_sidecar(tmp_path / "m.keras")
    assert meta["task"] == "regression" and meta["labels"] is None and meta["outputs"] == 1
    model = tf.keras.models.load_model(tmp_path / "m.keras", compile=False)
    assert type(model.layers[-1]).__name__ == "Dense"  # linear output, no softmax


@pytest.mark.tf
def test_same_seed_same_weights_other_seed_other_weights(tf, tmp_path):
    x, y = blobs()
    np.savez(tmp_path / "d.npz", x=x, y=y)
    w = []
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        assert tinygen("train", tmp_path / "d.npz", "--epochs", "2", "--seed", seed, "-o",
                       tmp_path / f"{name}.keras") == 0
        w.append(tf.keras.models.load_model(tmp_path / f"{name}.keras", compile=False).get_weights())
    assert all(np.array_equal(p, q) for p, q in zip(w[0], w[1]))
    assert not all(np.array_equal(p, q) for p, q in zip(w[0], w[2]))


def test_npz_one_hot_and_x_test_are_understood(tmp_path):
    x, y = blobs()
    onehot = np.eye(3)[y]
    np.savez(tmp_path / "d.npz", x=x[:50], y=onehot[:50], x_test=x[50:], y_test=onehot[50:])
    ds = D.load_data(tmp_path / "d.npz")
    lab = D.prepare_labels(ds, None)
    assert lab.task == "classification" and lab.labels == [0, 1, 2]
    np.testing.assert_array_equal(lab.y, y[:50])
    np.testing.assert_array_equal(lab.y_test, y[50:])


def test_held_out_split_is_reproducible_and_disjoint():
    a_tr, a_te = D.split_indices(100, 0.2, 7)
    b_tr, b_te = D.split_indices(100, 0.2, 7)
    assert np.array_equal(a_te, b_te) and len(a_te) == 20
    assert not set(a_tr) & set(a_te) and len(a_tr) + len(a_te) == 100


# --------------------------------------------------------------------------- bad input: exit 2, one line

def _err(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    return err


def test_missing_label_column_lists_the_columns(tmp_path, capsys):
    write_csv(tmp_path / "d.csv", ["a", "b", "target"], [[1, 2, 0], [3, 4, 1]])
    assert tinygen("train", tmp_path / "d.csv", "--label", "class", "-o", tmp_path / "m.keras") == 2
    err = _err(capsys)
    assert "'class'" in err and "a, b, target" in err


def test_non_numeric_feature_names_column_and_line(tmp_path, capsys):
    write_csv(tmp_path / "d.csv", ["a", "b", "label"], [[1, 2, "x"], [3, "oops", "y"]])
    assert tinygen("train", tmp_path / "d.csv", "-o", tmp_path / "m.keras") == 2
    err = _err(capsys)
    assert "non-numeric feature 'b'" in err and "line 3" in err and "oops" in err


@pytest.mark.parametrize("content", ["", "a,b,label\n"], ids=["empty-file", "header-only"])
def test_empty_data(tmp_path, capsys, content):
    (tmp_path / "d.csv").write_text(content)
    assert tinygen("train", tmp_path / "d.csv", "-o", tmp_path / "m.keras") == 2
    err = _err(capsys)
    assert "no data rows" in err or "empty" in err


def test_empty_npz(tmp_path, capsys):
    np.savez(tmp_path / "d.npz", x=np.zeros((0, 3), np.float32), y=np.zeros(0, np.int64))
    assert tinygen("train", tmp_path / "d.npz", "-o", tmp_path / "m.keras") == 2
    assert "no data rows" in _err(capsys)


def test_input_shape_mismatch_names_both_shapes(tmp_path, capsys):
    x, y = blobs(features=10)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    assert tinygen("train", tmp_path / "d.npz", "--arch", "cnn2d", "--input-shape", "4,4,1",
                   "-o", tmp_path / "m.keras") == 2
    err = _err(capsys)
    assert "10 feature values" in err and "4,4,1" in err and "16" in err


def test_cnn2d_on_flat_rows_asks_for_input_shape(tmp_path, capsys):
    x, y = blobs(features=16)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    assert tinygen("train", tmp_path / "d.npz", "--arch", "cnn2d", "-o", tmp_path / "m.keras") == 2
    assert "--input-shape H,W,C" in _err(capsys)


def test_existing_output_needs_force(tmp_path, capsys):
    x, y = blobs()
    np.savez(tmp_path / "d.npz", x=x, y=y)
    (tmp_path / "m.keras").write_text("precious")
    assert tinygen("train", tmp_path / "d.npz", "-o", tmp_path / "m.keras") == 2
    assert "--force" in _err(capsys)
    assert (tmp_path / "m.keras").read_text() == "precious"


def test_single_class_and_headerless_csv_are_refused(tmp_path, capsys):
    write_csv(tmp_path / "one.csv", ["a", "label"], [[1, "x"], [2, "x"], [3, "x"]])
    assert tinygen("train", tmp_path / "one.csv", "-o", tmp_path / "m.keras") == 2
    assert "only one class" in _err(capsys)
    (tmp_path / "nohdr.csv").write_text("1,2,0\n3,4,1\n")
    assert tinygen("train", tmp_path / "nohdr.csv", "-o", tmp_path / "m.keras") == 2
    assert "header" in _err(capsys)


# --------------------------------------------------------------------------- TensorFlow stays optional

def test_core_and_these_commands_import_without_tensorflow():
    code = ("import sys; import tinygen.cli, tinygen.commands.train, tinygen.commands.quantize, "
            "tinygen.train, tinygen.train.data, tinygen.train.trainer, tinygen.train.ptq, "
            "tinygen.train.architectures; assert 'tensorflow' not in sys.modules, 'tensorflow imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def test_missing_tensorflow_is_one_clear_line(tmp_path, monkeypatch, capsys):
    import tinygen.train as T

    monkeypatch.setattr(T, "_TF", None)
    monkeypatch.setitem(sys.modules, "tensorflow", None)  # makes `import tensorflow` raise ImportError
    x, y = blobs()
    np.savez(tmp_path / "d.npz", x=x, y=y)
    assert tinygen("train", tmp_path / "d.npz", "-o", tmp_path / "m.keras") == 2
    assert "TensorFlow is needed for train/quantize: pip install 'tinygen[train]'" in _err(capsys)


@pytest.mark.parametrize("flag,value", [("--batch-size", "0"), ("--batch-size", "-3"), ("--learning-rate", "-1"),
                                        ("--learning-rate", "0"), ("--learning-rate", "nan"),
                                        ("--learning-rate", "inf")])
def test_bad_batch_size_and_learning_rate_are_refused(tmp_path, capsys, flag, value):
    data = write_csv(tmp_path / "d.csv", ["a", "label"], [[1, 0], [2, 1], [3, 0], [4, 1]])
    assert tinygen("train", str(data), "-o", str(tmp_path / "m.keras"), flag, value) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and flag in err[0] and "Traceback" not in err[0]
    assert not (tmp_path / "m.keras").exists()
