"""Which runtime reaches each precision's compute peak on this CPU, on which instruction set.

A ceiling is only a ceiling if it is measured through the runtime and the
instructions the models can reach. On an Intel Xeon with AMX, OpenVINO runs
bf16 and int8 matrix products on AMX tiles, far above anything ONNX Runtime's
CPU kernels reach there; on a CPU without them (this AMD EPYC: AVX2 and FMA,
no VNNI, no AVX512-BF16, no AMX), bf16 does not run natively at all and
int8 runs on plain AVX2 in either runtime. ``peak_route`` decides, from the
CPU flags (``environment.cpu_info``) and OpenVINO's CPU capabilities
(``OPTIMIZATION_CAPABILITIES``), and is pure, so both machines' decisions
are tested with hand-made inputs:

========  ================================================  ==============
precision  OpenVINO when                                     else
========  ================================================  ==============
fp32      never: ONNX Runtime's MatMul is the models' fp32   ONNX Runtime
bf16      the plugin reports BF16 (AVX512-BF16, AMX-BF16)    not available
int8      a VNNI or AMX-INT8 flag, and the plugin has INT8   ONNX Runtime
========  ================================================  ==============

``openvino_matmul`` builds the OpenVINO workload: N x N @ N x N as one
MatMul with float32 weights (compiled with the bf16 hint for bf16), or with
int8 weights behind a per-tensor FakeQuantize of the input, the pattern the
CPU plugin turns into an int8 FullyConnected. What ran is read back
(``openvino_rt.read_execution``): its executed precision and kernel (e.g.
``brgemm_avx512_amx_bf16``) name the instruction set as the runtime reports it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import InferBenchError
from ..runtimes import openvino_rt

CEILING_PRECISIONS = ("fp32", "bf16", "int8")
INT8_FAST_FLAGS = ("amx_int8", "avx512_vnni", "avx_vnni")  # u8 x s8 dot products in one instruction


@dataclass(frozen=True)
class PeakRoute:
    """How one precision's peak is measured here: ``runtime`` (None: not available, see ``reason``)
    and the instruction set the CPU flags say it runs on."""

    precision: str
    runtime: str | None
    isa: str
    reason: str = ""

    def __post_init__(self):
        if self.precision not in CEILING_PRECISIONS:
            raise InferBenchError(f"PeakRoute: unknown precision {self.precision!r}.",
                                  f"use one of: {', '.join(CEILING_PRECISIONS)}.")
        if self.runtime is None and not self.reason:
            raise InferBenchError(f"PeakRoute for {self.precision} has no runtime and no reason.",
                                  "say why the peak is not available here.")

    def to_dict(self) -> dict:
        """JSON-ready form (kept in the ceilings' ``routes``)."""
        return {"runtime": self.runtime, "isa": self.isa, "reason": self.reason}


def _has(flags: dict | None, name: str) -> bool:
    return bool(flags) and bool(flags.get(name))


def isa_name(precision: str, flags: dict | None) -> str:
    """The instruction set a precision's matrix products use on a CPU with ``flags``
    (``environment.cpu_info()["flags"]``; None: unknown)."""
    if flags is None:
        return "unknown (no CPU flags)"
    if precision == "bf16":
        for flag, name in (("amx_bf16", "AMX-BF16"), ("avx512_bf16", "AVX512-BF16")):
            if _has(flags, flag):
                return name
        return "none (no AVX512-BF16 or AMX-BF16)"
    if precision == "int8":
        for flag, name in (("amx_int8", "AMX-INT8"), ("avx512_vnni", "AVX512-VNNI"), ("avx_vnni", "AVX-VNNI")):
            if _has(flags, flag):
                return name
        base = "AVX-512" if _has(flags, "avx512f") else "AVX2" if _has(flags, "avx2") else "SSE"
        return f"{base} (no VNNI)"
    if _has(flags, "avx512f"):
        return "AVX-512"
    return "AVX2+FMA" if _has(flags, "avx2") and _has(flags, "fma") else "AVX2" if _has(flags, "avx2") else "SSE"


def peak_route(precision: str, flags: dict | None, capabilities) -> PeakRoute:
    """Which runtime measures ``precision``'s peak on a CPU with ``flags`` whose OpenVINO CPU plugin
    reports ``capabilities`` (None: OpenVINO is not usable here)."""
    isa = isa_name(precision, flags)
    caps = tuple(capabilities or ())
    if precision == "fp32":
        return PeakRoute("fp32", "onnxruntime", isa)
    if precision == "bf16":
        if "BF16" in caps:
            return PeakRoute("bf16", "openvino", isa)
        why = ("OpenVINO is not usable here" if capabilities is None
               else openvino_rt.capability_reason("bf16", caps))
        return PeakRoute("bf16", None, isa, f"not available here: {why}")
    if precision not in CEILING_PRECISIONS:
        raise InferBenchError(f"Unknown precision {precision!r}.", f"use one of: {', '.join(CEILING_PRECISIONS)}.")
    if "INT8" in caps and any(_has(flags, f) for f in INT8_FAST_FLAGS):
        return PeakRoute("int8", "openvino", isa)
    return PeakRoute("int8", "onnxruntime", isa)


# --- the OpenVINO workload --------------------------------------------------------------------


def openvino_matmul_model(n: int, integer: bool, seed: int = 0):
    """A one-MatMul OpenVINO model: A (input, n x n, float32) @ B (constant).

    ``integer``: B is int8 (dequantized by a per-column scale) and A passes a
    per-tensor FakeQuantize onto a uint8 grid over [0, 1]: the quantized pattern
    the CPU plugin runs as one int8 FullyConnected.
    """
    ov = openvino_rt.openvino_module()
    import openvino.opset13 as ops  # the submodule of the package just imported

    rng = np.random.default_rng(seed)
    a = ops.parameter([n, n], ov.Type.f32, name="A")
    if integer:
        x = ops.fake_quantize(a, 0.0, 1.0, 0.0, 1.0, 256)
        w = rng.integers(-127, 128, size=(n, n), dtype=np.int8)
        b = ops.multiply(ops.convert(ops.constant(w), ov.Type.f32), ops.constant(np.full((1, n), 0.01, np.float32)))
    else:
        x, b = a, ops.constant(rng.standard_normal((n, n), dtype=np.float32))
    return ov.Model([ops.matmul(x, b, False, False)], [a], "reference_matmul")


def openvino_matmul(n: int, precision: str, threads: int) -> tuple[Callable[[np.ndarray], object], dict]:
    """(``run(a)``, what ran) for the MatMul compiled at ``precision`` ("fp32", "bf16" or "int8") with
    ``threads`` threads, one stream. Raises PrecisionUnavailable if OpenVINO executed another precision."""
    if precision not in CEILING_PRECISIONS:
        raise InferBenchError(f"Unknown precision {precision!r}.", f"use one of: {', '.join(CEILING_PRECISIONS)}.")
    compiled = openvino_rt.compile_model(openvino_matmul_model(n, precision == "int8"), precision, threads)
    executed, execution = openvino_rt.read_execution(compiled)
    mismatch = openvino_rt.precision_mismatch(precision, executed)
    if mismatch:
        raise openvino_rt.PrecisionUnavailable(f"The {precision} MatMul: {mismatch}.",
                                               f"measure the {precision} peak through ONNX Runtime, or not at all.")
    request = compiled.create_infer_request()
    return (lambda a: request.infer(a, share_inputs=True)), execution
