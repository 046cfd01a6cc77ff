"""This machine's ceilings, measured at run time, and the roofline floor they put under a model.

Up to four numbers, each the best of repeated runs (a ceiling is what the machine
can reach; a busy machine only makes runs slower, so the best run is the
least disturbed one; the median is kept in ``details`` too). Each compute
peak is measured through the runtime that reaches it on this CPU
(``isa.peak_route``), and ``routes`` records the runtime and instruction set
each used (with OpenVINO's kernel name where it ran):

* **fp32 peak**: an N x N @ N x N ``MatMul`` (``measure.workloads``, the
  one-node model the regression gate calibrates with) run in ONNX Runtime,
  the runtime the models run in, with the same ``intra_op_num_threads``.
  The right-hand matrix is an initializer, as a model's weights are, so
  ONNX Runtime pre-packs it as it does for them. 2 N^3 FLOPs per run.
* **int8 peak**: the same product as ``MatMulInteger`` (uint8 activations x
  int8 initializer weights, int32 out), the kernel ONNX Runtime's int8
  models run on the CPU (dynamic quantization uses it directly; static QDQ
  MatMuls fuse into QLinearMatMul on the same QGEMM). 2 N^3 integer ops
  per run. On a CPU with VNNI or AMX-INT8 it is measured through OpenVINO
  too (``isa.openvino_matmul``: the int8 FullyConnected its int8 models
  run on, AMX tiles where present), and the higher of the two is the
  ceiling: on the 2-core AMX Xeon OpenVINO's AMX kernel reached 2.37 TOP/s
  at 1024 x 1024 where ONNX Runtime had reached 3.2, and a roof below a
  measured point would be no roof. ``details`` keeps the other one.
* **bf16 peak**: the fp32 product compiled by OpenVINO with its bf16
  inference precision, on CPUs whose OpenVINO plugin reports BF16
  (AVX512-BF16, AMX). Elsewhere (this AMD EPYC) it is None, and ``routes``
  says why: bf16 is not available here.
* **memory bandwidth**: a numpy copy of a large float32 array into a
  pre-touched one, split into one contiguous chunk per thread (numpy
  releases the GIL while copying). Counted as bytes read + bytes written
  (2 x array size), as STREAM's Copy counts them. Chosen over ONNX
  Runtime: an ORT Identity reaches about the same rate only through IO
  binding with a pre-allocated output (a plain ``run`` also times the
  output's allocation), and an ORT element-wise kernel (Neg) ran at well
  under half the copy's rate on the development machine: it measures the
  kernel, not the memory. A chunked copy is pure streaming at
  exactly ``threads`` threads. The arrays (256 MiB each) are larger than
  the last-level cache, so the copy runs from memory.

``fp16`` has no CPU peak of its own here: ONNX Runtime's CPU provider runs
fp16 models through float32 kernels (with casts), so the roofline uses the
fp32 peak for fp16. A bf16 run is bounded by the bf16 peak.

Each is timed through ``measure.time_calls``: one cold call apart, then
the ``CEILING`` stop rule (``CEILING_QUICK`` for ``quick``).

``quick=True`` uses smaller problems and fewer runs, for smoke tests: its
matrix is too small to reach the peak, and its arrays may fit in cache.
"""

from __future__ import annotations

import math
import os
import statistics
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field

import numpy as np

from ..catalog import weight_precision
from ..environment import cpu_info
from ..errors import InferBenchError
from ..measure import CEILING, CEILING_QUICK, StopRule, time_calls
from ..measure.workloads import matmul_inputs, matmul_session
from ..runtimes import devices, openvino_rt
from .costmodel import BYTES_PER_ELEMENT, PRECISIONS, ModelCost
from .isa import PeakRoute, openvino_matmul, peak_route


@dataclass(frozen=True)
class CeilingPlan:
    """How big each ceiling's problem is, and when its timed loop stops."""

    matmul_n: int  # square matrix size of the MatMul problems
    copy_mib: int  # size of each array of the memory copy
    rule: StopRule  # timed calls after one cold call (measure's CEILING / CEILING_QUICK presets)


# Sized so measure_ceilings() stays within a few seconds on 2 cores:
# full: 2.1 GFLOP per MatMul run, 512 MiB moved per copy.
PLANS = {
    "full": CeilingPlan(matmul_n=1024, copy_mib=256, rule=CEILING),
    "quick": CeilingPlan(matmul_n=256, copy_mib=32, rule=CEILING_QUICK),
}

# Which measured peak bounds compute at each precision (fp16 runs on fp32 kernels on CPU).
PEAK_FOR_PRECISION = {"fp32": "peak_gflops_fp32", "fp16": "peak_gflops_fp32", "int8": "peak_gops_int8",
                      "bf16": "peak_gflops_bf16"}


