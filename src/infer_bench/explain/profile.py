"""Where the time goes, per Keras layer: ONNX Runtime's node profiler mapped back onto the model's layers.

``profile_onnx_layers`` runs an fp32 ONNX model twice over the same real
inputs: once plainly, to time whole calls (``wall``), and once with ONNX
Runtime's profiler on, whose JSON trace has one ``"cat": "Node"`` event per
kernel run (``"name": "<node>_kernel_time"``, ``args.op_name``, ``dur`` in
µs) and one ``"cat": "Session"``, ``"name": "model_run"`` event per call.
Warm-up calls are dropped by their ``model_run`` events; the rest are summed
per node (``trace``), and the nodes are mapped to the Keras layers they came
from (``layermap``). The plain session's warm-up and wall-clock pass are
timed through the one timing core (``measure.time_calls``,
``measure.measure_session``).

**LiteRT has no per-op profiler in Python.** ``ai_edge_litert.interpreter.Interpreter``
(2.3.0) offers ``experimental_force_delegate_node_profiling`` at construction,
but no method that returns a profile (its methods are allocate/invoke/tensor
access and signature runners; ``CompiledModel`` has none either). Per-op
LiteRT times need the native ``benchmark_model --enable_op_profiling`` tool,
which is not part of the pip package. So LiteRT is not profiled here
(``LITERT_PROFILING_NOTE`` says so in results); nothing is estimated in its place.
"""

from __future__ import annotations

import json
import statistics
import tempfile
from pathlib import Path

import numpy as np

from ..errors import InferBenchError
from ..measure import PROFILE, InputRotation, StopRule, measure_session, time_calls
from ..runtimes import LoadOptions, get_runtime
from ..runtimes.onnxruntime_rt import load_onnx_profiled
from .layermap import NodeLayerMapper, clean_node_name
from .trace import LayerProfile, layer_times, node_times

# Defaults of a profile run: measure's PROFILE preset (calls per phase, warm-up calls).
DEFAULT_RUNS = PROFILE.min_calls
DEFAULT_WARMUP_CALLS = PROFILE.warmup_calls
MIN_RUNS = 20  # a max_seconds cap never cuts the runs below this

LITERT_PROFILING_NOTE = (
    "not available: ai_edge_litert's Python Interpreter has no per-op profiler API "
    "(per-op LiteRT times need the native benchmark_model tool with --enable_op_profiling)"
)


def profile_onnx_layers(
    onnx_path,
    keras_model,
    x: np.ndarray,
    runs: int = DEFAULT_RUNS,
    threads: int | None = None,
    *,
    batch_size: int = 1,
    warmup_calls: int = DEFAULT_WARMUP_CALLS,
    max_seconds: float | None = None,
) -> LayerProfile:
    """Per-layer kernel times of an ONNX model exported from ``keras_model``, on the CPU.

    ``x``: real float32 inputs (N, ...) rotated through batches of
    ``batch_size`` (``measure.InputRotation``). ``warmup_calls`` calls (timed
    only to size the run count), then ``runs`` calls timed without the
    profiler and ``runs`` calls with it. ``max_seconds`` caps each of the two
    timed phases: the run count is cut (never below ``MIN_RUNS``) from the
    warm-up's mean call time. ``threads``: intra-op threads (None = all
    cores), as for the benchmarks.
    """
    if not isinstance(runs, int) or runs < 1:
        raise InferBenchError(f"runs must be an int >= 1, got {runs!r}.")
    if not isinstance(warmup_calls, int) or warmup_calls < 1:
        raise InferBenchError(f"warmup_calls must be an int >= 1, got {warmup_calls!r}.")
    if max_seconds is not None and not (isinstance(max_seconds, (int, float)) and max_seconds > 0):
        raise InferBenchError(f"max_seconds must be a number > 0 or None, got {max_seconds!r}.")
    path = Path(onnx_path)
    mapper = NodeLayerMapper.from_onnx(path, keras_model)
    rotation = InputRotation(np.asarray(x))
    batches = rotation.batches(batch_size)
    options = LoadOptions(device="cpu", threads=threads)

    plain = get_runtime("onnxruntime").load(path, options)
    try:
        warm_ns = time_calls(plain.run, batches, StopRule.fixed(warmup_calls))
        per_call_s = statistics.fmean(warm_ns) / 1e9
        if max_seconds is not None:
            runs = max(min(runs, MIN_RUNS), min(runs, int(max_seconds / max(per_call_s, 1e-9))))
        wall = measure_session(plain.run, rotation, batch_size, StopRule.fixed(runs))
        n_threads = plain.threads
    finally:
        plain.close()

    with tempfile.TemporaryDirectory(prefix="infer-bench-profile-") as tmp:
        profiled = load_onnx_profiled(path, options, Path(tmp) / "ort")
        try:
            # Not timed here: the profiler's trace holds every call's kernel times.
            for i in range(warmup_calls + runs):
                profiled.run(batches[i % len(batches)])
            trace = profiled.end_profiling()
            events = json.loads(Path(trace).read_text())
        finally:
            profiled.close()

    times = node_times(events, skip_runs=warmup_calls)
    nodes = []
    for name, total in sorted(times.totals_us.items(), key=lambda kv: -kv[1]):
        layer, _ = mapper.layer_of(name, times.ops[name])
        nodes.append({"name": clean_node_name(name), "op": times.ops[name], "layer": layer,
                      "mean_us": total / times.runs, "p50_us": statistics.median(times.durations_us[name])})
    return LayerProfile(
        model=keras_model.name,
        onnx_path=str(path),
        batch_size=batch_size,
        threads=n_threads,
        runs=times.runs,
        layers=tuple(layer_times(times, mapper.layer_of)),
        node_total_us=statistics.fmean(times.per_run_totals_us),
        node_total_p50_us=statistics.median(times.per_run_totals_us),
        model_run_us=statistics.fmean(times.model_run_us),
        wall_calls_ns=wall.calls_ns,
        nodes=tuple(nodes),
    )
