"""This machine's ceilings, measured at run time, and the roofline floor they put under a model.

Three numbers, each the best of repeated runs (a ceiling is what the machine
can reach; a busy machine only makes runs slower, so the best run is the
least disturbed one; the median is kept in ``details`` too):

* **fp32 peak**: an N x N @ N x N ``MatMul`` built with onnx.helper and run in
  ONNX Runtime, the runtime the models run in, with the same
  ``intra_op_num_threads``. The right-hand matrix is an initializer, as a
  model's weights are, so ONNX Runtime pre-packs it as it does for them.
  2 N^3 FLOPs per run.
* **int8 peak**: the same product as ``MatMulInteger`` (uint8 activations x
  int8 initializer weights, int32 out), the kernel ONNX Runtime's int8
  models run on the CPU (dynamic quantization uses it directly; static QDQ
  MatMuls fuse into QLinearMatMul on the same QGEMM). 2 N^3 integer ops
  per run.
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
fp32 peak for fp16.

``quick=True`` uses smaller problems and fewer runs, for smoke tests: its
matrix is too small to reach the peak, and its arrays may fit in cache.
"""

from __future__ import annotations

import math
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from .costmodel import BYTES_PER_ELEMENT, PRECISIONS, ModelCost
from .errors import InferBenchError


@dataclass(frozen=True)
class CeilingPlan:
    """How big and how often each ceiling's measurement runs."""

    matmul_n: int  # square matrix size of the MatMul problems
    copy_mib: int  # size of each array of the memory copy
    min_runs: int  # timed runs at least ...
    min_seconds: float  # ... and until this much time has been spent timing, ...
    max_runs: int  # ... but never more than this


# Sized so measure_ceilings() stays within a few seconds on 2 cores:
# full: 2.1 GFLOP per MatMul run, 512 MiB moved per copy.
PLANS = {
    "full": CeilingPlan(matmul_n=1024, copy_mib=256, min_runs=5, min_seconds=0.6, max_runs=50),
    "quick": CeilingPlan(matmul_n=256, copy_mib=32, min_runs=3, min_seconds=0.0, max_runs=3),
}

# Which measured peak bounds compute at each precision (fp16 runs on fp32 kernels on CPU).
PEAK_FOR_PRECISION = {"fp32": "peak_gflops_fp32", "fp16": "peak_gflops_fp32", "int8": "peak_gops_int8"}


@dataclass(frozen=True)
class MachineCeilings:
    """Measured ceilings of this machine at ``threads`` threads; raw timings in ``details``."""

    peak_gflops_fp32: float
    peak_gops_int8: float
    memory_gbps: float
    threads: int
    details: dict = field(default_factory=dict, compare=False)

    def __post_init__(self):
        for name in ("peak_gflops_fp32", "peak_gops_int8", "memory_gbps"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise InferBenchError(f"MachineCeilings: {name} must be a finite number > 0, got {value!r}.")
        if not isinstance(self.threads, int) or self.threads < 1:
            raise InferBenchError(f"MachineCeilings: threads must be an int >= 1, got {self.threads!r}.")

    def peak(self, precision: str) -> float:
        """The compute peak (G op/s) that bounds a model at ``precision``."""
        if precision not in PEAK_FOR_PRECISION:
            raise InferBenchError(
                f"Unknown precision {precision!r}.", f"use one of: {', '.join(PEAK_FOR_PRECISION)}."
            )
        return getattr(self, PEAK_FOR_PRECISION[precision])

    def to_dict(self) -> dict:
        return {
            "peak_gflops_fp32": self.peak_gflops_fp32,
            "peak_gops_int8": self.peak_gops_int8,
            "memory_gbps": self.memory_gbps,
            "threads": self.threads,
            "details": self.details,
        }


# --- timing -------------------------------------------------------------------


def _time_runs(fn, plan: CeilingPlan) -> dict:
    """One cold call, then timed calls until min_runs and min_seconds are both met (max_runs caps)."""
    start = time.perf_counter()
    fn()
    cold = time.perf_counter() - start
    samples: list[float] = []
    spent = 0.0
    while len(samples) < plan.max_runs and (len(samples) < plan.min_runs or spent < plan.min_seconds):
        start = time.perf_counter()
        fn()
        elapsed = time.perf_counter() - start
        samples.append(elapsed)
        spent += elapsed
    return {"cold_s": cold, "samples_s": samples, "best_s": min(samples), "median_s": statistics.median(samples)}


def _ort_session(model, threads: int):
    from .runtimes import devices

    ort = devices.import_runtime("onnxruntime")
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), sess_options=so, providers=["CPUExecutionProvider"])


