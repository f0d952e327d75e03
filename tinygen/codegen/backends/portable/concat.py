"""CONCATENATION (same quantization in and out) -> tg_concat_s8 (portable backend)."""
import numpy as np

KERNELS = ("tg_concat_s8.c",)
IN_PLACE = False


def lower(ctx, op, p) -> None:
    outer = int(np.prod(p.output_shape[:p.axis], dtype=np.int64))
    sizes = [int(np.prod(s[p.axis:], dtype=np.int64)) for s in p.input_shapes]
    ctx.layer.header.append(f"{len(sizes)} inputs along axis {p.axis}")
    ptrs = ", ".join(ctx.act(i, const=True) for i in p.input_indices)
    ctx.emit(f"const int8_t *const inputs[{len(sizes)}] = {{{ptrs}}};")
    ctx.emit(f"static const int32_t sizes[{len(sizes)}] = {{{', '.join(map(str, sizes))}}};")
    ctx.emit(f"tg_concat_s8({len(sizes)}, inputs, sizes, {outer}, {ctx.act(p.output_index)});")