def _positive(name: str, value) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value <= 0:
        raise InferBenchError(f"MachineCeilings: {name} must be a finite number > 0, got {value!r}.",
                              "build the ceilings from measured numbers (measure_ceilings).")


@dataclass(frozen=True)
class MachineCeilings:
    """Measured ceilings of this machine at ``threads`` threads; raw timings in ``details``.

    ``peak_gflops_bf16`` is None where bf16 does not run natively here;
    ``routes`` holds, per precision, the runtime and instruction set its peak
    was measured through (``isa.PeakRoute.to_dict``), or why it was not.
    """

    peak_gflops_fp32: float
    peak_gops_int8: float
    memory_gbps: float
    threads: int
    peak_gflops_bf16: float | None = None
    routes: dict = field(default_factory=dict)
    details: dict = field(default_factory=dict, compare=False)

    def __post_init__(self):
        for name in ("peak_gflops_fp32", "peak_gops_int8", "memory_gbps"):
            _positive(name, getattr(self, name))
        if self.peak_gflops_bf16 is not None:
            _positive("peak_gflops_bf16", self.peak_gflops_bf16)
        if not isinstance(self.threads, int) or self.threads < 1:
            raise InferBenchError(f"MachineCeilings: threads must be an int >= 1, got {self.threads!r}.",
                                  "pass the thread count the peaks were measured with.")
        if not isinstance(self.routes, dict):
            raise InferBenchError(f"MachineCeilings: routes must be a dict, got {type(self.routes).__name__}.",
                                  "pass {precision: PeakRoute.to_dict()}.")

    def peak(self, precision: str) -> float:
        """The compute peak (G op/s) that bounds a model at ``precision``."""
        if precision not in PEAK_FOR_PRECISION:
            raise InferBenchError(
                f"Unknown precision {precision!r}.", f"use one of: {', '.join(PEAK_FOR_PRECISION)}."
            )
        value = getattr(self, PEAK_FOR_PRECISION[precision])
        if value is None:
            why = (self.routes.get(precision) or {}).get("reason") or "it was not measured"
            raise InferBenchError(f"There is no {precision} peak for this machine: {why}.",
                                  f"bound {precision} runs only on a machine that executes {precision}.")
        return value

    def to_dict(self) -> dict:
        """The JSON-ready ceilings (an explanation's ``machine``), in field order."""
        return asdict(self)


# --- timing -------------------------------------------------------------------


def _timed(run, batches, rule: StopRule) -> dict:
    """One cold call timed apart, then ``run`` timed under ``rule`` (``measure.time_calls``), in seconds."""
    cold_ns = time_calls(run, batches, StopRule.fixed(1))[0]
    samples = [ns / 1e9 for ns in time_calls(run, batches, rule)]
    return {"cold_s": cold_ns / 1e9, "samples_s": samples, "best_s": min(samples),
            "median_s": statistics.median(samples)}


def _rates(method: str, n: int, timing: dict, **extra) -> dict:
    ops = 2 * n**3
    return {"method": method, "ops_per_run": ops, **timing, "best_g_per_s": ops / timing["best_s"] / 1e9,
            "median_g_per_s": ops / timing["median_s"] / 1e9, **extra}


def _measure_matmul(n: int, integer: bool, threads: int, plan: CeilingPlan) -> dict:
    run = matmul_session(n, threads, integer)
    timing = _timed(run, matmul_inputs(n, integer), plan.rule)
    kind = "MatMulInteger uint8 x int8" if integer else "MatMul float32"
    return _rates(f"onnxruntime {kind} {n}x{n} @ {n}x{n}", n, timing)


def _measure_openvino_matmul(n: int, precision: str, threads: int, plan: CeilingPlan) -> dict:
    """The MatMul at ``precision`` through OpenVINO (``isa.openvino_matmul``), with the kernel it ran."""
    run, execution = openvino_matmul(n, precision, threads)
    # Float inputs in [0, 1): the int8 model quantizes them onto its uint8 grid itself.
    timing = _timed(run, [np.random.default_rng(1).random((n, n), dtype=np.float32)], plan.rule)
    kind = {"int8": "int8 FullyConnected (FakeQuantize uint8 x int8)", "bf16": "MatMul, bf16 inference precision",
            "fp32": "MatMul float32"}[precision]
    return _rates(f"openvino {kind} {n}x{n} @ {n}x{n}", n, timing, kernels=execution["kernels"],
                  executed_precision=execution["executed_precision"])


