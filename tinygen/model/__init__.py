"""The model front end: read a .tflite file and clean it into tinygen's Graph IR.

`load_model(path)` is THE entry point every command and layer uses; it reads the
file (tflite_reader) and applies the graph clean-ups (cleanup) so nothing
downstream sees converter artefacts such as shape subgraphs or
SPACE_TO_BATCH_ND-wrapped dilated convolutions.
"""
from __future__ import annotations

from pathlib import Path

from tinygen.model.cleanup import clean_graph
from tinygen.model.ir import Graph, Op, Options, Quantization, Tensor
from tinygen.model.tflite_reader import read_tflite, read_tflite_bytes


def load_model(path: str | Path) -> Graph:
    """Read a .tflite file and return its cleaned Graph (TinygenError on bad input)."""
    return clean_graph(read_tflite(path), label=str(path))


def load_model_bytes(buf: bytes, name: str = "model") -> Graph:
    """As load_model, from the file's bytes."""
    return clean_graph(read_tflite_bytes(buf, name))


__all__ = ["Graph", "Op", "Options", "Quantization", "Tensor", "clean_graph", "load_model",
           "load_model_bytes", "read_tflite", "read_tflite_bytes"]
