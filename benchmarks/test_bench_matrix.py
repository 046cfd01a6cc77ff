"""The benchmark matrix: model x format x quantization x runtime x device x batch size.

Run with ``pytest benchmarks/ --benchmark-only``. Every case goes through the
same plan as ``infer-bench bench`` (``bench.BenchPlan``): the same runtime
objects and load options (threads included), the same real test images checked
against each model's input shape (``bench.input_rotation``) and the same stop
rule (``BenchPlan.stop_rule``).
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from infer_bench.bench import input_rotation
from infer_bench.measure import InputRotation, StopRule, bare_loop_ns, measure_session
from infer_bench.runtimes import get_runtime
from infer_bench.runtimes.devices import cuda_available_reason


def test_inference(benchmark, bench_case, bench_plan, inputs_cache, session_cache):
    case, batch = bench_case
    if case.device == "cuda":
        reason = cuda_available_reason(case.runtime)
        if reason:
            pytest.skip(f"CUDA unavailable for {case.runtime}: {reason}")
    runtime = get_runtime(case.runtime)
    unavailable = getattr(runtime, "unavailable_reason", None)
    if case.precision and unavailable and unavailable(case.precision):
        pytest.skip(f"{case.quantization} unavailable for {case.runtime}: {unavailable(case.precision)}")
    options = bench_plan.load_options(case.device, case.precision)
    session = session_cache.get((case.path, case.runtime, case.device, case.precision),
                                lambda: runtime.load(case.path, options))
    batches = input_rotation(case.inputs, bench_plan.data_dir, inputs_cache, case.entry.input_shape or None,
                             bench_plan.adapt).batches(batch)
    rule = bench_plan.stop_rule.at_batch(batch)
    # pytest-benchmark's pedantic mode runs a fixed count: the rule's minimum calls (its
    # minimum time is pytest-benchmark's own --benchmark-min-time).
    rounds, warmup = rule.min_calls, rule.warmup_calls
    turn = iter(range(10**9))

    def next_batch():  # rotated outside the timed call, like measure_session
        return (batches[next(turn) % len(batches)],), {}

    benchmark.extra_info.update(model=case.entry.model, format=case.entry.format,
                                quantization=case.quantization, runtime=session.runtime,
                                device=session.device, providers=list(session.providers),
                                threads=session.threads, batch_size=batch, bytes=case.entry.bytes)
    benchmark.pedantic(session.run, setup=next_batch, rounds=rounds, warmup_rounds=warmup, iterations=1)
    # Per-row latency, as the command reports it (pytest-benchmark's own stats are per call).
    benchmark.extra_info["per_row_ms_median"] = benchmark.stats.stats.median * 1e3 / batch


def test_harness_overhead(benchmark):
    """The measurement loop's cost per call over a bare perf_counter loop (target: <= 2 us).

    Timed around a call that does almost nothing (negating a 4-element array), so
    what is left is the harness: batch rotation, two clock reads and an append.
    The median of several repeats is recorded in ``extra_info``.
    """
    rotation = InputRotation(np.random.default_rng(0).random((64, 4), dtype=np.float32) + 0.1)
    run, n = np.negative, 20000
    rotation.batches(1)  # build the rotated buffers before timing

    def overhead_us():
        t0 = time.perf_counter_ns()
        measure_session(run, rotation, 1, StopRule.fixed(n))
        harness_ns = time.perf_counter_ns() - t0
        return (harness_ns - bare_loop_ns(run, rotation.first(1), n)) / n / 1e3

    samples = []
    benchmark.pedantic(lambda: samples.append(overhead_us()), rounds=7, iterations=1)
    median = float(np.median(samples))
    benchmark.extra_info["harness_overhead_us_per_call"] = median
    print(f"\nharness overhead: {median:.2f} us per call over a bare perf_counter loop (target <= 2 us)")
