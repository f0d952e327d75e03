"""`tinygen train`: data file -> small float Keras model + sidecar, deterministic under a seed.

Held-out rows: ``x_test``/``y_test`` of an NPZ when present, else a seeded
``test_fraction`` of the rows (quantize re-derives exactly the same rows from
the seed recorded in the sidecar). A further seeded 15 % of the training rows is
the validation split that early stopping watches (best weights are restored).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from tinygen.errors import TinygenError
from tinygen.train import data as D
from tinygen.train.architectures import ARCHS, build_model, format_table, layer_table, required_rank

TEST_FRACTION = 0.2
VALIDATION_FRACTION = 0.15
DEFAULT_EPOCHS = 100


@dataclass
class Prepared:
    """Training-ready arrays: what train() fits and what quantize() re-derives."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray | None
    y_test: np.ndarray | None
    input_shape: tuple[int, ...]
    arch: str
    labels: D.Labels
    test_from: str  # "x_test" or "split"


def choose_shape(sample_shape: tuple[int, ...], arch: str | None, input_shape: tuple[int, ...] | None,
                 source: str) -> tuple[str, tuple[int, ...]]:
    """(arch, per-sample model input shape) from the data, --arch and --input-shape."""
    shape = tuple(sample_shape)
    if input_shape is not None:
        if int(np.prod(input_shape)) != int(np.prod(shape)):
            raise TinygenError(f"{source}: rows have {int(np.prod(shape))} feature values (shape {shape}) but "
                               f"--input-shape {','.join(map(str, input_shape))} needs {int(np.prod(input_shape))}")
        shape = tuple(input_shape)
    if arch is None:  # by the rank of one sample
        arch = {1: "mlp", 2: "cnn1d", 3: "cnn2d"}.get(len(shape), "mlp")
    if arch not in ARCHS:
        raise TinygenError(f"unknown --arch {arch!r}: expected one of {', '.join(ARCHS)}")
    rank = required_rank(arch)
    if rank == 1:
        shape = (int(np.prod(shape)),)
    elif len(shape) == rank - 1:  # add the channel axis: (L,) -> (L, 1), (H, W) -> (H, W, 1)
        shape = shape + (1,)
    if len(shape) != rank:
        want = "length,channels" if rank == 2 else "H,W,C"
        raise TinygenError(f"--arch {arch} takes samples of shape {want} but rows have shape {shape} "
                           f"({int(np.prod(shape))} values): pass --input-shape {want}")
    if arch in ("cnn2d", "dscnn") and min(shape[0], shape[1]) < 3:
        raise TinygenError(f"--arch {arch} needs images of at least 3x3, got input shape {shape}")
    return arch, shape


def prepare(ds: D.Dataset, task: str | None, arch: str | None, input_shape: tuple[int, ...] | None,
            seed: int, test_fraction: float = TEST_FRACTION) -> Prepared:
    labels = D.prepare_labels(ds, task)
    arch, shape = choose_shape(ds.sample_shape, arch, input_shape, ds.source)
    x = ds.x.reshape((len(ds.x),) + shape)
    if ds.x_test is not None and labels.y_test is not None:
        return Prepared(x, labels.y, ds.x_test.reshape((len(ds.x_test),) + shape), labels.y_test,
                        shape, arch, labels, "x_test")
    tr, te = D.split_indices(len(x), test_fraction, seed)
    if len(tr) < 2:
        raise TinygenError(f"{ds.source}: only {len(x)} rows: too few to train and hold rows out")
    x_test = x[te] if len(te) else None
    y_test = labels.y[te] if len(te) else None
    return Prepared(x[tr], labels.y[tr], x_test, y_test, shape, arch, labels, "split")