def _measure_route(route: PeakRoute, n: int, threads: int, plan: CeilingPlan) -> tuple[dict | None, PeakRoute]:
    """Measure one precision's peak by its route. An OpenVINO run that does not execute the
    precision (a hand-set route on the wrong CPU) falls back to ONNX Runtime for int8, to none for bf16."""
    if route.runtime == "openvino":
        try:
            return _measure_openvino_matmul(n, route.precision, threads, plan), route
        except openvino_rt.PrecisionUnavailable as exc:
            if route.precision == "bf16":
                return None, PeakRoute("bf16", None, route.isa, f"not available here: {exc.problem}")
            route = PeakRoute(route.precision, "onnxruntime", route.isa, exc.problem)
    if route.runtime is None:
        return None, route
    return _measure_matmul(n, integer=route.precision == "int8", threads=threads, plan=plan), route


def _higher_int8(openvino: dict, route: PeakRoute, threads: int, plan: CeilingPlan) -> tuple[dict, PeakRoute]:
    """The int8 ceiling is the higher of OpenVINO's and ONNX Runtime's int8 MatMul: on a 2-core AMX
    Xeon OpenVINO's AMX kernel reached 2.37 TOP/s at 1024x1024, where ONNX Runtime's VNNI kernel had
    reached 3.2 (2026-12-01), and a ceiling below a measured point is no ceiling."""
    ort = _measure_matmul(plan.matmul_n, integer=True, threads=threads, plan=plan)
    if ort["best_g_per_s"] <= openvino["best_g_per_s"]:
        return {**openvino, "other_runtime": ort}, route
    why = (f"ONNX Runtime's int8 MatMul ({ort['best_g_per_s']:.0f} GOP/s) beat OpenVINO's "
           f"({openvino['best_g_per_s']:.0f} GOP/s, {', '.join(openvino.get('kernels') or []) or 'its kernel'})")
    return {**ort, "other_runtime": openvino}, PeakRoute("int8", "onnxruntime", route.isa, why)


def _measure_copy(mib: int, threads: int, plan: CeilingPlan) -> dict:
    n = mib * 2**20 // 4
    src = np.ones(n, dtype=np.float32)  # written, so every page is touched before timing
    dst = np.zeros(n, dtype=np.float32)
    dst[:] = 0.0
    bounds = np.linspace(0, n, threads + 1, dtype=np.int64)
    chunks = [(src[lo:hi], dst[lo:hi]) for lo, hi in zip(bounds[:-1], bounds[1:])]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        def copy(pairs):
            list(pool.map(lambda pair: np.copyto(pair[1], pair[0]), pairs))

        timing = _timed(copy, [chunks], plan.rule)
    moved = 2 * src.nbytes  # read + write
    return {
        "method": f"numpy copy of a {mib} MiB float32 array in {threads} chunk(s), one thread each",
        "bytes_per_run": moved,
        **timing,
        "best_g_per_s": moved / timing["best_s"] / 1e9,
        "median_g_per_s": moved / timing["median_s"] / 1e9,
    }


def cpu_routes() -> dict[str, PeakRoute]:
    """Each ceiling precision's route on this CPU, from its flags and OpenVINO's capabilities."""
    flags = cpu_info()["flags"]
    try:
        capabilities = openvino_rt.cpu_capabilities()
    except Exception:  # OpenVINO missing or broken: ONNX Runtime measures what it can
        capabilities = None
    return {p: peak_route(p, flags, capabilities) for p in ("fp32", "int8", "bf16")}


def measure_ceilings(threads: int | None = None, quick: bool = False,
                     routes: dict[str, PeakRoute] | None = None) -> MachineCeilings:
    """Measure fp32, int8 and (where it runs natively) bf16 matrix-multiply peaks and memory
    bandwidth at ``threads`` threads, each through the runtime that reaches it (``cpu_routes``).

    ``threads=None`` means all cores, as for the runtimes. 3-5 s on 2 busy
    cores (``quick``: well under 1 s, smoke-test numbers only). On a busy
    machine the best run can differ a lot between calls; ``details`` keeps
    every run and the 1-minute load average seen before measuring.
    ``routes``: {precision: PeakRoute} instead of this CPU's (tests).
    """
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise InferBenchError(f"threads must be an int >= 1 or None (all cores), got {threads!r}.",
                              "pass a thread count >= 1, or None for all cores.")
    n_threads = devices.effective_threads(threads)
    plan = PLANS["quick" if quick else "full"]
    load_before = os.getloadavg()[0]
    routes = dict(cpu_routes() if routes is None else routes)
    measured = {}
    for precision in ("fp32", "int8", "bf16"):
        measured[precision], routes[precision] = _measure_route(routes[precision], plan.matmul_n, n_threads, plan)
    if routes["int8"].runtime == "openvino":
        measured["int8"], routes["int8"] = _higher_int8(measured["int8"], routes["int8"], n_threads, plan)
    memory = _measure_copy(plan.copy_mib, n_threads, plan)
    details = {
        "plan": "quick" if quick else "full",
        "cpu_count": os.cpu_count(),
        "load_average_1min_before": load_before,
        "matmul_fp32": measured["fp32"],
        "matmul_int8": measured["int8"],
        "matmul_bf16": measured["bf16"],
        "memory_copy": memory,
    }
    route_info = {p: {**r.to_dict(), "kernels": (measured[p] or {}).get("kernels", [])} for p, r in routes.items()}
    return MachineCeilings(
        peak_gflops_fp32=measured["fp32"]["best_g_per_s"],
        peak_gops_int8=measured["int8"]["best_g_per_s"],
        memory_gbps=memory["best_g_per_s"],
        threads=n_threads,
        peak_gflops_bf16=None if measured["bf16"] is None else measured["bf16"]["best_g_per_s"],
        routes=route_info,
        details=details,
    )


