"""The portable-C backend: tinygen's own C99 int8 kernels (firmware/kernels/tg_*.c).

One module per op (family): each exposes KERNELS, optionally IN_PLACE and
scratch_bytes(), and lower(ctx, op, params). Portable kernels need no scratch.
"""
from tinygen.codegen.lowering import Backend

BACKEND = Backend(
    name="portable",
    package=__name__,
    kernel_root="kernels",
    description="tinygen's portable C99 kernels (any CPU)",
    modules={
        "CONV_2D": "conv2d",
        "DEPTHWISE_CONV_2D": "depthwise_conv2d",
        "FULLY_CONNECTED": "fully_connected",
        "AVERAGE_POOL_2D": "pool",
        "MAX_POOL_2D": "pool",
        "ADD": "add_sub",
        "SUB": "add_sub",
        "MUL": "mul",
        "SOFTMAX": "softmax",
        "LOGISTIC": "lut",
        "TANH": "lut",
        "RELU": "lut",
        "RELU6": "lut",
        "RELU_N1_TO_1": "lut",
        "LEAKY_RELU": "lut",
        "HARD_SWISH": "lut",
        "QUANTIZE": "quantize",
        "DEQUANTIZE": "dequantize",
        "PAD": "pad",
        "PADV2": "pad",
        "CONCATENATION": "concat",
        "STRIDED_SLICE": "strided_slice",
        "MEAN": "mean",
        "RESHAPE": "reshape",
        "SQUEEZE": "reshape",
        "EXPAND_DIMS": "reshape",
    },
)