def train(data_path: str | Path, out: str | Path, *, label: str | None = None, task: str | None = None,
          arch: str | None = None, epochs: int = DEFAULT_EPOCHS, input_shape: tuple[int, ...] | None = None,
          seed: int = 0, force: bool = False, batch_size: int = 32, learning_rate: float = 0.005,
          patience: int | None = None, echo: Callable[[str], None] = print, progress: bool = True) -> dict:
    """Train and save `out` (.keras) plus its sidecar. Returns the sidecar dict."""
    out = Path(out)
    if out.suffix != ".keras":
        raise TinygenError(f"output must end in .keras (Keras 3 format), got {out.name}")
    from tinygen.commands._common import check_output_path

    check_output_path(out, force)
    check_output_path(D.sidecar_path(out), force, "sidecar")
    if epochs < 1:
        raise TinygenError("--epochs must be at least 1")

    ds = D.load_data(data_path, label=label)
    prep = prepare(ds, task, arch, input_shape, seed)
    lab = prep.labels
    if lab.note:
        echo(f"note: {lab.note}")
    classification = lab.task == D.CLASSIFICATION
    outputs = len(lab.labels) if classification else int(lab.y.shape[1])
    what = (f"{outputs} classes ({', '.join(map(str, lab.labels[:8]))}{', ...' if outputs > 8 else ''})"
            if classification else f"{outputs} regression target{'s' if outputs > 1 else ''}")
    held = (f"{len(prep.x_test)} held-out rows ({'x_test' if prep.test_from == 'x_test' else 'seeded split'})"
            if prep.x_test is not None else "no held-out rows")
    echo(f"data: {ds.source}: {len(prep.x_train)} training rows, {held}; "
         f"input {'x'.join(map(str, prep.input_shape))}, {what}")

    from tinygen.train import set_seed, tf_module

    tf = tf_module()
    set_seed(seed)
    model = build_model(prep.arch, prep.input_shape, outputs, classification)
    _, n_params, n_macs = layer_table(model)
    echo(f"architecture {prep.arch}:")
    echo(format_table(model))

    # Validation split of the training rows (seeded) for early stopping.
    tr, va = D.split_indices(len(prep.x_train), VALIDATION_FRACTION, seed + 1)
    if len(va) == 0:
        tr, va = np.arange(len(prep.x_train)), np.arange(len(prep.x_train))
    xt, yt, xv, yv = prep.x_train[tr], prep.y_train[tr], prep.x_train[va], prep.y_train[va]

    if patience is None:
        patience = max(10, min(30, epochs // 5))
    bar = _progress(epochs) if progress else None
    t0 = time.perf_counter()
    ran = fit(tf, model, xt, yt, xv, yv, classification, epochs=epochs, batch_size=batch_size,
              learning_rate=learning_rate, patience=patience, seed=seed, bar=bar)
    if bar is not None:
        bar.close()
    took = time.perf_counter() - t0
    stopped = f", early stop after {ran}" if ran < epochs else ""
    echo(f"trained {ran} epoch{'s' if ran != 1 else ''} in {took:.1f} s{stopped}")

    metrics_out: dict = {}
    if prep.x_test is not None:
        pred = np.concatenate([np.asarray(model(prep.x_test[i:i + 512], training=False))
                               for i in range(0, len(prep.x_test), 512)])
        metrics_out = evaluate(pred, prep.y_test, lab.task)
        echo(f"float model on {len(prep.x_test)} held-out rows: {describe_metrics(metrics_out, lab.task)}")
    else:
        echo("no held-out rows to evaluate on")

    model.save(out)
    meta = {
        "task": lab.task,
        "labels": lab.labels,
        "input_shape": list(prep.input_shape),
        "outputs": outputs,
        "arch": prep.arch,
        "label_column": ds.label_column,
        "feature_columns": ds.feature_columns,
        "data": str(data_path),
        "seed": int(seed),
        "test_fraction": TEST_FRACTION,
        "held_out": prep.test_from,
        "params": n_params,
        "macs": n_macs,
        "float_metrics": metrics_out,
    }
    sp = D.write_sidecar(out, meta)
    echo(f"wrote {out} ({_size(out)}) and {sp.name}")
    return meta


def evaluate(pred: np.ndarray, y: np.ndarray, task: str) -> dict:
    """accuracy (classification) or rmse and mae (regression) of predictions against targets."""
    pred = np.asarray(pred, dtype=np.float64).reshape(len(pred), -1)
    if task == D.CLASSIFICATION:
        return {"accuracy": float(np.mean(np.argmax(pred, axis=1) == np.asarray(y).reshape(-1)))}
    t = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
    err = pred - t
    return {"rmse": float(math.sqrt(np.mean(err ** 2))), "mae": float(np.mean(np.abs(err)))}


def describe_metrics(m: dict, task: str) -> str:
    if task == D.CLASSIFICATION:
        return f"accuracy {100 * m['accuracy']:.2f}%"
    return f"RMSE {m['rmse']:.4f}, MAE {m['mae']:.4f}"


def _size(p: Path) -> str:
    n = p.stat().st_size
    return f"{n / 1024:.1f} KB" if n >= 1024 else f"{n} B"


def _progress(epochs: int):
    """One tqdm bar over epochs (hidden when stderr is not a terminal)."""
    from tqdm.auto import tqdm

    return tqdm(total=epochs, unit="epoch", desc="training", leave=False, disable=None)


def fit(tf, model, xt, yt, xv, yv, classification: bool, *, epochs: int, batch_size: int,
        learning_rate: float, patience: int, seed: int, bar=None) -> int:
    """Mini-batch Adam with early stopping on the validation loss (best weights restored).

    A whole epoch runs inside one tf.function: Keras' fit() spends most of its
    time per step in Python for models this small. Shuffling uses a numpy
    generator seeded with `seed`, so runs repeat exactly. Returns epochs run.
    """
    keras = tf.keras
    opt = keras.optimizers.Adam(learning_rate)
    if classification:
        loss_fn = keras.losses.SparseCategoricalCrossentropy()
        yt = yt.astype(np.int64)
        yv = yv.astype(np.int64)
    else:
        loss_fn = keras.losses.MeanSquaredError()
    X, Y = tf.constant(xt.astype(np.float32)), tf.constant(yt)
    XV, YV = tf.constant(xv.astype(np.float32)), tf.constant(yv)
    n = len(xt)
    bs = max(1, min(batch_size, n))
    n_batches = (n + bs - 1) // bs
    variables = model.trainable_variables
    opt.build(variables)  # slots made up front: the epoch function then traces once

    def run_epoch_eager(perm):
        total = 0.0
        for i in range(n_batches):
            idx = perm[i * bs:(i + 1) * bs]
            xb, yb = tf.gather(X, idx), tf.gather(Y, idx)
            with tf.GradientTape() as tape:
                loss = loss_fn(yb, model(xb, training=True))
            opt.apply_gradients(zip(tape.gradient(loss, variables), variables))
            total += float(loss)
        return total / n_batches

    @tf.function
    def run_epoch_graph(perm):
        total = tf.constant(0.0)
        for i in tf.range(n_batches):
            idx = perm[i * bs:(i + 1) * bs]
            xb, yb = tf.gather(X, idx), tf.gather(Y, idx)
            with tf.GradientTape() as tape:
                loss = loss_fn(yb, model(xb, training=True))
            opt.apply_gradients(zip(tape.gradient(loss, variables), variables))
            total += loss
        return total / tf.cast(n_batches, tf.float32)

    # Compiling the epoch loop costs ~1 s; only worth it beyond a few dozen steps.
    run_epoch = run_epoch_graph if epochs * n_batches > 60 else run_epoch_eager

    def validate():
        pred = model(XV, training=False)
        loss = loss_fn(YV, pred)
        if classification:
            score = tf.reduce_mean(tf.cast(tf.equal(tf.argmax(pred, axis=1), YV), tf.float32))
        else:
            score = tf.sqrt(tf.reduce_mean(tf.square(pred - tf.cast(YV, pred.dtype))))
        return loss, score

    rng = np.random.default_rng(seed + 2)
    best, best_weights, waited, ran = float("inf"), model.get_weights(), 0, 0
    for epoch in range(epochs):
        train_loss = float(run_epoch(tf.constant(rng.permutation(n).astype(np.int32))))
        val_loss, score = (float(v) for v in validate())
        ran = epoch + 1
        if bar is not None:
            post = {"loss": f"{train_loss:.4f}", "val_loss": f"{val_loss:.4f}"}
            post["val_acc" if classification else "val_rmse"] = (
                f"{100 * score:.1f}%" if classification else f"{score:.4f}")
            bar.set_postfix(post, refresh=False)
            bar.update(1)
        if val_loss < best - 1e-7:
            best, best_weights, waited = val_loss, model.get_weights(), 0
        else:
            waited += 1
            if waited >= patience:
                break
    model.set_weights(best_weights)
    return ran