# --- roofline -----------------------------------------------------------------


def _non_negative(name: str, value) -> float:
    if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise InferBenchError(f"{name} must be a finite number >= 0, got {value!r}.")
    return float(value)


def roofline_times_ms(flops, bytes_moved, ceilings: MachineCeilings, precision: str) -> tuple[float, float]:
    """(compute time, memory time) in ms: ``flops`` at the precision's peak, ``bytes_moved`` at the bandwidth."""
    flops = _non_negative("flops", flops)
    bytes_moved = _non_negative("bytes_moved", bytes_moved)
    compute_ms = flops / (ceilings.peak(precision) * 1e9) * 1e3
    memory_ms = bytes_moved / (ceilings.memory_gbps * 1e9) * 1e3
    return compute_ms, memory_ms


def roofline_floor_ms(flops, bytes_moved, ceilings: MachineCeilings, precision: str) -> float:
    """The least time one call can take here: max(flops / peak, bytes_moved / bandwidth), in ms.

    ``precision`` picks the peak: fp32 and fp16 use the fp32 peak (CPU runs
    fp16 on fp32 kernels), int8 the int8 one, bf16 the bf16 one (an error
    where bf16 has no peak here).
    """
    return max(roofline_times_ms(flops, bytes_moved, ceilings, precision))


def roofline_bound(flops, bytes_moved, ceilings: MachineCeilings, precision: str) -> str:
    """'compute' or 'memory': which ceiling sets the floor."""
    compute_ms, memory_ms = roofline_times_ms(flops, bytes_moved, ceilings, precision)
    return "compute" if compute_ms >= memory_ms else "memory"


def share_of_floor(measured_ms, floor_ms) -> float:
    """floor / measured: 1.0 runs at the roofline, 0.05 takes 20x the floor."""
    measured_ms = _non_negative("measured_ms", measured_ms)
    floor_ms = _non_negative("floor_ms", floor_ms)
    if measured_ms == 0:
        raise InferBenchError("measured_ms must be > 0, got 0.")
    return floor_ms / measured_ms


def bytes_moved_estimate(
    model_cost: ModelCost, precision: str, batch_size: int | None = None, activation_precision: str = "fp32"
) -> int:
    """A lower bound on the bytes one call moves: weights once, each activation written once, the input read once.

    Weights at ``precision`` (see costmodel's int8 convention), plus the
    input (fp32) and every layer's output at ``activation_precision`` for
    ``batch_size`` samples (default: the batch the cost was computed for).
    fp32 activations fit fp32, fp16 (ONNX Runtime's CPU casts to fp32) and
    dynamically quantized int8 models; pass ``activation_precision="int8"``
    for a static (QDQ) int8 model, whose activations are int8. Real runs move
    more: im2col buffers, re-reads of tiles that fall out of cache, and
    inputs read by each layer.
    """
    # bf16 stores 2 bytes per element, like fp16: it reads the cost model's fp16 bytes.
    precision, activation_precision = weight_precision(precision), weight_precision(activation_precision)
    for name, value in (("precision", precision), ("activation_precision", activation_precision)):
        if value not in PRECISIONS:
            raise InferBenchError(f"Unknown {name} {value!r}.", f"use one of: {', '.join(PRECISIONS)}, bf16.")
    batch = model_cost.batch_size if batch_size is None else batch_size
    if not isinstance(batch, int) or batch < 1:
        raise InferBenchError(f"batch_size must be an int >= 1, got {batch!r}.", "pass a batch size >= 1.")
    input_per_sample = model_cost.input_bytes // model_cost.batch_size
    # activation_bytes are fp32 (4 B per element); rescale them to activation_precision.
    elements_per_sample = model_cost.activation_bytes // model_cost.batch_size // BYTES_PER_ELEMENT["fp32"]
    activations = elements_per_sample * BYTES_PER_ELEMENT[activation_precision]
    return model_cost.weight_bytes[precision] + (input_per_sample + activations) * batch
