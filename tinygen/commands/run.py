"""`tinygen run MODEL --input IN.npy --output OUT.npy`: the bit-exact host reference.

IN holds N samples, [N, *input_shape], or exactly one sample of the input shape,
in the model's input dtype. OUT gets [N, *output_shape] (or exactly the output
shape for a one-sample input). Models with several inputs/outputs use .npz
files keyed by tensor name. An existing OUT is only replaced with --force.

The work is `run_reference(graph, inputs)`; other back ends (firmware) plug in
beside it with the same input/output handling.
"""
from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from tinygen.errors import TinygenError
from tinygen.model import load_model
from tinygen.model.ir import Graph, shape_str


def run_reference(graph: Graph, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """Run the numpy reference interpreter: inputs [N, *shape] -> outputs [N, *shape]."""
    from tinygen.ref import Interpreter

    return Interpreter(graph).run(inputs)


def _describe(arr: np.ndarray) -> str:
    return f"{shape_str(arr.shape)} {arr.dtype}"


def coerce_inputs(graph: Graph, arrays: list[np.ndarray], names: list[str] | None = None
                  ) -> tuple[list[np.ndarray], bool]:
    """Check user arrays against the model's inputs.

    Returns ([N, *shape] arrays, single) where `single` says every array was exactly
    one sample (no N axis). Raises TinygenError naming both shapes on a mismatch.
    """
    tensors = graph.input_tensors()
    out = []
    singles = []
    for k, (t, a) in enumerate(zip(tensors, arrays)):
        what = f"input '{t.name}'" if names is None else f"input '{names[k]}'"
        expect = tuple(t.shape)
        a = np.asarray(a)
        if a.dtype != np.dtype(t.dtype):
            raise TinygenError(f"{what} is {_describe(a)}, the model wants {t.dtype} "
                               f"[N, {shape_str(expect)}] (or one sample {shape_str(expect)})")
        if tuple(a.shape) == expect:
            out.append(a[None])
            singles.append(True)
        elif a.ndim == len(expect) + 1 and tuple(a.shape[1:]) == expect and a.shape[0] > 0:
            out.append(a)
            singles.append(False)
        else:
            raise TinygenError(f"{what} has shape {shape_str(a.shape)}, the model wants "
                               f"[N, {shape_str(expect)}] or one sample {shape_str(expect)}")
    if len({a.shape[0] for a in out}) > 1:
        raise TinygenError("all inputs must hold the same number of samples")
    return out, all(singles)


def load_inputs(graph: Graph, path: Path) -> tuple[list[np.ndarray], bool]:
    """Read IN (.npy for one input, .npz keyed by input tensor name for several)."""
    if not path.exists():
        raise TinygenError(f"{path}: no such file")
    tensors = graph.input_tensors()
    try:
        loaded = np.load(path, allow_pickle=False)
    except Exception as exc:  # noqa: BLE001 - any parse failure is bad input
        raise TinygenError(f"{path}: not a .npy/.npz file ({exc})") from None
    if isinstance(loaded, np.lib.npyio.NpzFile):
        with loaded:
            keys = list(loaded.files)
            arrays = []
            expected = ", ".join(f"'{t.name}'" for t in tensors)
            for t in tensors:
                if t.name not in keys:
                    raise TinygenError(f"{path}: no array named '{t.name}' (has: {', '.join(keys) or 'none'}); "
                                       f"key the .npz by input tensor name: {expected} (or pass a .npy)")
                arrays.append(loaded[t.name])
            extra = [k for k in keys if k not in {t.name for t in tensors}]
            if extra:
                raise TinygenError(f"{path}: arrays {', '.join(extra)} are not inputs of the model "
                                   f"(its inputs: {expected})")
    else:
        if len(tensors) != 1:
            names = ", ".join(t.name for t in tensors)
            raise TinygenError(f"the model has {len(tensors)} inputs ({names}); pass a .npz keyed by these names")
        arrays = [loaded]
    return coerce_inputs(graph, arrays)


def save_outputs(graph: Graph, outputs: list[np.ndarray], single: bool, path: Path, force: bool) -> None:
    from tinygen.commands._common import check_output_path

    check_output_path(path, force)
    arrays = [o[0] if single else o for o in outputs]
    tensors = graph.output_tensors()
    if len(arrays) == 1 and path.suffix != ".npz":
        with open(path, "wb") as f:
            np.save(f, arrays[0])
    else:
        if path.suffix != ".npz":
            raise TinygenError(f"the model has {len(arrays)} outputs; name the output file *.npz")
        with open(path, "wb") as f:
            np.savez(f, **{t.name: a for t, a in zip(tensors, arrays)})


@click.command("run")
@click.argument("model", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--input", "-i", "input_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              metavar="IN.npy", help="[N, *input_shape] samples (or one sample); .npz keyed by name for several inputs")
@click.option("--output", "-o", "output_path", required=True, type=click.Path(path_type=Path),
              metavar="OUT.npy", help="where to write [N, *output_shape] (.npz for several outputs)")
@click.option("--force", is_flag=True, help="overwrite OUT if it exists")
@click.option("--firmware", "firmware_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              metavar="DIR", help="run on the built firmware of project DIR ('tinygen generate' + 'tinygen build') "
              "over the device protocol instead of the reference interpreter")
def command(model, input_path, output_path, force, firmware_dir=None):
    """Run MODEL on the bit-exact numpy reference interpreter (what the device must reproduce),
    or with --firmware DIR on a generated, built firmware."""
    from tinygen.commands._common import check_output_path

    check_output_path(output_path, force)
    graph = load_model(model)
    inputs, single = load_inputs(graph, input_path)
    if firmware_dir is not None:
        from tinygen.device.firmware import run_model_on_firmware
        outputs = run_model_on_firmware(model, firmware_dir, inputs)
    else:
        outputs = run_reference(graph, inputs)
    save_outputs(graph, outputs, single, output_path, force)
    n = inputs[0].shape[0]
    shapes = ", ".join(_describe(o[0] if single else o) for o in outputs)
    click.echo(f"ran {n} sample{'s' if n != 1 else ''} -> {output_path} ({shapes})")
