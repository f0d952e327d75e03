"""The CMSIS-NN backend: layers call ARM's CMSIS-NN int8 kernels (Arm Cortex-M).

The generated project compiles CMSIS-NN from a checkout named by CMSIS_NN_PATH
(Makefile variable / environment, CMake cache variable); tinygen ships none of
its code. Only the CMSIS-NN sources the model's calls need are listed (see
`sources.py`), compiled with the project's flags minus -Werror.

One module per op (family), each exposing
    KERNELS                                    portable kernels it may fall back to
    scratch_bytes(graph, op, params, arch)     the CMSIS-NN *_get_buffer_size result
    lower(ctx, op, params, arch) -> sources    fills ctx; returns the CMSIS-NN .c files
                                               (relative to Source/) the call needs, or ()
                                               when it fell back to a portable kernel
    overlap(graph, op, params, arch)           optional: output over the dying input
                                               (planner), only where the kernel's loop
                                               order was checked to allow it
Ops CMSIS-NN has no int8 kernel for (SUB, the LUT ops, PAD, CONCATENATION,
STRIDED_SLICE, RESHAPE & co.) use the portable backend's modules unchanged; a
CMSIS-NN module falls back to its portable twin for cases CMSIS-NN cannot take
(broadcasting ADD/MUL, non-int8 softmax, filter zero point != 0). Same-shape ADD
on DSP / pure-C targets uses tinygen's table kernel (add.py: faster than
arm_elementwise_add_s8 there, same bits).

CMSIS-NN picks its code path at compile time from the CPU: pure C, DSP
(ARM_MATH_DSP: Cortex-M4/M7/M33) or MVE (ARM_MATH_MVEI: Cortex-M55/M85), and
scratch sizes depend on it, so the backend is bound to a target's `arch`
(`for_target`) before lowering: scratch is sized at generation time by
mirroring the *_get_buffer_size rules for that arch (each module names the
function and conditions it mirrors).
"""
from __future__ import annotations

import importlib
import inspect
from types import ModuleType

from tinygen.codegen.lowering import Backend

UNSET_MESSAGE = "CMSIS_NN_PATH is unset (point it at a checkout of ARM-software/CMSIS-NN)"

PORTABLE = "tinygen.codegen.backends.portable"

_MODULES = {
    "CONV_2D": "conv2d",
    "DEPTHWISE_CONV_2D": "depthwise_conv2d",
    "FULLY_CONNECTED": "fully_connected",
    "AVERAGE_POOL_2D": "pool",
    "MAX_POOL_2D": "pool",
    "ADD": "add",
    "MUL": "mul",
    "SOFTMAX": "softmax",
    # no CMSIS-NN int8 kernel with TFLM's semantics: the portable module, unchanged
    "SUB": f"{PORTABLE}.add_sub",
    "LOGISTIC": f"{PORTABLE}.lut",
    "TANH": f"{PORTABLE}.lut",
    "RELU": f"{PORTABLE}.lut",
    "RELU6": f"{PORTABLE}.lut",
    "RELU_N1_TO_1": f"{PORTABLE}.lut",
    "LEAKY_RELU": f"{PORTABLE}.lut",
    "HARD_SWISH": f"{PORTABLE}.lut",
    "QUANTIZE": f"{PORTABLE}.lut",
    "PAD": f"{PORTABLE}.pad",
    "PADV2": f"{PORTABLE}.pad",
    "CONCATENATION": f"{PORTABLE}.concat",
    "STRIDED_SLICE": f"{PORTABLE}.strided_slice",
    "RESHAPE": f"{PORTABLE}.reshape",
    "SQUEEZE": f"{PORTABLE}.reshape",
    "EXPAND_DIMS": f"{PORTABLE}.reshape",
}

ARCHS = ("c", "dsp", "mve")
# tinygen kernels the CMSIS-NN backend adds (firmware/kernels): source -> its header
KERNEL_HEADERS = {"tg_add_table_s8.c": "tg_add_table_s8.h"}
_DSP_CPUS = ("cortex-m4", "cortex-m7", "cortex-m33", "cortex-m35p", "star-mc1")
_MVE_CPUS = ("cortex-m55", "cortex-m85")


