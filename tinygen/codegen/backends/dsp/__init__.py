"""The dsp backend: tinygen's own kernels for Cortex-M cores with the DSP extension.

Kernels live in firmware/kernels_dsp (tg_dsp.h): SXTB16 / SMLAD / SMLABB from the
compiler's <arm_acle.h> when __ARM_FEATURE_DSP is defined, the same bits in plain
C elsewhere (host builds run the fallback, so host tests check the arithmetic).
What the generator can do once, it does (common.py): int16 weights pre-paired in
the kernels' read order, folded biases, one-multiply requantization constants.

CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED have dsp modules; each falls back
to its portable twin for a layer it does not take (its docstring says which).
Same-shape int8 ADD uses tinygen's table kernel (as the CMSIS-NN backend does on
DSP cores). Every other op uses the portable backend's module unchanged.
"""
from __future__ import annotations

import importlib

from tinygen.codegen.lowering import Backend

PORTABLE = "tinygen.codegen.backends.portable"
HEADER = "tg_dsp.h"
KERNEL_DIR = "kernels_dsp"

_NATIVE = {"CONV_2D": "conv2d", "DEPTHWISE_CONV_2D": "depthwise_conv2d", "FULLY_CONNECTED": "fully_connected",
           "ADD": "add"}
# tinygen kernels (firmware/kernels) with their own header: source -> header
_KERNEL_HEADERS = {"tg_add_table_s8.c": "tg_add_table_s8.h"}


def _modules() -> dict:
    from tinygen.codegen.backends.portable import BACKEND as PORTABLE_BACKEND

    mods = {op: f"{PORTABLE}.{m}" for op, m in PORTABLE_BACKEND.modules.items()}
    mods.update(_NATIVE)
    return mods


class _Bound:
    """A dsp lowering module as emit.py sees it: `lower` returns the kernels_dsp sources
    it used (or () after falling back to the portable module, whose KERNELS then apply)."""

    def __init__(self, backend: "DspBackend", mod):
        self._backend = backend
        self._mod = mod
        self.KERNELS = tuple(getattr(mod, "KERNELS", ()))
        self.IN_PLACE = getattr(mod, "IN_PLACE", True)
        if hasattr(mod, "scratch_bytes"):
            self.scratch_bytes = mod.scratch_bytes
        if hasattr(mod, "overlap"):
            self.overlap = mod.overlap

    def lower(self, ctx, op, params) -> None:
        sources = self._mod.lower(ctx, op, params)
        if sources:
            self.KERNELS = ()
            ctx.layer.header.append("dsp kernel (SXTB16/SMLAD, int16 pre-paired weights)")
            self._backend.layer_sources[ctx.layer.name] = tuple(sources)


class DspBackend(Backend):
    def __init__(self):
        super().__init__(name="dsp", package=__name__, modules=_modules(), kernel_root="kernels",
                         description="tinygen's kernels for Cortex-M DSP cores (SMLAD; plain C elsewhere)")
        self.layer_sources: dict[str, tuple[str, ...]] = {}

    def for_target(self, target) -> "DspBackend":
        return DspBackend()

    def module(self, op):
        name = self.module_name(op)
        if "." in name:
            return importlib.import_module(name)
        return _Bound(self, importlib.import_module(f"{self.package}.{name}"))

    def project_files(self, layers=()) -> dict:
        used, headers = self.layer_files(layers, self.layer_sources, _KERNEL_HEADERS)
        files: dict = {}
        if headers:
            files["includes"] = list(headers)
            files["firmware_files"] = [f"kernels/{h}" for h in headers]
        if used:
            files["includes"] = [HEADER] + files.get("includes", [])
            files["include_dirs"] = [f"firmware/{KERNEL_DIR}"]
            files["firmware_files"] = ([f"{KERNEL_DIR}/{HEADER}"] + [f"{KERNEL_DIR}/{s}" for s in used]
                                       + files.get("firmware_files", []))
            files["sources"] = [f"firmware/{KERNEL_DIR}/{s}" for s in used]
        return files


BACKEND = DspBackend()
