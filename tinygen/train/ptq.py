"""`tinygen quantize`: float Keras/SavedModel -> fully int8 .tflite (int8 input and output).

Post-training quantization with TFLiteConverter: the model is exported with a
batch-1 signature (static shapes, so no SHAPE/PACK subgraphs reach the file),
calibrated on up to `samples` training rows of the calibration data, and
converted with int8 builtins only, int8 input and int8 output.

The report compares the int8 model, run by tinygen's reference interpreter
(TFLM's Python interpreter if the reference interpreter is not importable),
with the float model on the held-out rows: accuracy (or RMSE), mean absolute
difference of the dequantized outputs, and their cosine similarity.

Which rows: the sidecar written by `tinygen train` records the input shape,
label column, label map, task and seed; the calibration data is split with
the same seed and fraction as at train time, so calibration uses training rows
and the report uses the same held-out rows the float accuracy was measured on
(or the NPZ's x_test/y_test).
"""
from __future__ import annotations

import contextlib
import csv
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np

from tinygen.errors import TinygenError
from tinygen.train import data as D
from tinygen.train.trainer import TEST_FRACTION, evaluate

DEFAULT_SAMPLES = 200


# --------------------------------------------------------------------------- loading the float model

class FloatModel:
    """A float model from .keras/.h5 or a SavedModel folder, with one-sample input shape."""

    def __init__(self, path: Path):
        from tinygen.train import tf_module

        self.tf = tf = tf_module()
        self.path = path
        self.keras_model = None
        self.signature = None
        if path.is_dir():
            if not (path / "saved_model.pb").exists():
                raise TinygenError(f"{path} is a folder without saved_model.pb: expected a SavedModel folder, "
                                   "a .keras or a .h5 file")
            try:
                self.loaded = tf.saved_model.load(str(path))
            except Exception as exc:
                raise TinygenError(f"cannot load SavedModel {path}: {_first_line(exc)}") from None
            sigs = getattr(self.loaded, "signatures", {})
            if "serving_default" in sigs:
                self.signature = sigs["serving_default"]
            elif len(sigs) == 1:
                self.signature = next(iter(sigs.values()))
            else:
                raise TinygenError(f"{path}: SavedModel has no 'serving_default' signature "
                                   f"(found: {', '.join(sigs) or 'none'})")
            specs = [s for s in self.signature.structured_input_signature[1].values()]
            if len(specs) != 1:
                raise TinygenError(f"{path}: the model has {len(specs)} inputs; tinygen quantize handles one")
            self.input_name = list(self.signature.structured_input_signature[1].keys())[0]
            shape = specs[0].shape
            outs = self.signature.structured_outputs
            if len(outs) != 1:
                raise TinygenError(f"{path}: the model has {len(outs)} outputs; tinygen quantize handles one")
        else:
            if path.suffix not in (".keras", ".h5"):
                raise TinygenError(f"cannot quantize {path.name}: expected a .keras or .h5 file or a SavedModel folder")
            if path.suffix == ".keras" and path.is_file():
                import zipfile

                if not zipfile.is_zipfile(path):
                    raise TinygenError(f"could not load {path} as a Keras model: not a .keras archive "
                                       "(a Keras 3 .keras file is a zip archive)")
            try:
                self.keras_model = tf.keras.models.load_model(str(path), compile=False)
            except Exception as exc:
                reason = _first_line(exc)
                if path.is_file() and ("not found" in reason.lower() or "no such file" in reason.lower()):
                    reason = f"the file is not a valid {path.suffix} model ({type(exc).__name__})"
                raise TinygenError(f"could not load {path} as a Keras model: {reason}") from None
            if len(self.keras_model.inputs) != 1 or len(self.keras_model.outputs) != 1:
                raise TinygenError(f"{path}: the model has {len(self.keras_model.inputs)} inputs and "
                                   f"{len(self.keras_model.outputs)} outputs; tinygen quantize handles one of each")
            shape = self.keras_model.inputs[0].shape
        dims = list(shape)[1:]
        if any(d is None for d in dims):
            raise TinygenError(f"{path}: the model input has unknown dimensions {tuple(shape)}; "
                               "a microcontroller model needs a fixed input shape")
        self.input_shape = tuple(int(d) for d in dims)

    def predict(self, x: np.ndarray) -> np.ndarray:
        if self.keras_model is not None:
            return np.concatenate([np.asarray(self.keras_model(x[i:i + 512], training=False))
                                   for i in range(0, len(x), 512)])
        outs = []
        for i in range(0, len(x), 256):
            r = self.signature(**{self.input_name: self.tf.constant(x[i:i + 256])})
            outs.append(next(iter(r.values())).numpy())
        return np.concatenate(outs)

    def export_batch1(self, folder: Path) -> None:
        """A SavedModel whose one signature takes exactly one sample (static shapes)."""
        tf = self.tf
        spec = tf.TensorSpec((1,) + self.input_shape, tf.float32, name="input")
        if self.keras_model is not None:
            self.keras_model.export(str(folder), format="tf_saved_model", input_signature=[spec], verbose=False)
            return
        sig, name = self.signature, self.input_name

        class _One(tf.Module):
            def __init__(self, loaded):
                super().__init__()
                self.loaded = loaded

            @tf.function(input_signature=[spec])
            def serve(self, x):
                return next(iter(sig(**{name: x}).values()))

        mod = _One(self.loaded)
        tf.saved_model.save(mod, str(folder), signatures={"serving_default": mod.serve})


