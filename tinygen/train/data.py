"""Reading the user's data for `tinygen train` / `tinygen quantize` (numpy only, no TensorFlow).

Two formats:

CSV with a header row
    One column is the label: the one named by --label, else a column named
    ``label``, else the last column. Every other column is a numeric feature.
    Labels may be strings (classification) or numbers.

NPZ (``numpy.savez``)
    ``x`` (N, ...) features and ``y`` (N,) labels; optionally ``x_test``/``y_test``
    held-out rows. ``y`` may be strings, integers, floats or one-hot rows.
    ``y`` may be absent for calibration-only data.

Task: classification unless --task regression, or unless the labels are
numbers that are not all integers (then regression, and the caller says so).

The sidecar (``<model stem>.labels.json`` next to the .keras and the .tflite)
records what quantize/verify/reports need so nobody passes the flags again::

    {"tinygen_sidecar": 1, "task": "classification" | "regression",
     "labels": ["circle", "square", ...] | null,   # class index -> original label
     "input_shape": [H, W, C],                      # one sample, no batch dim
     "arch": "cnn2d", "label_column": "label", "feature_columns": [...] | null,
     "seed": 0, "test_fraction": 0.2, "float_metrics": {...}}

Use :func:`sidecar_path` / :func:`read_sidecar` to find and read it.
"""
from __future__ import annotations

import csv
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from tinygen.errors import TinygenError

CLASSIFICATION = "classification"
REGRESSION = "regression"
TASKS = (CLASSIFICATION, REGRESSION)
SIDECAR_SUFFIX = ".labels.json"
SIDECAR_VERSION = 1


@dataclass
class Dataset:
    """Features and (optional) raw labels as read from the file."""

    x: np.ndarray                      # float32 (N, ...) features
    y: np.ndarray | None               # raw labels (N,) or (N, k); None when the file has none
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    label_column: str | None = None    # CSV only
    feature_columns: list[str] | None = None
    source: str = ""

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.x.shape[1:])


@dataclass
class Labels:
    """Labels prepared for training: targets plus the class-index -> label map."""

    task: str
    y: np.ndarray                      # int64 class indices, or float32 (N, k) regression targets
    y_test: np.ndarray | None
    labels: list[Any] | None           # classification: index -> original label
    note: str = ""                     # why this task was chosen, when not asked for
    extra: dict = field(default_factory=dict)


# --------------------------------------------------------------------------- reading

def load_data(path: str | Path, label: str | None = None, require_labels: bool = True,
              features: Sequence[str] | None = None) -> Dataset:
    """Read a CSV or NPZ file (see module docstring). TinygenError on anything malformed.

    `features` (CSV only): take exactly these columns as the features, by name and in
    this order (the caller has checked they are all in the header); other columns
    besides the label are ignored."""
    p = Path(path)
    if not p.exists():
        raise TinygenError(f"data file not found: {p}")
    if p.is_dir():
        raise TinygenError(f"data path is a folder, expected a .csv or .npz file: {p}")
    suffix = p.suffix.lower()
    if suffix == ".npz":
        ds = _load_npz(p, require_labels)
    elif suffix in (".csv", ".txt"):
        ds = _load_csv(p, label, require_labels, features)
    else:
        raise TinygenError(f"unknown data format '{p.suffix}' for {p}: expected .csv (with a header) or .npz "
                           "(arrays x, y[, x_test, y_test])")
    if ds.x.shape[0] == 0:
        raise TinygenError(f"{p}: no data rows")
    if ds.x.ndim < 2 or int(np.prod(ds.x.shape[1:])) == 0:
        raise TinygenError(f"{p}: no feature values (x has shape {tuple(ds.x.shape)})")
    if not np.all(np.isfinite(ds.x)):
        raise TinygenError(f"{p}: features contain NaN or infinity")
    ds.source = str(p)
    return ds


