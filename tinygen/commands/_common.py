"""Helpers shared by the commands: output-path checks done BEFORE any long work.

Every command that writes a file (run -o, verify --report, profile --json,
train -o and its sidecar, quantize -o and its sidecar, generate -o DIR) calls
`check_output_path` first, so a bad path is one clear line (exit 2) before
anything is trained, run or flashed, and nothing the user had is replaced
without --force.
"""
from __future__ import annotations

import os
from pathlib import Path

from tinygen.errors import TinygenError


def check_output_path(path: str | os.PathLike, force: bool, what: str = "") -> Path:
    """Refuse (TinygenError, exit 2) an output file that cannot or may not be written.

    - an existing file without `force` ("exists; pass --force to overwrite it");
    - a directory where a file should go;
    - a parent folder that does not exist, is not a folder, or is not writable.
    Returns the path as a Path.
    """
    p = Path(path)
    label = f"{what} {p}" if what else str(p)
    if p.is_dir():
        raise TinygenError(f"{label} is a folder; give a file name")
    if p.exists() or p.is_symlink():
        if not force:
            raise TinygenError(f"{label} exists; pass --force to overwrite it")
        if not os.access(p, os.W_OK):
            raise TinygenError(f"{label} is not writable (permission denied)")
        return p
    _check_parent(p, label)
    return p


def check_output_dir(path: str | os.PathLike) -> Path:
    """An output folder (generate -o DIR): it must be creatable/writable. Whether a
    non-empty DIR may be written into (--force) is the generator's business."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise TinygenError(f"{p} exists and is not a folder")
    if p.is_dir():
        if not os.access(p, os.W_OK | os.X_OK):
            raise TinygenError(f"{p}: permission denied (the folder is not writable)")
        return p
    # Created with parents: the nearest existing ancestor must be a writable folder.
    anc = p.parent
    while not anc.exists() and anc != anc.parent:
        anc = anc.parent
    anc = anc if str(anc) else Path(".")
    if not anc.is_dir():
        raise TinygenError(f"cannot create {p}: {anc} is not a folder")
    if not os.access(anc, os.W_OK | os.X_OK):
        raise TinygenError(f"cannot create {p}: {anc} is not writable (permission denied)")
    return p


def _check_parent(p: Path, label: str) -> None:
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.exists():
        raise TinygenError(f"cannot write {label}: folder {parent} does not exist")
    if not parent.is_dir():
        raise TinygenError(f"cannot write {label}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise TinygenError(f"cannot write {label}: folder {parent} is not writable (permission denied)")


def check_supported(graph) -> None:
    """Raise the first unsupported op (UnsupportedOpError: name and position) of
    `graph`, before anything else is said about the model (its I/O dtypes, the
    device, ...)."""
    from tinygen.quant.params import derive_op_params

    for op in graph.ops:
        derive_op_params(graph, op)


def progress_bar(**kwargs):
    """tqdm on stderr, shown only when stderr is a terminal (disable=None)."""
    from tqdm import tqdm

    kwargs.setdefault("disable", None)
    kwargs.setdefault("leave", False)
    return tqdm(**kwargs)