@contextlib.contextmanager
def _quiet_native_output():
    """Silence what the converter's C++ side prints on fds 1/2 ('fully_quantize: 0, ...')."""
    import sys

    saved = []
    try:
        sys.stdout.flush()
        sys.stderr.flush()
        with open(os.devnull, "w") as null:
            for fd in (1, 2):
                saved.append((fd, os.dup(fd)))
                os.dup2(null.fileno(), fd)
    except (OSError, ValueError):  # no real fds (embedded use): leave output alone
        for fd, dup in saved:
            os.dup2(dup, fd)
            os.close(dup)
        saved = []
    try:
        yield
    finally:
        for fd, dup in saved:
            os.dup2(dup, fd)
            os.close(dup)


def _first_line(exc: Exception) -> str:
    s = str(exc).strip().splitlines()
    return s[0][:300] if s else type(exc).__name__


# --------------------------------------------------------------------------- int8 execution

class Int8Runner:
    """Runs one int8 sample through tinygen's reference interpreter (or TFLM if it is missing)."""

    def __init__(self, tflite_path: Path):
        from tinygen.model import load_model

        self.graph = load_model(tflite_path)
        self.engine = "tinygen reference interpreter"
        from tinygen.errors import UnsupportedOpError

        self._tflm = None
        try:
            from tinygen.ref.interpreter import Interpreter

            self._interp = Interpreter(self.graph)
            return
        except ImportError:
            why = "tinygen.ref.interpreter not available"
        except UnsupportedOpError as exc:  # the model converts, but tinygen cannot run it: say so
            why = f"WARNING tinygen cannot run this model: {exc}"
        try:
            from tflite_micro.python.tflite_micro import runtime
        except ImportError:
            raise TinygenError(f"cannot run the int8 model to check it ({why}; TFLM not installed)") from None
        self.engine = f"TFLM; {why}"
        self._interp = None
        self._tflm = runtime.Interpreter.from_bytes(Path(tflite_path).read_bytes())

    def run(self, q: np.ndarray) -> np.ndarray:
        """q: int8 [N, *one-sample shape] -> int8 [N, output size]."""
        n = len(q)
        q = q.reshape((n,) + tuple(self.graph.input_tensors()[0].shape))
        if self._interp is not None:
            return np.asarray(self._interp.run([q])[0]).reshape(n, -1)
        outs = []
        for i in range(n):
            self._tflm.set_input(q[i], 0)
            self._tflm.invoke()
            outs.append(np.asarray(self._tflm.get_output(0)).reshape(-1).copy())
        return np.stack(outs)


