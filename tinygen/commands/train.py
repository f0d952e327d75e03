"""`tinygen train`: train a small float model sized for a microcontroller from a CSV or NPZ file."""
from __future__ import annotations

import math

import click

from tinygen.train.architectures import ARCHS


def _arch_help() -> str:
    return "Architecture, see above (default: by the rank of one sample: 1 mlp, 2 cnn1d, 3 cnn2d)."


def _finite(ctx, param, value):
    # FloatRange lets nan through (every comparison with nan is false); inf is no learning rate either.
    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"{value} is not a finite number", ctx=ctx, param=param)
    return value


@click.command("train")
@click.argument("data", type=click.Path(dir_okay=False))
@click.option("-o", "--output", "out", required=True, type=click.Path(dir_okay=False),
              help="Where to write the trained model (.keras). OUT.labels.json is written next to it.")
@click.option("--label", default=None, metavar="COL",
              help="CSV label column (default: a column named 'label', else the last column).")
@click.option("--task", type=click.Choice(["classification", "regression"]), default=None,
              help="Default: classification, unless the labels are non-integer numbers (then regression, "
                   "and train says so).")
@click.option("--arch", type=click.Choice(ARCHS), default=None, help=_arch_help())
@click.option("--epochs", type=int, default=100, show_default=True,
              help="Maximum epochs; early stopping on the validation loss restores the best weights.")
@click.option("--input-shape", default=None, metavar="H,W,C",
              help="Reshape each row's flat features to this shape (cnn2d/dscnn: H,W,C; cnn1d: length,channels).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seeds weights, shuffling and the held-out split (training is deterministic).")
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True)
@click.option("--learning-rate", type=click.FloatRange(min=0, min_open=True), default=0.005, show_default=True,
              callback=_finite, help="Adam learning rate (> 0).")
@click.option("--force", is_flag=True, help="Overwrite OUT if it exists.")
def command(data, out, label, task, arch, epochs, input_shape, seed, batch_size, learning_rate, force):
    """Train a small MCU-sized model on DATA (CSV with a header, or NPZ with x, y[, x_test, y_test]).

    \b
    CSV: one label column, every other column a numeric feature.
    NPZ: x (N, ...) and y (N,); x_test/y_test are the held-out rows if present,
         otherwise a seeded 20% of the rows is held out.
    Classification labels may be strings: the label map goes to OUT.labels.json
    (with the input shape, task and seed), which quantize/verify reuse.

    \b
    Architectures (exact table for your input printed after building; 4 classes):
      mlp    Dense 32-16-out          flat rows        sine: 609 params, 560 MACs
      cnn1d  Conv 8/16/16 + pools     length,channels  64x1: 1,300 params, 27 k MACs
      cnn2d  Conv 8/16 + max-pools    H,W,C            16x16x1: 2,276 params, 93 k MACs
      dscnn  Conv 16/2 + 2 dw-sep.    H,W,C            16x16x1: 1,092 params, 60 k MACs
    Each ends in Dense (+ Softmax for classification); only ops tinygen runs.

    \b
    Example:
      tinygen train data.csv --arch cnn1d --input-shape 128,1 -o model.keras
    """
    from tinygen.train.data import parse_shape
    from tinygen.train.trainer import train

    train(data, out, label=label, task=task, arch=arch, epochs=epochs, input_shape=parse_shape(input_shape),
          seed=seed, force=force, batch_size=batch_size, learning_rate=learning_rate, echo=click.echo)
