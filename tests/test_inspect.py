"""`tinygen inspect` and tinygen/model/stats.py: per-layer figures, totals, JSON, unsupported ops."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from tinygen.commands import inspect as inspect_cmd
from tinygen.model import load_model, load_model_bytes
from tinygen.model.stats import graph_macs, graph_params_bytes, op_macs, op_params_bytes

SHARED_MODELS = Path(__file__).resolve().parents[2] / "shared" / "models"
needs_shared = pytest.mark.skipif(not SHARED_MODELS.is_dir(), reason=f"shared models folder {SHARED_MODELS} is absent")


def _builder():
    return pytest.importorskip("flatbuffer_builder", reason="tests/flatbuffer_builder.py is missing")


def _conv_model(kernel=(3, 2), in_shape=(1, 7, 6, 4), out_ch=5, stride=2):
    fb = _builder()
    oh = -(-in_shape[1] // stride)
    ow = -(-in_shape[2] // stride)
    w = np.arange(out_ch * kernel[0] * kernel[1] * in_shape[3]).reshape(out_ch, *kernel, in_shape[3]) % 7
    return fb.single_op_model(
        "CONV_2D",
        inputs=[fb.T("x", in_shape, "int8", 0.5, -3),
                fb.T("w", w.shape, "int8", [0.01 * (c + 1) for c in range(out_ch)], 0, data=w, axis=0),
                fb.T("b", (out_ch,), "int32", [0.005 * (c + 1) for c in range(out_ch)], 0, data=np.arange(out_ch))],
        outputs=[fb.T("y", (1, oh, ow, out_ch), "int8", 0.25, 4)],
        options=("Conv2DOptions", {"padding": 0, "stride_w": stride, "stride_h": stride,
                                   "dilation_w_factor": 1, "dilation_h_factor": 1})), (oh, ow)


def test_conv_macs_and_params_by_hand():
    buf, (oh, ow) = _conv_model()
    g = load_model_bytes(buf, "conv")
    op = g.ops[0]
    # each of the 1*oh*ow*5 outputs sums 3*2*4 products; weights 5*3*2*4 int8 + 5 int32 bias
    assert op_macs(g, op) == oh * ow * 5 * (3 * 2 * 4)
    assert op_params_bytes(g, op) == 5 * 3 * 2 * 4 + 5 * 4
    assert graph_macs(g) == op_macs(g, op) and graph_params_bytes(g) == op_params_bytes(g, op)


@needs_shared
def test_kws_figures():
    g = load_model(SHARED_MODELS / "mlperf_tiny_kws_dscnn.tflite")
    first = g.ops[0]  # 10x4 conv, 1 input channel, 64 filters, output 25x5
    assert first.type == "CONV_2D" and op_macs(g, first) == 25 * 5 * 64 * 10 * 4
    dw = g.ops[1]  # 3x3 depthwise over 25x5x64
    assert dw.type == "DEPTHWISE_CONV_2D" and op_macs(g, dw) == 25 * 5 * 64 * 9
    fc = g.ops[-2]
    assert fc.type == "FULLY_CONNECTED" and op_macs(g, fc) == 64 * 12
    assert graph_macs(g) == sum(op_macs(g, op) for op in g.ops)
    # parameter bytes = every distinct constant the ops read, as stored in the file
    consts = {i for op in g.ops for i in op.inputs if i >= 0 and g.tensors[i].data is not None}
    assert graph_params_bytes(g) == sum(g.tensors[i].data.nbytes for i in consts)


@needs_shared
def test_json_report_has_the_documented_fields(capsys):
    path = SHARED_MODELS / "mlperf_tiny_kws_dscnn.tflite"
    inspect_cmd.command.main([str(path), "--json"], standalone_mode=False)
    report = json.loads(capsys.readouterr().out)
    for key in ("inputs", "outputs", "ops", "macs", "params_bytes", "unsupported"):
        assert key in report
    x = report["inputs"][0]
    assert x["shape"] == [1, 49, 10, 1] and x["dtype"] == "int8"
    assert isinstance(x["scale"], float) and isinstance(x["zero_point"], int)
    g = load_model(path)
    assert x["scale"] == g.tensors[g.inputs[0]].quant.single_scale
    assert len(report["ops"]) == len(g.ops)
    op0 = report["ops"][0]
    assert op0["op"] == "CONV_2D" and op0["input_shapes"] == [[1, 49, 10, 1]]
    assert op0["output_shapes"] == [[1, 25, 5, 64]] and op0["macs"] == 320000
    assert "per-channel[64]" in op0["quantization"]
    assert report["macs"] == sum(op["macs"] for op in report["ops"])


@needs_shared
def test_table_is_aligned_with_thousands_separators(capsys):
    inspect_cmd.command.main([str(SHARED_MODELS / "mlperf_tiny_kws_dscnn.tflite")], standalone_mode=False)
    out = capsys.readouterr().out
    lines = out.splitlines()
    head = next(i for i, line in enumerate(lines) if line.lstrip().startswith("#"))
    rule, rows = lines[head + 1], lines[head + 2:head + 15]
    assert set(rule.replace(" ", "")) == {"-"}
    # right-aligned numeric columns end where the header names end
    macs_end = lines[head].index("MACs") + len("MACs")
    for row in rows:
        assert re.match(r"^[\d,]+$", row[:macs_end].split()[-1]), row
    assert "320,000" in rows[0]
    assert re.search(r"total: 2,656,768 MACs, [\d,]+ parameter bytes", out)


def test_unsupported_ops_are_listed(capsys):
    fb = _builder()
    buf = fb.single_op_model("CUMSUM", inputs=[fb.T("x", (1, 4), "int32"), fb.T("axis", (), "int32", data=1)],
                             outputs=[fb.T("y", (1, 4), "int32")])
    g = load_model_bytes(buf, "cumsum")
    report = inspect_cmd.model_report(g)
    assert report["support_checked"] is True
    assert [u["op"] for u in report["unsupported"]] == ["CUMSUM"]
    assert report["ops"][0]["supported"] is False
    text = inspect_cmd.format_report(report)
    assert "CUMSUM *" in text and "unsupported ops (* above): 1" in text


def test_support_check_absent_is_said_plainly(monkeypatch):
    buf, _ = _conv_model()
    g = load_model_bytes(buf, "conv")
    monkeypatch.setattr(inspect_cmd, "_support_checker", lambda: None)
    report = inspect_cmd.model_report(g)
    assert report["support_checked"] is False and report["unsupported"] == []
    assert "not checked" in inspect_cmd.format_report(report)


def test_memory_figures_hook_reaches_json_and_table(monkeypatch, tmp_path, capsys):
    buf, _ = _conv_model()
    f = tmp_path / "conv.tflite"
    f.write_bytes(buf)
    seen = []

    def figures(graph, backend):
        seen.append(backend)
        return {"arena_bytes": 12345}

    monkeypatch.setattr(inspect_cmd, "_memory_figures", figures)
    inspect_cmd.command.main([str(f), "--backend", "cmsis-nn", "--json"], standalone_mode=False)
    assert json.loads(capsys.readouterr().out)["arena_bytes"] == 12345
    inspect_cmd.command.main([str(f)], standalone_mode=False)
    assert "arena bytes: 12,345" in capsys.readouterr().out
    assert seen == ["cmsis-nn", "portable"]