def quantize_input(x: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """float -> int8 as TFLite's QUANTIZE does: float32 x / scale, round half away from zero, saturate."""
    r = (np.asarray(x, dtype=np.float32) / np.float32(scale)).astype(np.float64)
    q = np.sign(r) * np.floor(np.abs(r) + 0.5)
    return np.clip(q + zero_point, -128, 127).astype(np.int8)


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    return (q.astype(np.float64) - zero_point) * scale


# --------------------------------------------------------------------------- main entry

def _csv_header(path: Path) -> list[str]:
    with open(path, newline="", encoding="utf-8-sig") as f:
        for row in csv.reader(f):
            if row and any(c.strip() for c in row):
                return [c.strip() for c in row]
    return []


def load_calibration(path: Path, meta: dict | None, n_features: int) -> D.Dataset:
    """Read calibration data; find its label column the way train did (labels are optional).

    When the sidecar records the training CSV's feature columns, a calibration CSV must
    have every one of them: they are taken by name, in the training order; other columns
    (the recorded label column among them) are ignored."""
    label = None
    if path.suffix.lower() in (".csv", ".txt") and path.is_file():
        header = _csv_header(path)
        want = (meta or {}).get("label_column")
        features = (meta or {}).get("feature_columns")
        if features:
            for col in features:
                if col not in header:
                    raise TinygenError(f"calibration CSV lacks feature column '{col}' "
                                       f"(the model was trained on {','.join(features)}): {path}")
            label = want if want and want in header and want not in features else None
            return D.load_data(path, label=label, require_labels=False, features=list(features))
        if want and want in header:
            label = want
        elif "label" in header:
            label = "label"
        elif len(header) == n_features + 1:
            label = header[-1]
    return D.load_data(path, label=label, require_labels=False)


def quantize(model_path: str | Path, calibration: str | Path, out: str | Path, *, samples: int = DEFAULT_SAMPLES,
             force: bool = False, echo: Callable[[str], None] = print) -> dict:
    """Write the full-int8 `out` (.tflite) and its sidecar; returns the report figures."""
    model_path, calibration, out = Path(model_path), Path(calibration), Path(out)
    if not model_path.exists():
        raise TinygenError(f"model not found: {model_path}")
    if model_path.suffix == ".tflite":
        raise TinygenError(_tflite_refusal(model_path))
    if out.suffix != ".tflite":
        raise TinygenError(f"output must end in .tflite, got {out.name}")
    from tinygen.commands._common import check_output_path

    check_output_path(out, force)
    if samples < 1:
        raise TinygenError("--samples must be at least 1")
    meta = D.read_sidecar(model_path)
    out_side = D.sidecar_path(out)
    # OUT.labels.json will be written: it is an output too -- unless it is MODEL's own
    # sidecar (model.keras -> model.tflite share model.labels.json), which quantize extends.
    if meta is not None and out_side.resolve() != D.sidecar_path(model_path).resolve():
        check_output_path(out_side, force, "sidecar")

    fm = FloatModel(model_path)
    in_shape = fm.input_shape
    if meta is not None and tuple(meta.get("input_shape", in_shape)) != in_shape:
        raise TinygenError(f"{D.sidecar_path(model_path)} says input shape {tuple(meta['input_shape'])} but "
                           f"the model takes {in_shape}: the sidecar belongs to another model")
    n_features = int(np.prod(in_shape))
    ds = load_calibration(calibration, meta, n_features)
    x = D.reshape_features(ds.x, in_shape, str(calibration), what="the model input shape")
    x_test = None if ds.x_test is None else D.reshape_features(ds.x_test, in_shape, str(calibration),
                                                               what="the model input shape")
    task = (meta or {}).get("task")
    labels = (meta or {}).get("labels")
    seed = int((meta or {}).get("seed", 0))

    # Targets, when the data has them.
    def targets(y):
        if y is None or task is None:
            return None
        if task == D.CLASSIFICATION:
            return D.encode_labels(y, labels, str(calibration))
        return y.astype(np.float32).reshape(len(y), -1)

    if x_test is not None:
        cal_x, eval_x, eval_y = x, x_test, targets(ds.y_test)
        held = "x_test"
    else:
        tr, te = D.split_indices(len(x), float((meta or {}).get("test_fraction", TEST_FRACTION)), seed)
        y_all = targets(ds.y)
        cal_x, eval_x = x[tr], x[te]
        eval_y = None if y_all is None else y_all[te]
        held = "seeded split"
    rng = np.random.default_rng(seed)
    pick = rng.permutation(len(cal_x))[:samples]
    cal = cal_x[pick].astype(np.float32)
    echo(f"calibrating on {len(cal)} rows of {calibration}; input {'x'.join(map(str, in_shape))}")

    tf = fm.tf
    tmp = Path(tempfile.mkdtemp(prefix="tinygen_ptq_"))
    try:
        fm.export_batch1(tmp / "saved")
        conv = tf.lite.TFLiteConverter.from_saved_model(str(tmp / "saved"))
        conv.optimizations = [tf.lite.Optimize.DEFAULT]

        def representative():
            for row in cal:
                yield [row[None]]

        conv.representative_dataset = representative
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
        try:
            with _quiet_native_output():
                buf = conv.convert()
        except Exception as exc:
            raise TinygenError(f"TFLiteConverter could not make a full-int8 model: {_first_line(exc)}") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out.write_bytes(buf)

    runner = Int8Runner(out)
    g = runner.graph
    tin, tout = g.input_tensors()[0], g.output_tensors()[0]
    if tin.dtype != "int8" or tout.dtype != "int8" or tin.quant is None or tout.quant is None:
        raise TinygenError(f"the converter did not produce int8 input/output ({tin.dtype}/{tout.dtype})")
    in_s, in_zp = tin.quant.single_scale, tin.quant.single_zero_point
    out_s, out_zp = tout.quant.single_scale, tout.quant.single_zero_point
    echo(f"wrote {out} ({len(buf):,} B): ops {', '.join(_op_counts(g))}; input int8 s={in_s:.6g} zp={in_zp}, "
         f"output int8 s={out_s:.6g} zp={out_zp}")

    report: dict = {"engine": runner.engine, "held_out": held, "rows": int(len(eval_x)), "bytes": len(buf),
                    "input_scale": in_s, "input_zero_point": in_zp, "output_scale": out_s,
                    "output_zero_point": out_zp}
    if len(eval_x):
        report.update(compare(fm, runner, eval_x, eval_y, task, in_s, in_zp, out_s, out_zp, echo))
    else:
        echo("no held-out rows to compare int8 with float on")
    new_meta = dict(meta or {"task": task, "labels": labels, "input_shape": list(in_shape)})
    new_meta.update({"quantized_from": str(model_path), "calibration": str(calibration),
                     "calibration_samples": int(len(cal)), "input_scale": in_s, "input_zero_point": in_zp,
                     "output_scale": out_s, "output_zero_point": out_zp,
                     "int8_report": {k: v for k, v in report.items() if k not in ("engine",)}})
    if task is not None or meta is not None:
        sp = D.write_sidecar(out, new_meta)
        echo(f"wrote {sp.name} (label map, input shape, task for verify and reports)")
    return report


def compare(fm: FloatModel, runner: Int8Runner, x: np.ndarray, y: np.ndarray | None, task: str | None,
            in_s: float, in_zp: int, out_s: float, out_zp: int, echo: Callable[[str], None]) -> dict:
    """Float vs int8 on rows x: task metric for each, mean |difference|, cosine similarity."""
    f_out = fm.predict(x.astype(np.float32)).reshape(len(x), -1).astype(np.float64)
    q_in = quantize_input(x, in_s, in_zp)
    q_out = runner.run(q_in)
    i_out = dequantize(q_out, out_s, out_zp)
    diff = np.abs(i_out - f_out)
    a, b = f_out.reshape(-1), i_out.reshape(-1)
    denom = np.linalg.norm(a) * np.linalg.norm(b)
    cos = float(a @ b / denom) if denom > 0 else float("nan")
    res: dict = {"mean_abs_error": float(diff.mean()), "max_abs_error": float(diff.max()), "cosine": cos}
    lines = [f"int8 ({runner.engine}) vs float on {len(x)} held-out rows:"]
    if y is not None and task is not None:
        mf, mi = evaluate(f_out, y, task), evaluate(i_out, y, task)
        res["float"], res["int8"] = mf, mi
        if task == D.CLASSIFICATION:
            agree = float(np.mean(np.argmax(f_out, 1) == np.argmax(i_out, 1)))
            res["agreement"] = agree
            lines.append(f"  {'':<22}{'float':>10}{'int8':>10}")
            lines.append(f"  {'accuracy':<22}{100 * mf['accuracy']:>9.2f}%{100 * mi['accuracy']:>9.2f}%")
            lines.append(f"  {'same class as float':<22}{'':>10}{100 * agree:>9.2f}%")
        else:
            lines.append(f"  {'':<22}{'float':>10}{'int8':>10}")
            lines.append(f"  {'RMSE':<22}{mf['rmse']:>10.4f}{mi['rmse']:>10.4f}")
            lines.append(f"  {'MAE vs targets':<22}{mf['mae']:>10.4f}{mi['mae']:>10.4f}")
    elif task is None:
        lines.append("  (no sidecar from `tinygen train`: no labels to score, comparing outputs only)")
    lines.append(f"  mean |int8 - float| output {res['mean_abs_error']:.5f} (max {res['max_abs_error']:.5f}, "
                 f"output step {out_s:.5g})")
    lines.append(f"  cosine similarity          {cos:.6f}")
    for ln in lines:
        echo(ln)
    return res


def _op_counts(g) -> list[str]:
    counts: dict[str, int] = {}
    for t in g.op_types():
        counts[t] = counts.get(t, 0) + 1
    return [f"{k}x{v}" if v > 1 else k for k, v in counts.items()]


def _tflite_refusal(path: Path) -> str:
    kind = "a .tflite model"
    try:
        from tinygen.model import read_tflite

        g = read_tflite(path)
        dtypes = {t.dtype for t in g.input_tensors()} | {t.dtype for t in g.tensors if t.is_constant}
        if "float32" in dtypes:
            kind = "a float .tflite"
        else:
            kind = "already a quantized .tflite (run it through generate/verify directly)"
    except TinygenError:
        pass
    return (f"{path.name} is {kind}: tinygen quantize needs the float model it came from; pass the .keras, .h5 "
            "or SavedModel folder instead")
