"""Shared formatting for the CMSIS-NN lowerings: dims, tiles, quant params, context.

CMSIS-NN conventions (arm_nn_types.h) against tinygen's params (tinygen.quant.params,
which follow TFLM): input_offset = -input zero point and output_offset = +output zero
point in both (CMSIS-NN's header calls output_offset "the negative of the zero value",
but its kernels ADD it, as TFLM's CMSIS-NN glue passes it); shifts positive = left in
both; `cmsis_nn_tile` is {w, h}; `cmsis_nn_dims` is {n, h, w, c}.
"""
from __future__ import annotations

from tinygen.codegen.lowering import dims4


def align(n: int, a: int) -> int:
    return (n + a - 1) // a * a


def dims_init(n, h, w, c) -> str:
    return f"{{.n = {int(n)}, .h = {int(h)}, .w = {int(w)}, .c = {int(c)}}}"


def nhwc(shape) -> str:
    return dims_init(*dims4(shape))


def tile(w, h) -> str:
    return f"{{.w = {int(w)}, .h = {int(h)}}}"


def activation(p) -> str:
    return f"{{.min = {int(p.activation_min)}, .max = {int(p.activation_max)}}}"


def declare_dims(ctx, suffix: str, init: str) -> str:
    name = f"{ctx.name}_{suffix}"
    ctx.declare(f"static const cmsis_nn_dims {name} = {init};")
    return name


def per_channel_quant(ctx, p, what: str = "per output channel") -> str:
    """Multipliers and shifts as const arrays + a cmsis_nn_per_channel_quant_params pointing at them.

    CMSIS-NN's struct holds non-const pointers; the kernels only read through them."""
    mult = ctx.const_array("multiplier", "int32_t", p.output_multiplier, f"Q0.31 requantization multiplier {what}")
    shift = ctx.const_array("shift", "int32_t", p.output_shift, f"requantization shift {what} (positive = left)")
    name = f"{ctx.name}_quant"
    ctx.declare(f"static const cmsis_nn_per_channel_quant_params {name} = "
                f"{{.multiplier = (int32_t *){mult}, .shift = (int32_t *){shift}}};")
    return name


def bias_array(ctx, p, n: int, op_type: str) -> str:
    if p.bias_index < 0:
        return "NULL"
    return ctx.const_array("bias", "int32_t", ctx.tensor(p.bias_index).data, f"{op_type} bias [{n}] int32")


def context(ctx) -> str:
    """A local cmsis_nn_context over this layer's scratch in the arena (or none)."""
    b = ctx.plan.scratch_buffer(ctx.layer.op.index)
    size = b.size if b is not None else 0
    if size <= 0:
        ctx.emit("const cmsis_nn_context context = {.buf = NULL, .size = 0};")
    else:
        ctx.emit(f"const cmsis_nn_context context = {{.buf = {ctx.scratch()}, .size = {int(size)}}};")
    return "&context"


def check_scratch(ctx, fn: str, args: list[str], planned: int) -> None:
    """Under TG_CHECK_SCRATCH (the tests build with it), ask CMSIS-NN's own *_get_buffer_size for
    this call and skip the layer when it wants more than the generation-time size: the output
    stays unwritten and a bit-exact comparison fails, naming the model."""
    ctx.emit("#ifdef TG_CHECK_SCRATCH")
    ctx.emit("/* CMSIS-NN's own size for this call must fit the scratch planned at generation time */")
    lines, cur = [], f"if ({fn}("
    for i, a in enumerate(args):
        piece = a + (", " if i < len(args) - 1 else f") > {int(planned)}) {{")
        if len(cur) + len(piece) > 100 and cur.strip():
            lines.append(cur.rstrip())
            cur = "        "
        cur += piece
    lines.append(cur)
    for line in lines:
        ctx.emit(line)
    ctx.emit("    return;")
    ctx.emit("}")
    ctx.emit("#endif")


def planned_scratch(ctx) -> int:
    b = ctx.plan.scratch_buffer(ctx.layer.op.index)
    return b.size if b is not None else 0
