"""The command line's exit-status contract for the commands of the model front end.

Bad input exits 2 with exactly one line on stderr ('error: ...') and no
traceback; --help works for the group and for `inspect`. Runs the real
entry point in a child process (`tinygen` when installed, else
`python -m tinygen.cli`).
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SHARED_MODELS = Path(__file__).resolve().parents[2] / "shared" / "models"
ENTRY = [shutil.which("tinygen")] if shutil.which("tinygen") else [sys.executable, "-m", "tinygen.cli"]


def tinygen(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(ENTRY + list(args), capture_output=True, text=True, timeout=120)


def assert_one_line_error(proc: subprocess.CompletedProcess, *fragments: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def test_missing_file(tmp_path):
    missing = tmp_path / "nothing.tflite"
    assert_one_line_error(tinygen("inspect", str(missing)), str(missing), "no such file")


def test_directory(tmp_path):
    assert_one_line_error(tinygen("inspect", str(tmp_path)), str(tmp_path), "folder")


@pytest.mark.parametrize("content,fragment", [
    (b"", "too short"),
    (b"name,value\n1,2\n", "TFL3"),
    (b"\x1c\x00\x00\x00TFL3" + b"\xff" * 40, "corrupt or truncated"),
])
def test_not_a_tflite_file(tmp_path, content, fragment):
    f = tmp_path / "model.tflite"
    f.write_bytes(content)
    assert_one_line_error(tinygen("inspect", str(f)), str(f), fragment)


def test_usage_errors_exit_2():
    assert tinygen("inspect").returncode == 2  # no MODEL
    assert tinygen("inspect", "x.tflite", "--backend", "nope").returncode == 2
    assert tinygen("no-such-command").returncode == 2


def test_help():
    top = tinygen("--help")
    assert top.returncode == 0 and "inspect" in top.stdout and "Exit status" in top.stdout
    sub = tinygen("inspect", "--help")
    assert sub.returncode == 0
    for word in ("MODEL", "--json", "--backend", "portable", "cmsis-nn"):
        assert word in sub.stdout


@pytest.mark.skipif(not SHARED_MODELS.is_dir(), reason=f"shared models folder {SHARED_MODELS} is absent")
def test_inspect_a_real_model_exits_0():
    proc = tinygen("inspect", str(SHARED_MODELS / "tflm_micro_speech.tflite"))
    assert proc.returncode == 0 and proc.stderr == ""
    assert "DEPTHWISE_CONV_2D" in proc.stdout and "total:" in proc.stdout
