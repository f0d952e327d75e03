"""From the user's data to a fully int8 model: data loading, small MCU architectures,
training (`tinygen train`) and post-training quantization (`tinygen quantize`).

Modules
- data.py          CSV/NPZ reader, label maps, held-out split, the sidecar JSON (numpy only)
- architectures.py mlp / cnn1d / cnn2d / dscnn, parameter and MAC tables
- trainer.py       training with validation split, early stopping, fixed seeds
- ptq.py           full-int8 conversion with TFLiteConverter and the int8-vs-float report

TensorFlow is optional for tinygen: it is imported lazily, only here, through
:func:`tf_module`, which raises TinygenError with the install hint when missing.
"""
from __future__ import annotations

import os

from tinygen.errors import TinygenError

_TF = None
TF_MISSING = "TensorFlow is needed for train/quantize: pip install 'tinygen[train]'"


def tf_module():
    """Import TensorFlow once (quietly, with a small thread pool) or raise TinygenError."""
    global _TF
    if _TF is not None:
        return _TF
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    try:
        import tensorflow as tf  # noqa: PLC0415 (lazy on purpose)
    except ImportError:
        raise TinygenError(TF_MISSING) from None
    try:  # tiny models train faster on one thread, and we share the machine
        tf.config.threading.set_intra_op_parallelism_threads(int(os.environ.get("TINYGEN_TF_THREADS", "1")))
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # already initialised by the caller: keep theirs
        pass
    try:
        import absl.logging

        absl.logging.set_verbosity(absl.logging.ERROR)
    except ImportError:
        pass
    tf.get_logger().setLevel("ERROR")
    _TF = tf
    return tf


def set_seed(seed: int) -> None:
    """Deterministic training: python/numpy/TF seeds plus TF op determinism."""
    tf = tf_module()
    tf.keras.utils.set_random_seed(int(seed))
    try:
        tf.config.experimental.enable_op_determinism()
    except Exception:  # older TF: seeds alone
        pass