def _matmul_model(n: int, integer: bool):
    """A one-node ONNX model: A (input) @ B (initializer), fp32 MatMul or uint8 x int8 MatMulInteger."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    if integer:
        b = rng.integers(-127, 128, size=(n, n), dtype=np.int8)
        node = helper.make_node("MatMulInteger", ["A", "B"], ["Y"])
        a_type, y_type = TensorProto.UINT8, TensorProto.INT32
    else:
        b = rng.standard_normal((n, n), dtype=np.float32)
        node = helper.make_node("MatMul", ["A", "B"], ["Y"])
        a_type = y_type = TensorProto.FLOAT
    graph = helper.make_graph(
        [node], "ceiling_matmul",
        [helper.make_tensor_value_info("A", a_type, [n, n])],
        [helper.make_tensor_value_info("Y", y_type, [n, n])],
        initializer=[numpy_helper.from_array(b, "B")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def _measure_matmul(n: int, integer: bool, threads: int, plan: CeilingPlan) -> dict:
    sess = _ort_session(_matmul_model(n, integer), threads)
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, size=(n, n), dtype=np.uint8) if integer else rng.standard_normal((n, n), dtype=np.float32)
    timing = _time_runs(lambda: sess.run(["Y"], {"A": a}), plan)
    ops = 2 * n**3
    return {
        "method": f"onnxruntime {'MatMulInteger uint8 x int8' if integer else 'MatMul float32'} {n}x{n} @ {n}x{n}",
        "ops_per_run": ops,
        **timing,
        "best_g_per_s": ops / timing["best_s"] / 1e9,
        "median_g_per_s": ops / timing["median_s"] / 1e9,
    }


def _measure_copy(mib: int, threads: int, plan: CeilingPlan) -> dict:
    n = mib * 2**20 // 4
    src = np.ones(n, dtype=np.float32)  # written, so every page is touched before timing
    dst = np.zeros(n, dtype=np.float32)
    dst[:] = 0.0
    bounds = np.linspace(0, n, threads + 1, dtype=np.int64)
    chunks = [(src[lo:hi], dst[lo:hi]) for lo, hi in zip(bounds[:-1], bounds[1:])]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        def copy():
            list(pool.map(lambda pair: np.copyto(pair[1], pair[0]), chunks))

        timing = _time_runs(copy, plan)
    moved = 2 * src.nbytes  # read + write
    return {
        "method": f"numpy copy of a {mib} MiB float32 array in {threads} chunk(s), one thread each",
        "bytes_per_run": moved,
        **timing,
        "best_g_per_s": moved / timing["best_s"] / 1e9,
        "median_g_per_s": moved / timing["median_s"] / 1e9,
    }


def measure_ceilings(threads: int | None = None, quick: bool = False) -> MachineCeilings:
    """Measure fp32 and int8 matrix-multiply peaks and memory bandwidth at ``threads`` threads.

    ``threads=None`` means all cores, as for the runtimes. 3-5 s on 2 busy
    cores (``quick``: well under 1 s, smoke-test numbers only). On a busy
    machine the best run can differ a lot between calls; ``details`` keeps
    every run and the 1-minute load average seen before measuring.
    """
    from .runtimes import devices

    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise InferBenchError(f"threads must be an int >= 1 or None (all cores), got {threads!r}.")
    n_threads = devices.effective_threads(threads)
    plan = PLANS["quick" if quick else "full"]
    load_before = os.getloadavg()[0]
    fp32 = _measure_matmul(plan.matmul_n, integer=False, threads=n_threads, plan=plan)
    int8 = _measure_matmul(plan.matmul_n, integer=True, threads=n_threads, plan=plan)
    memory = _measure_copy(plan.copy_mib, n_threads, plan)
    details = {
        "plan": "quick" if quick else "full",
        "cpu_count": os.cpu_count(),
        "load_average_1min_before": load_before,
        "matmul_fp32": fp32,
        "matmul_int8": int8,
        "memory_copy": memory,
    }
    return MachineCeilings(
        peak_gflops_fp32=fp32["best_g_per_s"],
        peak_gops_int8=int8["best_g_per_s"],
        memory_gbps=memory["best_g_per_s"],
        threads=n_threads,
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
    fp16 on fp32 kernels), int8 the int8 one.
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
    for name, value in (("precision", precision), ("activation_precision", activation_precision)):
        if value not in PRECISIONS:
            raise InferBenchError(f"Unknown {name} {value!r}.", f"use one of: {', '.join(PRECISIONS)}.")
    batch = model_cost.batch_size if batch_size is None else batch_size
    if not isinstance(batch, int) or batch < 1:
        raise InferBenchError(f"batch_size must be an int >= 1, got {batch!r}.")
    input_per_sample = model_cost.input_bytes // model_cost.batch_size
    # activation_bytes are fp32 (4 B per element); rescale them to activation_precision.
    elements_per_sample = model_cost.activation_bytes // model_cost.batch_size // BYTES_PER_ELEMENT["fp32"]
    activations = elements_per_sample * BYTES_PER_ELEMENT[activation_precision]
    return model_cost.weight_bytes[precision] + (input_per_sample + activations) * batch
