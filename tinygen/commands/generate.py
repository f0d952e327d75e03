"""`tinygen generate MODEL -o DIR`: a C project (model code + firmware) for a target."""
from __future__ import annotations

from pathlib import Path

import click

from tinygen.errors import TinygenError


def _target_help() -> str:
    from tinygen.targets import default_target_name, target_names
    return f"board to build for: {', '.join(target_names())} (default {default_target_name()})"


@click.command("generate")
@click.argument("model", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="project directory to create (must be empty or absent unless --force)")
@click.option("--target", default=None, help=_target_help())
@click.option("--backend", type=click.Choice(["portable", "cmsis-nn", "dsp"]), default="portable", show_default=True,
              help="kernel library: tinygen's portable C, Arm CMSIS-NN (needs CMSIS_NN_PATH to build), "
                   "or tinygen's dsp kernels (Cortex-M DSP: SMLAD; plain C elsewhere)")
@click.option("--force", is_flag=True, help="write into a non-empty DIR, replacing generated files")
def command(model: Path, out_dir: Path, target: str | None, backend: str, force: bool):
    """Generate C for MODEL into DIR: model.c/.h (one function per layer, one static
    arena), model_data.c/.h (weights and precomputed parameters), firmware sources,
    Makefile, CMakeLists.txt and README.md. Build it with 'tinygen build DIR'.

    \b
    Example:
      tinygen generate kws.tflite -o kws_host --target host
      tinygen build kws_host
    """
    from tinygen.codegen.emit import generate_project
    from tinygen.targets import default_target_name, get_target

    target = target or default_target_name()
    get_target(target)  # unknown target -> one clear line
    if not model.is_file():
        raise TinygenError(f"model file not found: {model}")
    from tinygen.commands._common import check_output_dir, check_supported
    from tinygen.model import load_model

    from tinygen.codegen.emit import _check_out_dir

    check_output_dir(out_dir)
    _check_out_dir(out_dir, force)  # a non-empty DIR needs --force: said before any work
    graph = load_model(model)
    check_supported(graph)  # the unsupported op first (name + position), then I/O details
    code = generate_project(model, out_dir, target=target, backend=backend, force=force, graph=graph)
    rows = [
        ("model", f"{code.graph.name} (sha256 {code.model_hash})"),
        ("target / backend", f"{code.target.name} / {code.backend}"),
        ("layers", f"{len(code.code_layers)} ({len(code.layers) - len(code.code_layers)} reshapes folded away)"),
        ("weights (flash)", f"{code.weight_bytes:,} bytes"),
        ("arena (RAM)", f"{code.arena_bytes:,} bytes"),
        ("layer-by-layer peak", f"{code.plan.ideal_peak:,} bytes (no overlap"
                                # the explanation only when it explains something
                                + ("; the arena can be smaller: a layer may write over input it has already read)"
                                   if code.arena_bytes < code.plan.ideal_peak else ")")),
    ]
    width = max(len(k) for k, _ in rows)
    click.echo(f"generated {out_dir}/")
    for k, v in rows:
        click.echo(f"  {k:<{width}}  {v}")
    click.echo(f"next: tinygen build {out_dir}")
