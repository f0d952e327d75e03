"""Which CMSIS-NN source files (relative to $(CMSIS_NN_PATH)/Source) each entry point needs.

Read off the CMSIS-NN tree (one public function per file; a function's file plus
the files of the functions it calls). The generated project compiles exactly the
union for the model's calls; -ffunction-sections + --gc-sections drop the parts
of a wrapper's file set that the chosen path never reaches. A file missing from a
list shows up as an undefined symbol at link time (tests build every model).
"""
from __future__ import annotations

_MAT_MULT = ("NNSupportFunctions/arm_nn_mat_mult_nt_t_s8.c",)
_CONV_S8 = (
    "ConvolutionFunctions/arm_convolve_s8.c",
    "ConvolutionFunctions/arm_nn_mat_mult_kernel_row_offset_s8_s16.c",
    "ConvolutionFunctions/arm_nn_mat_mult_kernel_s8_s16.c",
    "NNSupportFunctions/arm_q7_to_q15_with_offset.c",
    "NNSupportFunctions/arm_s8_to_s16_unordered_with_offset.c",
) + _MAT_MULT

# *_get_buffer_size files: only the TG_CHECK_SCRATCH builds call them (--gc-sections drops them otherwise)
CONVOLVE_WRAPPER_S8 = (
    "ConvolutionFunctions/arm_convolve_wrapper_s8.c",
    "ConvolutionFunctions/arm_convolve_get_buffer_sizes_s8.c",
    "ConvolutionFunctions/arm_convolve_1x1_s8.c",
    "ConvolutionFunctions/arm_convolve_1x1_s8_fast.c",
    "ConvolutionFunctions/arm_convolve_1_x_n_s8.c",
) + _CONV_S8

DEPTHWISE_CONV_WRAPPER_S8 = (
    "ConvolutionFunctions/arm_depthwise_conv_wrapper_s8.c",
    "ConvolutionFunctions/arm_depthwise_conv_3x3_s8.c",
    "ConvolutionFunctions/arm_depthwise_conv_s8.c",
    "ConvolutionFunctions/arm_depthwise_conv_s8_opt.c",
    "ConvolutionFunctions/arm_depthwise_conv_get_buffer_sizes_s8.c",
    "NNSupportFunctions/arm_nn_depthwise_conv_nt_t_s8.c",
    "TransposeFunctions/arm_transpose_s8.c",          # MVE: 1-input-channel depthwise as a conv
) + CONVOLVE_WRAPPER_S8

FULLY_CONNECTED_S8 = (
    "FullyConnectedFunctions/arm_fully_connected_s8.c",
    "FullyConnectedFunctions/arm_fully_connected_get_buffer_sizes_s8.c",
    "NNSupportFunctions/arm_nn_vec_mat_mult_t_s8.c",
)
FULLY_CONNECTED_PER_CHANNEL_S8 = (
    "FullyConnectedFunctions/arm_fully_connected_per_channel_s8.c",
    "FullyConnectedFunctions/arm_fully_connected_get_buffer_sizes_s8.c",
    "NNSupportFunctions/arm_nn_vec_mat_mult_t_per_ch_s8.c",
)
AVGPOOL_S8 = ("PoolingFunctions/arm_avgpool_s8.c", "PoolingFunctions/arm_avgpool_get_buffer_sizes_s8.c")
MAX_POOL_S8 = ("PoolingFunctions/arm_max_pool_s8.c",)
ELEMENTWISE_ADD_S8 = ("BasicMathFunctions/arm_elementwise_add_s8.c",)
ELEMENTWISE_MUL_S8 = ("BasicMathFunctions/arm_elementwise_mul_s8.c",)
SOFTMAX_S8 = ("SoftmaxFunctions/arm_softmax_s8.c", "SoftmaxFunctions/arm_nn_softmax_common_s8.c")
