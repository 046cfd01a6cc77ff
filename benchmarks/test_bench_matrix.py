"""The benchmark matrix: model x format x quantization x runtime x device x batch size.

Run with ``pytest benchmarks/ --benchmark-only``. Every case goes through the
same runtime objects, the same real test images (``InputRotation``) and the
same call counts (``bench.calls_for``) as ``infer-bench bench``.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from infer_bench.bench import input_rotation, calls_for
from infer_bench.measure import InputRotation, bare_loop_ns, measure_session
from infer_bench.runtimes import LoadOptions, get_runtime
from infer_bench.runtimes.devices import configure_tensorflow, cuda_available_reason


def test_inference(benchmark, bench_case, inputs_cache, session_cache):
    case, batch = bench_case
    if case.device == "cuda":
        reason = cuda_available_reason(case.runtime)
        if reason:
            pytest.skip(f"CUDA unavailable for {case.runtime}: {reason}")
    configure_tensorflow(None)
    runtime = get_runtime(case.runtime)
    options = LoadOptions(device=case.device)
    session = session_cache.get((case.path, case.runtime, case.device), lambda: runtime.load(case.path, options))
    batches = input_rotation(case.dataset, None, inputs_cache).batches(batch)
    rounds, warmup = calls_for(batch)
    turn = iter(range(10**9))

    def next_batch():  # rotated outside the timed call, like measure_session
        return (batches[next(turn) % len(batches)],), {}

    benchmark.extra_info.update(model=case.entry.model, format=case.entry.format,
                                quantization=case.entry.quantization, runtime=session.runtime,
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
        measure_session(run, rotation, 1, min_time_s=0, min_calls=n, warmup_calls=0, max_calls=n)
        harness_ns = time.perf_counter_ns() - t0
        return (harness_ns - bare_loop_ns(run, rotation.first(1), n)) / n / 1e3

    samples = []
    benchmark.pedantic(lambda: samples.append(overhead_us()), rounds=7, iterations=1)
    median = float(np.median(samples))
    benchmark.extra_info["harness_overhead_us_per_call"] = median
    print(f"\nharness overhead: {median:.2f} us per call over a bare perf_counter loop (target <= 2 us)")
