"""Small network architectures sized for microcontrollers.

Every architecture is built only from layers that convert to the TFLite
builtins tinygen's interpreter and C backends implement (CONV_2D,
DEPTHWISE_CONV_2D, MAX_POOL_2D, AVERAGE_POOL_2D, RESHAPE, FULLY_CONNECTED,
SOFTMAX), with ReLU fused into the layer. No BatchNorm, no Dropout, no Flatten
shape subgraphs: what you train is what runs on the device.

``mlp``    flat features (N,). Dense(32, relu) -> Dense(16, relu) -> Dense(outputs).
           For tabular rows and scalar regression (sine: 1 -> 32 -> 16 -> 1,
           609 parameters, 560 MACs). Multi-dimensional samples are flattened.
``cnn1d``  1-D signals (length, channels). Reshape to (1, L, C) ->
           Conv(8, 1x5, relu) -> MaxPool(1x2) -> Conv(16, 1x3, relu) -> MaxPool(1x2)
           -> Conv(16, 1x3, relu) -> global AveragePool -> Dense(outputs).
           64 x 1 input, 4 classes: 1,300 parameters, 27,200 MACs (128 x 1: 54,336 MACs).
``cnn2d``  images (H, W, C). Conv(8, 3x3, relu, same) -> MaxPool(2) ->
           Conv(16, 3x3, relu, same) -> MaxPool(2) -> Dense(outputs) on the flattened map.
           16 x 16 x 1, 4 classes: 2,276 parameters, 93,184 MACs.
``dscnn``  depthwise-separable CNN (keyword-spotting style) on (H, W, C):
           Conv(16, 3x3, stride 2, relu) -> 2 x [DepthwiseConv(3x3, relu) ->
           Conv(16, 1x1, relu)] -> global AveragePool -> Dense(outputs).
           16 x 16 x 1, 4 classes: 1,092 parameters, 60,480 MACs
           (49 x 10 x 1 spectrogram, 12 keywords: 1,228 parameters, 118,192 MACs).

Classification models end in Softmax (int8 output, scale 1/256, zero point
-128 after quantization); regression models end in a linear Dense.

:func:`build_model` builds one; :func:`layer_table` lists parameters and MACs
per layer for the given input (what `tinygen train` prints after building).
"""
from __future__ import annotations

from typing import Sequence

ARCHS = ("mlp", "cnn1d", "cnn2d", "dscnn")

def required_rank(arch: str) -> int:
    """Rank of one sample the architecture takes: 1 (mlp), 2 (cnn1d), 3 (cnn2d, dscnn)."""
    return {"mlp": 1, "cnn1d": 2, "cnn2d": 3, "dscnn": 3}[arch]


def build_model(arch: str, input_shape: Sequence[int], outputs: int, classification: bool):
    """A compiled-ready (not compiled) keras.Model for one sample shape `input_shape`."""
    from tinygen.train import tf_module

    tf = tf_module()
    keras = tf.keras
    L = keras.layers
    shape = tuple(int(d) for d in input_shape)
    if len(shape) != required_rank(arch):
        raise ValueError(f"{arch} takes rank-{required_rank(arch)} samples, got {shape}")
    inp = keras.Input(shape, name="input")
    if arch == "mlp":
        h = L.Dense(32, activation="relu", name="dense_1")(inp)
        h = L.Dense(16, activation="relu", name="dense_2")(h)
    elif arch == "cnn1d":
        length, channels = shape
        h = L.Reshape((1, length, channels), name="as_image")(inp)
        h = L.Conv2D(8, (1, 5), padding="same", activation="relu", name="conv_1")(h)
        h = L.MaxPooling2D((1, 2), name="pool_1")(h) if length >= 4 else h
        h = L.Conv2D(16, (1, 3), padding="same", activation="relu", name="conv_2")(h)
        h = L.MaxPooling2D((1, 2), name="pool_2")(h) if h.shape[2] >= 4 else h
        h = L.Conv2D(16, (1, 3), padding="same", activation="relu", name="conv_3")(h)
        h = L.AveragePooling2D((1, int(h.shape[2])), name="global_pool")(h)
        h = L.Reshape((16,), name="flatten")(h)
    elif arch == "cnn2d":
        height, width, _ = shape
        h = L.Conv2D(8, 3, padding="same", activation="relu", name="conv_1")(inp)
        if min(height, width) >= 4:
            h = L.MaxPooling2D(2, name="pool_1")(h)
        h = L.Conv2D(16, 3, padding="same", activation="relu", name="conv_2")(h)
        if min(int(h.shape[1]), int(h.shape[2])) >= 4:
            h = L.MaxPooling2D(2, name="pool_2")(h)
        h = L.Reshape((int(h.shape[1]) * int(h.shape[2]) * int(h.shape[3]),), name="flatten")(h)
    elif arch == "dscnn":
        h = L.Conv2D(16, 3, strides=2, padding="same", activation="relu", name="conv_1")(inp)
        for i in (1, 2):
            h = L.DepthwiseConv2D(3, padding="same", activation="relu", name=f"dw_{i}")(h)
            h = L.Conv2D(16, 1, activation="relu", name=f"pw_{i}")(h)
        h = L.AveragePooling2D((int(h.shape[1]), int(h.shape[2])), name="global_pool")(h)
        h = L.Reshape((16,), name="flatten")(h)
    else:
        raise ValueError(f"unknown architecture {arch!r}; expected one of {', '.join(ARCHS)}")
    h = L.Dense(outputs, name="logits" if classification else "output")(h)
    if classification:
        h = L.Softmax(name="softmax")(h)
    return keras.Model(inp, h, name=arch)


def layer_table(model) -> tuple[list[tuple[str, str, tuple, int, int]], int, int]:
    """[(name, kind, output shape, params, MACs)], total params, total MACs for one inference.

    MACs count multiply-accumulates of Dense/Conv/DepthwiseConv only (pooling,
    activations and softmax are a few ops per element and not counted).
    """
    rows = []
    total_p = total_m = 0
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "InputLayer":
            continue
        out_shape = tuple(int(d) for d in layer.output.shape[1:])
        params = int(layer.count_params())
        macs = _macs(layer, out_shape)
        rows.append((layer.name, kind, out_shape, params, macs))
        total_p += params
        total_m += macs
    return rows, total_p, total_m


def _macs(layer, out_shape: tuple[int, ...]) -> int:
    kind = type(layer).__name__
    n_out = 1
    for d in out_shape:
        n_out *= d
    if kind == "Dense":
        in_features = int(layer.input.shape[-1])
        return n_out * in_features
    if kind == "Conv2D":
        kh, kw = layer.kernel_size
        cin = int(layer.input.shape[-1])
        return n_out * kh * kw * cin
    if kind == "DepthwiseConv2D":
        kh, kw = layer.kernel_size
        return n_out * kh * kw
    return 0


def format_table(model) -> str:
    rows, total_p, total_m = layer_table(model)
    lines = [f"{'layer':<12} {'kind':<18} {'output':<14} {'params':>8} {'MACs':>10}"]
    for name, kind, shape, p, m in rows:
        lines.append(f"{name:<12} {kind:<18} {'x'.join(map(str, shape)):<14} {p:>8,} {m:>10,}")
    lines.append(f"{'total':<12} {'':<18} {'':<14} {total_p:>8,} {total_m:>10,}")
    return "\n".join(lines)
