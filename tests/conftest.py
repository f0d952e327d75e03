"""Shared test fixtures.

- SHARED: ../shared (real models and data, read-only); tests that need it skip
  with that reason when it is absent.
- `golden`: runs TFLM's Python interpreter (tinygen.golden.run_tflm, one child
  process per batch); skips when tflite-micro is not installed.
- `random_inputs(graph, n, seed)`: full-range random samples for a graph.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(__file__).resolve().parents[2] / "shared"
MODELS = SHARED / "models"
DATA = SHARED / "data"


def shared_models() -> list[Path]:
    """The .tflite files in ../shared/models (empty if absent)."""
    return sorted(MODELS.glob("*.tflite")) if MODELS.is_dir() else []


@pytest.fixture
def require_shared():
    if not MODELS.is_dir():
        pytest.skip(f"shared models folder {MODELS} is absent (tests read real models from ../shared)")
    return SHARED


@pytest.fixture(scope="session")
def golden():
    """run_tflm(model_path_or_bytes, [inputs]) -> [outputs], from TFLM's own interpreter."""
    from tinygen.golden import run_tflm, tflm_available

    if not tflm_available():
        pytest.skip("tflite-micro (TFLM's Python interpreter, the golden reference) is not installed: "
                    "pip install tinygen[dev]")
    return run_tflm


def make_random_inputs(graph, n: int, seed: int = 0) -> list[np.ndarray]:
    from tinygen.commands.compare import random_inputs

    return random_inputs(graph, n, seed)


@pytest.fixture
def random_inputs():
    return make_random_inputs
