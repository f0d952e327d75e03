"""ADD (dsp backend): tinygen's table kernel (tg_add_table_s8), as the CMSIS-NN backend
uses on DSP cores: per-input rescaling tabulated at generation time, same bits as
the reference (see tinygen/codegen/backends/cmsis_nn/add.py, whose lowering this
calls). Broadcasting and other cases fall back to the portable kernel there.
"""
from __future__ import annotations

from tinygen.codegen.backends.cmsis_nn import add as table_add

KERNELS = table_add.KERNELS
IN_PLACE = table_add.IN_PLACE


def lower(ctx, op, p):
    table_add.lower(ctx, op, p, arch="dsp")
    return ()
