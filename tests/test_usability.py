"""Regressions from a fresh user's first session: outputs never overwritten
without --force and checked before long work, flash refusing non-firmware and
wrong-target projects before erasing, a fast and explanatory first contact with
a device, condensed verify/compare output, help texts, small CLI manners."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from tinygen.errors import TinygenError

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(__file__).resolve().parents[2] / "shared" / "models"
HELLO = SHARED / "tflm_hello_world_int8.tflite"
ENTRY = [sys.executable, "-m", "tinygen.cli"]
needs_shared = pytest.mark.skipif(not HELLO.exists(), reason=f"shared models not present ({SHARED})")


def tinygen(*args, cwd=None, timeout=180):
    return subprocess.run(ENTRY + [str(a) for a in args], capture_output=True, text=True, timeout=timeout,
                          cwd=cwd)


def one_line_error(r, code=2, *fragments):
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.startswith("error: ")]
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    for f in fragments:
        assert f in lines[0], (f, lines[0])
    return lines[0]


@pytest.fixture
def model(tmp_path):
    if not HELLO.exists():
        pytest.skip(f"shared models not present ({SHARED})")
    m = tmp_path / "m.tflite"
    shutil.copyfile(HELLO, m)
    return m


# ---- 1/3: output paths ------------------------------------------------------------------

def test_check_output_path_rules(tmp_path, monkeypatch):
    from tinygen.commands._common import check_output_path

    f = tmp_path / "a.json"
    assert check_output_path(f, False) == f                      # new file in a folder: fine
    f.write_text("keep")
    with pytest.raises(TinygenError, match="exists; pass --force"):
        check_output_path(f, False)
    assert check_output_path(f, True) == f
    with pytest.raises(TinygenError, match="is a folder"):
        check_output_path(tmp_path, True)
    with pytest.raises(TinygenError, match="does not exist"):
        check_output_path(tmp_path / "nodir" / "x.npy", False)
    with pytest.raises(TinygenError, match="not a folder"):
        check_output_path(f / "x.npy", False)
    monkeypatch.setattr(os, "access", lambda *a, **k: False)    # a read-only folder (root ignores modes)
    with pytest.raises(TinygenError, match="not writable"):
        check_output_path(tmp_path / "new.npy", False)
    with pytest.raises(TinygenError, match="not writable"):
        from tinygen.commands._common import check_output_dir
        check_output_dir(tmp_path / "fw")


def test_profile_json_refuses_existing_file_before_connecting(model, tmp_path):
    before = model.read_bytes()
    r = tinygen("profile", model, "--port", "socket://127.0.0.1:1", "--json", model)
    one_line_error(r, 2, "exists; pass --force")
    assert model.read_bytes() == before
    d = tmp_path / "emptydir"
    d.mkdir()
    one_line_error(tinygen("profile", "--port", "socket://127.0.0.1:1", "--json", d), 2, "is a folder")


def test_unwritable_outputs_exit_2_before_work(model, tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((1, 1), np.int8))
    one_line_error(tinygen("run", model, "-i", tmp_path / "x.npy", "-o", tmp_path / "nodir" / "y.npy"), 2,
                   "does not exist")
    one_line_error(tinygen("verify", model, "--port", "socket://127.0.0.1:1", "--report",
                           tmp_path / "nodir" / "r.json"), 2, "--report", "does not exist")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    one_line_error(tinygen("generate", model, "-o", blocker / "fw"), 2, "not a folder")


def test_oserror_reaching_main_is_one_line_exit_2(monkeypatch, capsys):
    from tinygen import cli

    def boom(*a, **k):
        raise PermissionError(13, "Permission denied", "ro/y.npy")

    monkeypatch.setattr(cli.cli, "main", boom)
    with pytest.raises(SystemExit) as exc:
        cli.main(["run"])
    assert exc.value.code == 2
    assert capsys.readouterr().err.strip() == "error: ro/y.npy: Permission denied"


# ---- 4: sidecars ------------------------------------------------------------------------

def test_train_refuses_existing_sidecar(tmp_path):
    (tmp_path / "d.csv").write_text("a,b,label\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(20)))
    side = tmp_path / "m.labels.json"
    side.write_text("mine")
    r = tinygen("train", "d.csv", "-o", "m.keras", cwd=tmp_path)
    one_line_error(r, 2, "m.labels.json exists; pass --force")
    assert side.read_text() == "mine" and not (tmp_path / "m.keras").exists()


def test_quantize_refuses_existing_sidecar(tmp_path):
    (tmp_path / "g.keras").write_bytes(b"not a model")
    (tmp_path / "g.labels.json").write_text(json.dumps({"task": "classification", "labels": [0, 1],
                                                        "input_shape": [2]}))
    (tmp_path / "q.labels.json").write_text("mine")
    (tmp_path / "d.csv").write_text("a,b\n1,2\n")
    r = tinygen("quantize", "g.keras", "--calibration", "d.csv", "-o", "q.tflite", cwd=tmp_path)
    one_line_error(r, 2, "q.labels.json exists; pass --force")
    assert (tmp_path / "q.labels.json").read_text() == "mine"


def test_quantize_garbage_keras_says_it_cannot_load(tmp_path):
    (tmp_path / "g.keras").write_bytes(b"garbage, not a zip")
    (tmp_path / "d.csv").write_text("a,b\n1,2\n")
    line = one_line_error(tinygen("quantize", "g.keras", "--calibration", "d.csv", "-o", "q.tflite",
                                  cwd=tmp_path), 2, "could not load g.keras as a Keras model")
    assert "not found" not in line.lower()


# ---- 2: flash refuses before erasing -----------------------------------------------------

def _vector_image(sp=0x20010000, reset=0x00010101, size=512) -> bytes:
    return sp.to_bytes(4, "little") + reset.to_bytes(4, "little") + bytes(size - 8)


def test_vector_table_check():
    from tinygen.commands.flash import check_vector_table

    check_vector_table(_vector_image(), 0x08000000, "emu.bin")                        # emulated board alias
    check_vector_table(_vector_image(reset=0x08000101), 0x08000000, "stm32.bin")     # runs where written
    with pytest.raises(TinygenError, match="stack pointer"):
        check_vector_table(b"hello world, not firmware\n", 0x08000000, "t.txt")
    with pytest.raises(TinygenError, match="odd"):
        check_vector_table(_vector_image(reset=0x08000100), 0x08000000, "even.bin")
    with pytest.raises(TinygenError, match="inside the image"):
        check_vector_table(_vector_image(reset=0x08100001), 0x08000000, "far.bin")
    if HELLO.exists():
        with pytest.raises(TinygenError, match="--raw"):
            check_vector_table(HELLO.read_bytes(), 0x08000000, "m.tflite")


def test_project_target_against_chip(tmp_path):
    from tinygen.commands.flash import check_chip, check_project_target

    check_project_target(tmp_path, "mps2-an386")
    check_chip(tmp_path, "mps2-an386", 0x413, "emulated")
    check_chip(tmp_path, "nucleo-l4r5zi", 0x470, "STM32L4R5")
    with pytest.raises(TinygenError, match="reports 0x413"):
        check_chip(tmp_path, "nucleo-l4r5zi", 0x413, "STM32F405")
    with pytest.raises(TinygenError, match="not flashed through an STM32 bootloader"):
        check_project_target(tmp_path, "mps3-an547")


def test_flash_refuses_text_and_wrong_target_without_erasing(tmp_path):
    from tinygen.device import stm32boot as sb
    from tinygen.device.bootloader import Emulator, bootloader_elf

    bootloader_elf()
    raw = bytes(range(256)) * 4
    (tmp_path / "raw.bin").write_bytes(raw)
    (tmp_path / "t.txt").write_text("just some text, not firmware\n" * 10)
    proj = tmp_path / "proj"
    (proj / "build").mkdir(parents=True)
    (proj / "tinygen.json").write_text(json.dumps({"target": "nucleo-l4r5zi", "target_kind": "cortex-m"}))
    (proj / "build" / "firmware.bin").write_bytes(_vector_image(reset=0x08000101))
    with Emulator(serial="tcp", boot0=True) as emu:
        ok = tinygen("flash", tmp_path / "raw.bin", "--port", emu.url, "-q", "--no-go", "--raw")
        assert ok.returncode == 0, ok.stderr
        one_line_error(tinygen("flash", tmp_path / "t.txt", "--port", emu.url, "-q", "--no-go"), 2,
                       "vector table", "--raw")
        one_line_error(tinygen("flash", proj, "--port", emu.url, "-q", "--no-go"), 2,
                       "nucleo-l4r5zi", "0x413")
        bl = sb.connect(emu.url, timeout=2.0)
        try:
            assert bl.read_memory(0x08000000, 256) == raw[:256]   # nothing was erased
        finally:
            bl.port.close()


# ---- 5: first contact with a device ---------------------------------------------------------

class _Server:
    """A TCP 'device' that answers each received chunk with `reply(data)`."""

    def __init__(self, reply):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.url = f"socket://127.0.0.1:{self.sock.getsockname()[1]}"
        self.reply = reply
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        try:
            conn, _ = self.sock.accept()
            while True:
                data = conn.recv(4096)
                if not data:
                    return
                out = self.reply(data)
                if out:
                    conn.sendall(out)
        except OSError:
            return

    def close(self):
        self.sock.close()


@pytest.mark.parametrize("reply, fragment", [
    (lambda d: b"", "nothing received"),
    (lambda d: b"\x1f" * len(d), "STM32 bootloader"),
    (lambda d: b"hello garbage " * 3, "not tinygen frames"),
])
def test_first_contact_fails_fast_and_explains(reply, fragment):
    from tinygen.device.connect import connect

    server = _Server(reply)
    t0 = time.monotonic()
    try:
        with pytest.raises(TinygenError) as exc:
            with connect(port=server.url, timeout=5.0):
                pass
    finally:
        server.close()
    seconds = time.monotonic() - t0
    msg = str(exc.value)
    assert fragment in msg and "no tinygen firmware answered" in msg, msg
    assert "0x01" not in msg and "INFO" in msg
    assert seconds < 6.0, seconds   # was 4 x 5 s


def test_first_contact_on_a_damaging_link_keeps_retrying():
    """Frame syncs arrive but never a whole frame: a noisy link to real firmware,
    so every attempt is made (as for INVOKE), and the message says so."""
    from tinygen.device.connect import connect

    server = _Server(lambda d: b"\xa5\x5a" + bytes(20))
    try:
        with pytest.raises(TinygenError) as exc:
            with connect(port=server.url, timeout=0.3, attempts=5):
                pass
    finally:
        server.close()
    msg = str(exc.value)
    assert "did not answer INFO after 5 attempts" in msg and "damaged" in msg, msg


def test_no_answer_names_the_command():
    from tinygen.device.protocol import DeviceSession, NoAnswer

    class Silent:
        description = "silent"

        def write(self, data):
            pass

        def read(self, n, timeout):
            time.sleep(timeout)
            return b""

    with pytest.raises(NoAnswer, match="did not answer INVOKE after 2 attempts"):
        DeviceSession(Silent(), timeout=0.05, attempts=2).invoke(b"x")


# ---- verify/run on host firmware: condensed output, stale builds, inputs --------------------

@pytest.fixture
def host_project(model, tmp_path):
    fw = tmp_path / "fw"
    r = tinygen("generate", model, "-o", fw, "--target", "host")
    assert r.returncode == 0, r.stderr
    r = tinygen("build", fw)
    assert r.returncode == 0, r.stderr
    return fw


def test_verify_prints_mismatches_and_first_passes_only(model, host_project):
    r = tinygen("verify", model, "--firmware", host_project, "-n", "15")
    assert r.returncode == 0, r.stderr
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("sample ")]
    assert len(lines) == 10
    assert "... 5 more bit-exact" in r.stdout and "bit-exact: 15/15" in r.stdout
    r = tinygen("verify", model, "--firmware", host_project, "-n", "15", "--verbose")
    assert len([ln for ln in r.stdout.splitlines() if ln.startswith("sample ")]) == 15


def test_stale_build_after_regenerate(model, host_project):
    time.sleep(0.05)
    r = tinygen("generate", model, "-o", host_project, "--target", "host", "--force")
    assert r.returncode == 0, r.stderr
    one_line_error(tinygen("verify", model, "--firmware", host_project, "-n", "1"), 2,
                   "was regenerated since it was built", f"tinygen build {host_project}")


def test_npz_key_must_be_the_input_name(model, tmp_path):
    np.savez(tmp_path / "x.npz", wrong=np.zeros((2, 1, 1), np.int8))
    from tinygen.model import load_model

    name = load_model(model).input_tensors()[0].name
    one_line_error(tinygen("run", model, "-i", tmp_path / "x.npz", "-o", tmp_path / "y.npy"), 2,
                   "no array named", name)
    np.savez(tmp_path / "ok.npz", **{name: np.zeros((2, 1, 1), np.int8)})
    assert tinygen("run", model, "-i", tmp_path / "ok.npz", "-o", tmp_path / "y.npy").returncode == 0


@needs_shared
def test_unsupported_op_reported_first(tmp_path):
    svdf = SHARED / "tflm_keyword_svdf_int16.tflite"
    lstm = SHARED / "tflm_mnist_lstm_int8.tflite"
    one_line_error(tinygen("generate", svdf, "-o", tmp_path / "fw"), 2, "unsupported op SVDF at position 1")
    one_line_error(tinygen("verify", lstm, "--port", "socket://127.0.0.1:1"), 2,
                   "unsupported op UNIDIRECTIONAL_SEQUENCE_LSTM at position 0")


# ---- 6: the demo pipeline on Ctrl-C ----------------------------------------------------------

def test_pipeline_ctrl_c_exits_130(monkeypatch, capsys):
    import importlib.util

    spec = importlib.util.spec_from_file_location("tinygen_examples_pipeline_ctrlc", ROOT / "examples" / "pipeline.py")
    pipeline = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = pipeline
    spec.loader.exec_module(pipeline)

    def interrupted(ex, argv):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "_run", interrupted)
    with pytest.raises(SystemExit) as exc:
        pipeline.main(pipeline.Example("x", ROOT / "examples" / "shapes", "data.npz"), [])
    assert exc.value.code == 130
    assert "interrupted" in capsys.readouterr().err


# ---- 7: emulate on a busy port ---------------------------------------------------------------

def test_emulate_busy_port_says_so():
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    port = busy.getsockname()[1]
    try:
        r = tinygen("emulate", "mps2-an386", "--serial", f"tcp:127.0.0.1:{port}", timeout=30)
    finally:
        busy.close()
    one_line_error(r, 2, f"port {port} is in use")
    assert "serial:" not in r.stdout


# ---- 8: compare --------------------------------------------------------------------------------

def test_compare_condensed_and_localizes_divergence(model):
    r = tinygen("compare", model, "-n", "40")
    assert r.returncode == 0, r.stderr
    assert "bit-exact: 40/40" in r.stdout and "end-to-end" in r.stdout
    rows = [ln for ln in r.stdout.splitlines() if ln.split()[1:2] == ["yes"]]
    assert len(rows) == 10 and "... 30 more bit-exact" in r.stdout   # not a row per sample

    from tinygen.commands.compare import first_divergence
    from tinygen.commands.verify import random_inputs
    from tinygen.model import load_model

    graph = load_model(model)
    inputs = random_inputs(graph, 2, 0)
    assert first_divergence(model, graph, inputs, 1) is None
    # Damage the weights of the LAST op on our side only: the divergence is located there.
    last = graph.ops[-1]
    w = graph.tensors[last.inputs[1]]
    w.data = (w.data.astype(np.int16) + 1).clip(-127, 127).astype(w.data.dtype)
    where = first_divergence(model, graph, inputs, 1)
    assert where is not None and where.startswith(f"op {last.index} {last.type}"), where


# ---- 10/11/13: wording, help, manners -------------------------------------------------------

def test_host_memory_table_puts_weights_in_flash():
    from tinygen.commands.build import memory_rows

    rows = memory_rows({"flash": 60000, "ram": 16312}, {"weight_bytes": 31336, "arena_bytes": 8000})
    labels = [k for k, _ in rows]
    assert labels.index("  of which weights") < labels.index("RAM (data+bss)")
    assert rows[labels.index("  of which arena")][1] <= rows[labels.index("RAM (data+bss)")][1]


def test_inspect_peak_wording(model):
    r = tinygen("inspect", model)
    assert r.returncode == 0, r.stderr
    assert "layer-by-layer peak" in r.stdout and "ideal peak" not in r.stdout


def test_help_texts_and_bare_tinygen():
    r = tinygen()
    assert r.returncode == 0 and "Usage:" in r.stdout and r.stderr == ""
    r = tinygen("emulate", "--help")
    assert "mps2-an386" in r.stdout and "mps3-an547" in r.stdout
    r = tinygen("generate", "--help")
    assert "mps2-an386" in r.stdout and "generate --help" not in r.stdout


def test_broken_pipe_exits_quietly(model):
    p = subprocess.Popen(ENTRY + ["inspect", str(model)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.close()  # the reader went away (`| head -0`)
    err = p.stderr.read()
    assert p.wait(timeout=60) == 0, err
    assert b"Traceback" not in err and b"error" not in err


def test_unicode_model_name_transliterated():
    from tinygen.codegen.names import c_identifier

    assert c_identifier("ünïcødé.tflite") == "unicode"
    assert c_identifier("Æsøp straße.tflite") == "aesop_strasse"
