"""The MLPerf Tiny models the benchmarks run, and the TFLM + CMSIS-NN figures they compare against.

One place for both, so the benchmarks cannot disagree about what "TFLM" means. The TFLM figures
were measured for the project brief with TFLM + CMSIS-NN on the same emulated Cortex-M4 (QEMU
mps2-an386, -icount shift=0); they are constants because this repository does not build TFLM.
"""
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "models"
MODELS = {
    "kws": "mlperf_tiny_kws_dscnn",
    "vww": "mlperf_tiny_vww_96",
    "ic": "mlperf_tiny_ic_resnet8",
    "ad": "mlperf_tiny_ad_fc",
}
TFLM_INSTRUCTIONS = {"kws": 7.70e6, "vww": 24.1e6, "ic": 29.9e6, "ad": 0.58e6}  # per inference
TFLM_ARENA = {"kws": 22820, "vww": 100708, "ic": 54996, "ad": 2580}  # bytes
TFLM_RUNTIME_FLASH = 45.7e3  # bytes of flash besides the weights