def _load_npz(p: Path, require_labels: bool) -> Dataset:
    try:
        with np.load(p, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as exc:  # zipfile/ValueError: not an npz, or object arrays
        raise TinygenError(f"cannot read {p} as .npz: {exc}") from None
    if "x" not in arrays:
        raise TinygenError(f"{p}: no array 'x' (found: {', '.join(sorted(arrays)) or 'none'}); "
                           "expected x, y and optionally x_test, y_test")
    x = _numeric(arrays["x"], p, "x")
    y = arrays.get("y")
    if y is None and require_labels:
        raise TinygenError(f"{p}: no array 'y' with the labels (found: {', '.join(sorted(arrays))})")
    if y is not None and len(y) != len(x):
        raise TinygenError(f"{p}: x has {len(x)} rows but y has {len(y)}")
    x_test = arrays.get("x_test")
    y_test = arrays.get("y_test")
    if x_test is not None:
        x_test = _numeric(x_test, p, "x_test")
        if x_test.shape[1:] != x.shape[1:]:
            raise TinygenError(f"{p}: x_test rows have shape {tuple(x_test.shape[1:])} but x rows "
                               f"{tuple(x.shape[1:])}")
        if y_test is not None and len(y_test) != len(x_test):
            raise TinygenError(f"{p}: x_test has {len(x_test)} rows but y_test has {len(y_test)}")
    if x.ndim == 1:  # one feature per row
        x = x[:, None]
        if x_test is not None and x_test.ndim == 1:
            x_test = x_test[:, None]
    return Dataset(x=x, y=y, x_test=x_test, y_test=y_test)


def _numeric(a: np.ndarray, p: Path, name: str) -> np.ndarray:
    if a.dtype.kind not in "biuf":
        raise TinygenError(f"{p}: array '{name}' is not numeric (dtype {a.dtype})")
    return a.astype(np.float32)


def _load_csv(p: Path, label: str | None, require_labels: bool,
              features: Sequence[str] | None = None) -> Dataset:
    try:
        with open(p, newline="", encoding="utf-8-sig") as f:
            rows = [r for r in csv.reader(f) if r and any(c.strip() for c in r)]
    except UnicodeDecodeError:
        raise TinygenError(f"{p}: not a text CSV file") from None
    except csv.Error as exc:
        raise TinygenError(f"{p}: malformed CSV: {exc}") from None
    if not rows:
        raise TinygenError(f"{p}: empty file (expected a header row and data rows)")
    header = [h.strip() for h in rows[0]]
    body = rows[1:]
    if not body:
        raise TinygenError(f"{p}: no data rows after the header")
    if all(_is_number(h) for h in header):
        raise TinygenError(f"{p}: the first row looks like data, not a header; add a header row naming the "
                           "columns (the label column 'label' or the last one)")
    # Which column is the label?
    if label is not None:
        if label not in header:
            raise TinygenError(f"{p}: no label column '{label}'; columns are: {', '.join(header)}")
        li: int | None = header.index(label)
    elif "label" in header:
        li = header.index("label")
    else:
        li = len(header) - 1
    if not require_labels and label is None and "label" not in header:
        li = None  # calibration data: the caller decides whether the last column is a label
    if li is not None and len(header) < 2:
        raise TinygenError(f"{p}: only one column ('{header[0]}'): need feature columns besides the label")
    if features is not None:
        missing = [c for c in features if c not in header]
        if missing:
            raise TinygenError(f"{p}: no feature column '{missing[0]}'; columns are: {', '.join(header)}")
        feat_idx = [header.index(c) for c in features]
    else:
        feat_idx = [i for i in range(len(header)) if i != li]
    x = np.empty((len(body), len(feat_idx)), dtype=np.float32)
    ys: list[str] = []
    for r, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise TinygenError(f"{p}: line {r} has {len(row)} values but the header has {len(header)} columns")
        for j, i in enumerate(feat_idx):
            cell = row[i].strip()
            try:
                x[r - 2, j] = float(cell)
            except ValueError:
                raise TinygenError(f"{p}: non-numeric feature '{header[i]}' on line {r}: {cell!r} "
                                   "(all columns except the label must be numbers)") from None
        if li is not None:
            ys.append(row[li].strip())
    y = None
    if li is not None:
        y = _parse_labels(ys)
    return Dataset(x=x, y=y, label_column=header[li] if li is not None else None,
                   feature_columns=[header[i] for i in feat_idx])


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def _parse_labels(values: Sequence[str]) -> np.ndarray:
    """CSV label cells -> int64 if all integers, float64 if all numbers, else strings."""
    try:
        as_float = np.array([float(v) for v in values], dtype=np.float64)
    except ValueError:
        return np.array(values, dtype=str)
    if np.all(np.isfinite(as_float)) and np.all(as_float == np.round(as_float)):
        return as_float.astype(np.int64)
    return as_float


# --------------------------------------------------------------------------- labels

def _is_one_hot(y: np.ndarray) -> bool:
    return (y.ndim == 2 and y.shape[1] > 1 and y.dtype.kind in "biuf"
            and np.all((y == 0) | (y == 1)) and np.all(y.sum(axis=1) == 1))


def prepare_labels(ds: Dataset, task: str | None) -> Labels:
    """Choose the task and turn raw labels into training targets (see module docstring)."""
    if ds.y is None:
        raise TinygenError(f"{ds.source}: no labels")
    y, y_test = ds.y, ds.y_test
    note = ""
    if task is None:
        if y.dtype.kind == "f" and not _is_one_hot(y) and not np.all(y == np.round(y)):
            task = REGRESSION
            note = ("labels are non-integer numbers: training a regression model "
                    "(pass --task classification to treat each value as a class)")
        else:
            task = CLASSIFICATION
    if task not in TASKS:
        raise TinygenError(f"unknown task '{task}': expected one of {', '.join(TASKS)}")
    if task == REGRESSION:
        if y.dtype.kind not in "biuf":
            raise TinygenError(f"{ds.source}: regression needs numeric labels, got text labels such as {y[0]!r}")
        t = y.astype(np.float32).reshape(len(y), -1)
        tt = None if y_test is None else _as_float_targets(y_test, t.shape[1], ds.source)
        return Labels(task, t, tt, None, note)
    # classification
    if _is_one_hot(y):
        y = np.argmax(y, axis=1)
        if y_test is not None and y_test.ndim == 2:
            y_test = np.argmax(y_test, axis=1)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y_test is not None and y_test.ndim == 2 and y_test.shape[1] == 1:
        y_test = y_test[:, 0]
    if y.ndim != 1:
        raise TinygenError(f"{ds.source}: classification labels must be one value (or one-hot row) per sample; "
                           f"y has shape {tuple(y.shape)} (use --task regression for several targets)")
    if y.dtype.kind == "f" and np.all(y == np.round(y)):
        y = y.astype(np.int64)
        if y_test is not None and y_test.dtype.kind == "f":
            y_test = y_test.astype(np.int64)
    values = list(np.unique(y))
    if len(values) < 2:
        raise TinygenError(f"{ds.source}: only one class ({_plain(values[0])!r}) in the labels: "
                           "classification needs at least two")
    labels = [_plain(v) for v in values]
    if len(labels) > max(20, len(y) // 2):
        note = (f"{len(labels)} classes from {len(y)} rows: almost every row is its own class "
                "(use --task regression for continuous targets)")
    index = {lab: i for i, lab in enumerate(labels)}
    targets = np.array([index[_plain(v)] for v in y], dtype=np.int64)
    tt = None
    if y_test is not None:
        unknown = sorted({str(_plain(v)) for v in y_test} - {str(lab) for lab in labels})
        if unknown:
            raise TinygenError(f"{ds.source}: y_test has labels not seen in y: {', '.join(unknown[:5])}")
        tt = np.array([index[_plain(v)] for v in y_test], dtype=np.int64)
    return Labels(CLASSIFICATION, targets, tt, labels, note)


def encode_labels(y: np.ndarray, labels: list[Any], source: str = "") -> np.ndarray:
    """Raw labels -> class indices with an existing label map (quantize/verify reuse it)."""
    if y.ndim == 2 and _is_one_hot(y):
        return np.argmax(y, axis=1).astype(np.int64)
    y = y.reshape(-1)
    index = {str(lab): i for i, lab in enumerate(labels)}
    out = np.empty(len(y), dtype=np.int64)
    for n, v in enumerate(y):
        key = str(_plain(v))
        if key not in index:
            raise TinygenError(f"{source}: label {key!r} is not one of the model's classes "
                               f"({', '.join(str(lab) for lab in labels)})")
        out[n] = index[key]
    return out


def _as_float_targets(y: np.ndarray, k: int, source: str) -> np.ndarray:
    if y.dtype.kind not in "biuf":
        raise TinygenError(f"{source}: regression needs numeric labels")
    t = y.astype(np.float32).reshape(len(y), -1)
    if t.shape[1] != k:
        raise TinygenError(f"{source}: y_test has {t.shape[1]} targets per row but y has {k}")
    return t


def _plain(v: Any) -> Any:
    """numpy scalar -> JSON-friendly Python value (int stays int, 3.0 -> 3)."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


# --------------------------------------------------------------------------- shapes and splits

def parse_shape(text: str | None) -> tuple[int, ...] | None:
    """'16,16,1' -> (16, 16, 1); TinygenError if malformed."""
    if text is None or text == "":
        return None
    try:
        dims = tuple(int(t) for t in re.split(r"[,x]", text.strip()))
    except ValueError:
        raise TinygenError(f"--input-shape must be integers separated by commas, like 16,16,1; got {text!r}") from None
    if not dims or any(d <= 0 for d in dims):
        raise TinygenError(f"--input-shape must be positive integers like 16,16,1; got {text!r}")
    return dims


def reshape_features(x: np.ndarray, shape: Sequence[int], source: str = "", what: str = "--input-shape") -> np.ndarray:
    """(N, ...) -> (N, *shape); TinygenError naming both shapes when the sizes differ."""
    shape = tuple(int(d) for d in shape)
    have = tuple(int(d) for d in x.shape[1:])
    if have == shape:
        return x
    if int(np.prod(have)) != int(np.prod(shape)):
        raise TinygenError(f"{source}: rows have shape {have} ({int(np.prod(have))} values) which does not "
                           f"match {what} {shape} ({int(np.prod(shape))} values)")
    return x.reshape((x.shape[0],) + shape)


def split_indices(n: int, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic (train, held-out) row indices; the same call in quantize gives the same rows."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    n_test = int(round(n * test_fraction)) if n >= 5 else 0
    n_test = min(max(n_test, 1 if n >= 5 else 0), n - 1)
    return np.sort(order[n_test:]), np.sort(order[:n_test])


# --------------------------------------------------------------------------- sidecar

def sidecar_path(model_path: str | Path) -> Path:
    """model.keras / model.tflite / saved_model_dir -> model.labels.json next to it."""
    p = Path(model_path)
    if p.is_dir() or p.suffix == "":
        return p.parent / (p.name + SIDECAR_SUFFIX)
    return p.with_suffix(SIDECAR_SUFFIX)


def read_sidecar(model_path: str | Path) -> dict | None:
    """The sidecar written by `tinygen train`/`quantize` next to a model, or None if there is none."""
    sp = sidecar_path(model_path)
    if not sp.exists():
        return None
    try:
        meta = json.loads(sp.read_text())
    except (OSError, ValueError) as exc:
        raise TinygenError(f"cannot read {sp}: {exc}") from None
    if not isinstance(meta, dict) or "task" not in meta:
        raise TinygenError(f"{sp} is not a tinygen sidecar (no 'task')")
    return meta


def write_sidecar(model_path: str | Path, meta: dict) -> Path:
    sp = sidecar_path(model_path)
    meta = _plain_json({"tinygen_sidecar": SIDECAR_VERSION, **meta})
    sp.write_text(json.dumps(meta, indent=1, allow_nan=False) + "\n")
    return sp


def _plain_json(o: Any) -> Any:
    """numpy values -> Python, NaN/inf -> null (strict JSON that any reader accepts)."""
    if isinstance(o, dict):
        return {str(k): _plain_json(v) for k, v in o.items()}
    if isinstance(o, (list, tuple, np.ndarray)):
        return [_plain_json(v) for v in (o.tolist() if isinstance(o, np.ndarray) else o)]
    if isinstance(o, np.generic):
        o = o.item()
    if isinstance(o, float) and not math.isfinite(o):
        return None
    return o
