"""`tinygen generate` / `tinygen build` / `tinygen run --firmware` end to end, and
what the generated project promises: valid C names whatever the file is called,
the arena as a visible `*_arena` symbol whose size is the inspect figure and the
header macro, refusal to overwrite a non-empty folder without --force, one-line
errors for unsupported models.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess

import numpy as np
import pytest

from conftest import MODELS
from tinygen.cli import main
from tinygen.codegen.names import C_KEYWORDS, c_identifier


def run_cli(*args) -> int:
    try:
        main(list(map(str, args)))
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


@pytest.fixture
def small_model(tmp_path):
    src = MODELS / "tflm_micro_speech.tflite"
    if not src.is_file():
        pytest.skip(f"{src} is absent (tests read real models from ../shared)")
    # an awkward file name on purpose: it must still become a valid C identifier
    dst = tmp_path / "3 micro-speech (v2).tflite"
    shutil.copyfile(src, dst)
    return dst


@pytest.mark.parametrize("name", ["3 micro-speech (v2).tflite", "int", "", "___", "tg_kernels", "Model.TFLITE",
                                  "ünïcode-näme", "a/b\\c"])
def test_c_identifier(name):
    ident = c_identifier(name)
    assert re.fullmatch(r"[a-z_][a-z0-9_]*", ident), ident
    assert ident not in C_KEYWORDS and not ident.startswith("__") and not ident.startswith("tg_")


def test_generate_build_run(small_model, tmp_path, capsys):
    out = tmp_path / "proj"
    assert run_cli("generate", small_model, "-o", out, "--target", "host") == 0
    # refuses a non-empty folder without --force (exit 2, one line), accepts it with --force
    capsys.readouterr()
    assert run_cli("generate", small_model, "-o", out, "--target", "host") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--force" in err[0]
    assert run_cli("generate", small_model, "-o", out, "--target", "host", "--force") == 0
    assert run_cli("build", out) == 0
    meta = json.loads((out / "tinygen.json").read_text())
    name = meta["model"]
    assert name == "m_3_micro_speech_v2"
    # the arena: one visible symbol, the size reported by inspect and written in model.h
    header = (out / "model.h").read_text()
    arena = int(re.search(rf"#define {name.upper()}_ARENA_BYTES (\d+)", header).group(1))
    nm = subprocess.run(["nm", "-S", str(out / "build" / "firmware")], capture_output=True, text=True).stdout
    sym = [l.split() for l in nm.splitlines() if l.split()[-1:] == [f"{name}_arena"]]
    assert sym and int(sym[0][1], 16) == arena
    capsys.readouterr()
    assert run_cli("inspect", small_model, "--json", "--backend", "portable") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["arena_bytes"] == arena == meta["arena_bytes"]
    # run --firmware equals the reference run
    x = np.random.default_rng(0).integers(-128, 128, size=(4, 1, 1960), dtype=np.int8)
    np.save(tmp_path / "x.npy", x)
    assert run_cli("run", small_model, "--firmware", out, "-i", tmp_path / "x.npy", "-o", tmp_path / "a.npy") == 0
    assert run_cli("run", small_model, "-i", tmp_path / "x.npy", "-o", tmp_path / "b.npy") == 0
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy"))
    # the CMake project builds too
    if shutil.which("cmake"):
        r = subprocess.run(["cmake", "-S", str(out), "-B", str(out / "build-cmake")], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        r = subprocess.run(["cmake", "--build", str(out / "build-cmake"), "-j2"], capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr


def test_bad_input_is_one_line(tmp_path, capsys):
    lstm = MODELS / "tflm_mnist_lstm_int8.tflite"
    if not lstm.is_file():
        pytest.skip(f"{lstm} is absent (tests read real models from ../shared)")
    cases = [
        (["generate", lstm, "-o", tmp_path / "a", "--target", "host"], "UNIDIRECTIONAL_SEQUENCE_LSTM"),
        (["generate", tmp_path / "missing.tflite", "-o", tmp_path / "b", "--target", "host"], "not found"),
        (["generate", lstm, "-o", tmp_path / "c", "--target", "no-such-board"], "unknown target"),
        (["build", tmp_path], "not a tinygen project"),
    ]
    for args, what in cases:
        capsys.readouterr()
        assert run_cli(*args) == 2, args
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and what in err[0], err
    assert not (tmp_path / "a").exists()


def test_generate_explains_a_smaller_arena_only_when_it_is(tmp_path, capsys):
    """'the arena can be smaller ...' is printed when arena < layer-by-layer peak, not when they are equal
    (KWS: portable overlaps layers in place, cmsis-nn's kernels do not)."""
    model = MODELS / "mlperf_tiny_kws_dscnn.tflite"
    if not model.is_file():
        pytest.skip(f"{model} is absent (tests read real models from ../shared)")
    seen = set()
    for backend in ("portable", "cmsis-nn"):
        capsys.readouterr()
        assert run_cli("generate", model, "-o", tmp_path / backend, "--target", "host", "--backend", backend) == 0
        out = capsys.readouterr().out
        arena = int(re.search(r"arena \(RAM\)\s+([\d,]+) bytes", out).group(1).replace(",", ""))
        peak_line = re.search(r"layer-by-layer peak\s+([\d,]+) bytes.*", out)
        peak = int(peak_line.group(1).replace(",", ""))
        assert ("can be smaller" in peak_line.group(0)) == (arena < peak), peak_line.group(0)
        seen.add(arena < peak)
    assert seen == {True, False}


@pytest.mark.skipif(shutil.which("make") is None, reason="make not installed")
def test_sanitize_on_a_cortex_m_project_says_it_is_for_host(small_model, tmp_path, capsys):
    out = tmp_path / "m4"
    assert run_cli("generate", small_model, "-o", out, "--target", "mps2-an386") == 0
    r = subprocess.run(["make", "-C", str(out), "SANITIZE=1"], capture_output=True, text=True)
    assert r.returncode != 0
    assert "SANITIZE=1 is for the host target" in r.stderr
    assert not (out / "build-asan").exists()
    if shutil.which("cmake"):
        r = subprocess.run(["cmake", "-S", str(out), "-B", str(tmp_path / "bc"), "-DTG_SANITIZE=ON"],
                           capture_output=True, text=True)
        assert r.returncode != 0 and "TG_SANITIZE=ON is for the host target" in r.stderr
