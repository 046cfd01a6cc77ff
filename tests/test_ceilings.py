"""Machine ceilings (quick mode: sane numbers, no wall-clock thresholds) and the roofline on hand numbers."""

from __future__ import annotations

import math

import pytest

from infer_bench.explain.ceilings import (
    MachineCeilings,
    bytes_moved_estimate,
    measure_ceilings,
    roofline_bound,
    roofline_floor_ms,
    share_of_floor,
)
from infer_bench.explain.costmodel import LayerCost, ModelCost
from infer_bench.errors import InferBenchError

# 100 GFLOP/s fp32, 400 GOP/s int8, 10 GB/s memory.
HAND = MachineCeilings(peak_gflops_fp32=100.0, peak_gops_int8=400.0, memory_gbps=10.0, threads=1)


def test_quick_measurement_gives_positive_finite_numbers():
    ceilings = measure_ceilings(threads=1, quick=True)
    data = ceilings.to_dict()
    for key in ("peak_gflops_fp32", "peak_gops_int8", "memory_gbps"):
        assert math.isfinite(data[key]) and data[key] > 0, key
    assert ceilings.threads == 1
    for part in ("matmul_fp32", "matmul_int8", "memory_copy"):
        samples = ceilings.details[part]["samples_s"]
        assert samples and min(samples) == ceilings.details[part]["best_s"]


def test_bad_thread_count_is_refused():
    with pytest.raises(InferBenchError, match="threads must be an int >= 1 or None"):
        measure_ceilings(threads=0, quick=True)


def test_compute_bound_floor():
    # 2e9 FLOPs at 100 GFLOP/s = 20 ms; 1e6 bytes at 10 GB/s = 0.1 ms
    assert roofline_floor_ms(2e9, 1e6, HAND, "fp32") == pytest.approx(20.0)
    assert roofline_floor_ms(2e9, 1e6, HAND, "fp16") == pytest.approx(20.0)  # fp16 uses the fp32 peak on CPU
    assert roofline_floor_ms(2e9, 1e6, HAND, "int8") == pytest.approx(5.0)  # 400 GOP/s
    assert roofline_bound(2e9, 1e6, HAND, "fp32") == "compute"


def test_memory_bound_floor():
    # 1e6 FLOPs = 0.01 ms; 5e8 bytes at 10 GB/s = 50 ms
    assert roofline_floor_ms(1e6, 5e8, HAND, "fp32") == pytest.approx(50.0)
    assert roofline_bound(1e6, 5e8, HAND, "int8") == "memory"


def test_share_of_floor():
    assert share_of_floor(40.0, 20.0) == pytest.approx(0.5)
    assert share_of_floor(20.0, 20.0) == pytest.approx(1.0)
    with pytest.raises(InferBenchError, match="measured_ms must be > 0"):
        share_of_floor(0.0, 1.0)


def test_unknown_precision_lists_the_valid_ones():
    with pytest.raises(InferBenchError, match="fp32, fp16, int8"):
        roofline_floor_ms(1, 1, HAND, "bf16")


def test_ceilings_are_validated_where_built():
    with pytest.raises(InferBenchError, match="memory_gbps must be a finite number > 0, got -1"):
        MachineCeilings(peak_gflops_fp32=1.0, peak_gops_int8=1.0, memory_gbps=-1.0, threads=1)


def tiny_cost(batch_size: int) -> ModelCost:
    """One Dense layer 4 -> 20 (weights 100 B fp32 / 50 B fp16 / 40 B int8), costed at ``batch_size``."""
    fc = LayerCost("fc", "Dense", (20,), macs=80 * batch_size, flops=180 * batch_size, params=100,
                   weight_bytes={"fp32": 400, "fp16": 200, "int8": 160},
                   activation_bytes=80 * batch_size)  # 20 fp32 elements per sample
    return ModelCost("tiny", batch_size, (4,), [fc])  # input: 16 B per sample


def test_bytes_moved_estimate():
    # weights once + (input 16 B + activations 80 B) per sample
    assert bytes_moved_estimate(tiny_cost(1), "fp32") == 400 + 96
    assert bytes_moved_estimate(tiny_cost(1), "fp32", batch_size=4) == 400 + 4 * 96
    # a cost computed at batch 2 gives the same per-sample bytes
    assert bytes_moved_estimate(tiny_cost(2), "fp16", batch_size=4) == 200 + 4 * 96
    # static int8: 20 activations at 1 B, the input stays fp32
    assert bytes_moved_estimate(tiny_cost(1), "int8", batch_size=4, activation_precision="int8") == 160 + 4 * (16 + 20)
    with pytest.raises(InferBenchError, match="Unknown precision 'int4'"):
        bytes_moved_estimate(tiny_cost(1), "int4")
