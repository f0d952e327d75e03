"""`tinygen quantize`: float model -> fully int8 .tflite (int8 input and output) with an int8-vs-float report."""
from __future__ import annotations

import click


@click.command("quantize")
@click.argument("model", type=click.Path())
@click.option("--calibration", required=True, type=click.Path(dir_okay=False), metavar="DATA",
              help="CSV/NPZ rows in the training format (labels optional); training rows calibrate, "
                   "held-out rows are scored.")
@click.option("-o", "--output", "out", required=True, type=click.Path(dir_okay=False),
              help="Where to write the int8 model (.tflite). OUT.labels.json is written next to it.")
@click.option("--samples", type=int, default=200, show_default=True, help="Calibration rows to use.")
@click.option("--force", is_flag=True, help="Overwrite OUT if it exists.")
def command(model, calibration, out, samples, force):
    """Quantize MODEL (.keras, .h5 or a SavedModel folder) to full int8, input and output included.

    \b
    The input shape, label map and task come from MODEL's sidecar
    (MODEL.labels.json written by `tinygen train`), so no flags are repeated.
    Reports int8 (tinygen's reference interpreter) vs float on the held-out rows:
    accuracy or RMSE, mean |difference| of the outputs, cosine similarity.
    A float .tflite is refused: pass the .keras/SavedModel it was converted from.

    \b
    Example:
      tinygen quantize model.keras --calibration data.csv -o model.tflite
    """
    from tinygen.train.ptq import quantize

    quantize(model, calibration, out, samples=samples, force=force, echo=click.echo)