def target_arch(target) -> str:
    """CMSIS-NN's compile-time path for a target: 'mve', 'dsp' or 'c' (pure C: host, M0, M3).

    Follows CMSIS-NN's arm_nn_math_types.h: ARM_MATH_MVEI when the compiler defines
    __ARM_FEATURE_MVE, ARM_MATH_DSP when it defines __ARM_FEATURE_DSP (both set by
    -mcpu; '+nodsp' / '+nomve' in the flags switch them off).
    """
    if target is None or getattr(target, "kind", "host") == "host":
        return "c"
    cpu = str(getattr(target, "cpu", "")).lower()
    flags = " ".join(getattr(target, "cflags", ()))
    for f in getattr(target, "cflags", ()):
        if f.startswith("-mcpu="):
            cpu = f[len("-mcpu="):].lower()
    base = cpu.split("+")[0]
    if base in _MVE_CPUS and "+nomve" not in cpu and "+nomve" not in flags:
        return "mve"
    if base in _DSP_CPUS + _MVE_CPUS and "+nodsp" not in cpu and "+nodsp" not in flags:
        return "dsp"
    return "c"


class _BoundModule:
    """A lowering module seen through the backend bound to one arch (what emit.py calls)."""

    def __init__(self, backend: "CmsisNNBackend", mod: ModuleType):
        self._backend = backend
        self._mod = mod
        self._native = not mod.__name__.startswith(PORTABLE)
        self.KERNELS = tuple(getattr(mod, "KERNELS", ()))
        self.IN_PLACE = getattr(mod, "IN_PLACE", True)

    def scratch_bytes(self, graph, op, params) -> int:
        fn = getattr(self._mod, "scratch_bytes", None)
        if fn is None:
            return 0
        if "arch" in inspect.signature(fn).parameters:
            return int(fn(graph, op, params, arch=self._backend.arch))
        return int(fn(graph, op, params))

    def overlap(self, graph, op, params):
        fn = getattr(self._mod, "overlap", None)
        if fn is None:
            return None
        if "arch" in inspect.signature(fn).parameters:
            return fn(graph, op, params, arch=self._backend.arch)
        return fn(graph, op, params)

    def lower(self, ctx, op, params) -> None:
        if not self._native:
            self._mod.lower(ctx, op, params)
            return
        ctx.layer.kernels = ()
        sources = self._mod.lower(ctx, op, params, arch=self._backend.arch)
        if sources:
            ctx.layer.header.append(f"CMSIS-NN ({self._backend.arch} path)")
            self._backend.layer_sources[ctx.layer.name] = tuple(sources)
        elif not ctx.layer.kernels:
            ctx.layer.kernels = self.KERNELS


class CmsisNNBackend(Backend):
    def __init__(self, arch: str | None = None):
        super().__init__(name="cmsis-nn", package=__name__, modules=dict(_MODULES), kernel_root="kernels",
                         description="ARM CMSIS-NN kernels (Cortex-M; pure C elsewhere), "
                                     "built from CMSIS_NN_PATH")
        self.arch = arch or "c"
        self.layer_sources: dict[str, tuple[str, ...]] = {}

    def for_target(self, target) -> "CmsisNNBackend":
        return CmsisNNBackend(target_arch(target))

    def module(self, op):
        name = self.module_name(op)
        full = name if "." in name else f"{self.package}.{name}"
        return _BoundModule(self, importlib.import_module(full))

    def project_files(self, layers=()) -> dict:
        sources, headers = self.layer_files(layers, self.layer_sources, KERNEL_HEADERS)
        files: dict = {}
        if headers:
            files["includes"] = list(headers)
            files["firmware_files"] = [f"kernels/{h}" for h in headers]
        if sources:
            files["includes"] = ["arm_nnfunctions.h"] + files.get("includes", [])
            files["include_dirs"] = ["$(CMSIS_NN_PATH)/Include"]
            files["cmsis_nn_sources"] = sorted(sources)
            files["cmsis_nn_arch"] = self.arch
            if self.arch == "dsp":
                # CMSIS-NN's README: restrict on the output pointer of the DSP int8 convolution
                # kernels may help; measured here: KWS -0.3 %, IC -0.9 % instructions on the M4.
                files["cmsis_nn_defines"] = ["OPTIONAL_RESTRICT_KEYWORD=__restrict"]
        return files


BACKEND = CmsisNNBackend()
