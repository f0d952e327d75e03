"""DEPTHWISE_CONV_2D -> tg_depthwise_conv2d_s8 (portable backend)."""
from tinygen.codegen.backends.portable.conv_common import lower_conv_like, overlap  # noqa: F401

KERNELS = ("tg_depthwise_conv2d_s8.c",)
IN_PLACE = False


def lower(ctx, op, p) -> None:
    if p.filter_offset != 0:
        from tinygen.errors import UnsupportedOpError
        raise UnsupportedOpError(op.type, op.index, "filter zero point is not 0")
    lower_conv_like(ctx, op, p, "tg_depthwise_conv2d_s8", "[1][kh][kw][out_c]", p.depth_multiplier)
