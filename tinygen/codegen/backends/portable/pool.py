"""AVERAGE_POOL_2D -> tg_avgpool_s8, MAX_POOL_2D -> tg_maxpool_s8 (portable backend)."""
from tinygen.codegen.backends.portable.conv_common import window_overlap

KERNELS = ("tg_avgpool_s8.c", "tg_maxpool_s8.c")
IN_PLACE = False


def overlap(graph, op, p):
    """Pixels in row-major order, each from its window: the output may overlap consumed input."""
    if graph.tensors[p.input_index].dtype != "int8":
        return None
    return p.input_index, window_overlap(p.input_shape, p.output_shape, p.filter_h, p.filter_w, p.stride_h,
                                         p.stride_w, p.pad_top, p.pad_left)


def lower(ctx, op, p) -> None:
    kernel = "tg_avgpool_s8" if op.type == "AVERAGE_POOL_2D" else "tg_maxpool_s8"
    ctx.layer.kernels = (f"{kernel}.c",)
    ctx.layer.header.append(f"window {p.filter_h}x{p.filter_w}, stride {p.stride_h}x{p.stride_w}, "
                            f"padding {p.padding} (top {p.pad_top}, left {p.pad_left}), "
                            f"clamp [{p.activation_min}, {p.activation_max}]")
    params = ctx.struct("tg_pool_params", "params", {
        "filter_h": p.filter_h, "filter_w": p.filter_w, "stride_h": p.stride_h, "stride_w": p.stride_w,
        "pad_top": p.pad_top, "pad_left": p.pad_left,
        "activation_min": p.activation_min, "activation_max": p.activation_max,
    })
    ctx.declare(f"static const tg_dims {ctx.name}_input_dims = {ctx.dims(p.input_shape)};")
    ctx.declare(f"static const tg_dims {ctx.name}_output_dims = {ctx.dims(p.output_shape)};")
    ctx.emit(f"{kernel}(&{params}, &{ctx.name}_input_dims, {ctx.act(p.input_index, const=True)},")
    ctx.emit(f"    &{ctx.name}_output_dims, {ctx.act(p.output_index)});")
