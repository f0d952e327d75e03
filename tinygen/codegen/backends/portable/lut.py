"""int8 -> int8 elementwise ops as a 256-entry table -> tg_lut_s8 (portable backend).

LOGISTIC, TANH, RELU, RELU6, RELU_N1_TO_1, LEAKY_RELU, HARD_SWISH and int8 ->
int8 QUANTIZE map every int8 input to one int8 output. The table is the
reference interpreter's kernel (tinygen.ref, bit-exact with TFLM) applied to
all 256 inputs with the op's precomputed params: the device does one load per
value and cannot differ from the reference. Runs in place.
"""
import numpy as np

from tinygen.errors import UnsupportedOpError

KERNELS = ("tg_lut_s8.c",)
IN_PLACE = True


def _reference(op_type: str):
    from tinygen.ref import activations, quantize
    return {
        "LOGISTIC": activations.logistic, "TANH": activations.tanh, "RELU": activations.relu,
        "RELU6": activations.relu, "RELU_N1_TO_1": activations.relu, "LEAKY_RELU": activations.leaky_relu,
        "HARD_SWISH": activations.hard_swish, "QUANTIZE": quantize.quantize,
    }[op_type]


def table(op_type: str, p) -> np.ndarray:
    x = np.arange(-128, 128, dtype=np.int8).reshape(1, 256)
    y = np.asarray(_reference(op_type)(p, x)).reshape(-1)
    return y.astype(np.int8)


def lower(ctx, op, p) -> None:
    x, y = ctx.tensor(op.inputs[0]), ctx.tensor(op.outputs[0])
    if x.dtype != "int8" or y.dtype != "int8":
        raise UnsupportedOpError(op.type, op.index, f"{x.dtype} -> {y.dtype} (portable: int8 -> int8)")
    lut = ctx.const_array("table", "int8_t", table(op.type, p),
                          f"{op.type} output for every int8 input (index = input + 128)")
    ctx.layer.header.append("256-entry lookup table, computed by the reference kernel")
    ctx.emit(f"tg_lut_s8({lut}, {x.size}, {ctx.act(op.inputs[0], const=True)}, {ctx.act(op.outputs[0])});")
