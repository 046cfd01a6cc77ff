"""Machine ceilings (quick mode: sane numbers, no wall-clock thresholds) and the roofline on hand numbers."""

from __future__ import annotations

import math

import numpy as np
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
from infer_bench.explain.isa import PeakRoute, isa_name, openvino_matmul, peak_route
from infer_bench.errors import InferBenchError
from infer_bench.runtimes import openvino_rt

# 100 GFLOP/s fp32, 400 GOP/s int8, 10 GB/s memory.
HAND = MachineCeilings(peak_gflops_fp32=100.0, peak_gops_int8=400.0, memory_gbps=10.0, threads=1)
# ... and an AMX machine's 1,000 GFLOP/s bf16.
HAND_AMX = MachineCeilings(peak_gflops_fp32=100.0, peak_gops_int8=400.0, memory_gbps=10.0, threads=1,
                           peak_gflops_bf16=1000.0)

# CPU flags (environment.cpu_info) and OpenVINO capabilities of the two machines the issue is about.
XEON_AMX = dict(avx2=True, fma=True, avx512f=True, avx512_vnni=True, avx_vnni=True, avx512_bf16=True,
                avx512_fp16=True, amx_bf16=True, amx_int8=True, amx_tile=True, amx=True)
XEON_AMX_CAPS = ("BF16", "WINOGRAD", "FP32", "FP16", "INT8", "BIN", "EXPORT_IMPORT")
EPYC = dict(avx2=True, fma=True, avx512f=False, avx512_vnni=False, avx_vnni=False, avx512_bf16=False,
            avx512_fp16=False, amx_bf16=False, amx_int8=False, amx_tile=False, amx=False)
EPYC_CAPS = ("FP32", "INT8", "BIN", "EXPORT_IMPORT")


def test_quick_measurement_gives_positive_finite_numbers():
    ceilings = measure_ceilings(threads=1, quick=True)
    data = ceilings.to_dict()
    for key in ("peak_gflops_fp32", "peak_gops_int8", "memory_gbps"):
        assert math.isfinite(data[key]) and data[key] > 0, key
    assert ceilings.threads == 1
    for part in ("matmul_fp32", "matmul_int8", "memory_copy"):
        samples = ceilings.details[part]["samples_s"]
        assert samples and min(samples) == ceilings.details[part]["best_s"]
    assert set(data["routes"]) == {"fp32", "int8", "bf16"}
    assert data["routes"]["fp32"]["runtime"] == "onnxruntime"
    if "BF16" not in openvino_rt.cpu_capabilities():  # this AMD EPYC: no bf16 ceiling, and it says why
        assert data["peak_gflops_bf16"] is None and ceilings.details["matmul_bf16"] is None
        assert data["routes"]["bf16"]["runtime"] is None
        assert data["routes"]["bf16"]["reason"].startswith("not available here: bf16 not supported here")


# --- which runtime and ISA reach each peak ----------------------------------------------------------


def test_routes_on_a_xeon_with_amx():
    assert peak_route("fp32", XEON_AMX, XEON_AMX_CAPS) == PeakRoute("fp32", "onnxruntime", "AVX-512")
    assert peak_route("bf16", XEON_AMX, XEON_AMX_CAPS) == PeakRoute("bf16", "openvino", "AMX-BF16")
    assert peak_route("int8", XEON_AMX, XEON_AMX_CAPS) == PeakRoute("int8", "openvino", "AMX-INT8")


def test_routes_on_this_epyc():
    assert peak_route("fp32", EPYC, EPYC_CAPS) == PeakRoute("fp32", "onnxruntime", "AVX2+FMA")
    assert peak_route("int8", EPYC, EPYC_CAPS) == PeakRoute("int8", "onnxruntime", "AVX2 (no VNNI)")
    bf16 = peak_route("bf16", EPYC, EPYC_CAPS)
    assert bf16.runtime is None and bf16.isa == "none (no AVX512-BF16 or AMX-BF16)"
    assert bf16.reason.startswith("not available here: bf16 not supported here")
    assert "OpenVINO is not usable here" in peak_route("bf16", EPYC, None).reason


def test_isa_names_between_the_two():
    avx512_vnni = {**EPYC, "avx512f": True, "avx512_vnni": True}
    assert isa_name("int8", avx512_vnni) == "AVX512-VNNI" and isa_name("fp32", avx512_vnni) == "AVX-512"
    assert peak_route("int8", avx512_vnni, EPYC_CAPS).runtime == "openvino"
    assert isa_name("bf16", {**avx512_vnni, "avx512_bf16": True}) == "AVX512-BF16"
    assert isa_name("fp32", None) == "unknown (no CPU flags)"
    with pytest.raises(InferBenchError, match="no runtime and no reason"):
        PeakRoute("bf16", None, "none")


def test_openvino_int8_matmul_runs_in_int8_and_names_its_kernel():
    run, execution = openvino_matmul(64, "int8", threads=1)
    out = run(np.random.default_rng(0).random((64, 64), dtype=np.float32))
    assert execution["executed_precision"] == "int8" and execution["kernels"]
    assert np.asarray(out[0]).shape == (64, 64)


def test_an_int8_route_through_openvino_is_measured_there():
    routes = {"fp32": PeakRoute("fp32", "onnxruntime", "AVX2+FMA"), "int8": PeakRoute("int8", "openvino", "AVX2"),
              "bf16": PeakRoute("bf16", None, "none", "not available here: hand-set")}
    ceilings = measure_ceilings(threads=1, quick=True, routes=routes)
    int8 = ceilings.details["matmul_int8"]
    # Both runtimes' int8 MatMuls are measured; the ceiling is the higher, the other is kept beside it.
    pair = {int8["method"].split()[0]: int8, int8["other_runtime"]["method"].split()[0]: int8["other_runtime"]}
    assert set(pair) == {"openvino", "onnxruntime"} and pair["openvino"]["executed_precision"] == "int8"
    assert ceilings.peak_gops_int8 == int8["best_g_per_s"] == max(p["best_g_per_s"] for p in pair.values()) > 0
    route = ceilings.routes["int8"]
    if route["runtime"] == "openvino":
        assert route["kernels"]
    else:
        assert route["runtime"] == "onnxruntime" and "beat OpenVINO's" in route["reason"]
    assert ceilings.routes["bf16"]["reason"] == "not available here: hand-set"


def test_a_bf16_route_that_would_run_f32_gives_no_bf16_peak():
    if "BF16" in openvino_rt.cpu_capabilities():
        pytest.skip("this CPU runs bf16 natively")
    routes = {"fp32": PeakRoute("fp32", "onnxruntime", "AVX2+FMA"), "int8": PeakRoute("int8", "onnxruntime", "AVX2"),
              "bf16": PeakRoute("bf16", "openvino", "AMX-BF16")}  # as if on the Xeon
    ceilings = measure_ceilings(threads=1, quick=True, routes=routes)
    assert ceilings.peak_gflops_bf16 is None  # OpenVINO ran the bf16 MatMul in f32: not a bf16 ceiling
    assert "executed fp32 when asked for bf16" in ceilings.routes["bf16"]["reason"]


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
    with pytest.raises(InferBenchError, match="fp32, fp16, int8, bf16"):
        roofline_floor_ms(1, 1, HAND, "fp8")


def test_bf16_is_bounded_by_its_own_peak_where_there_is_one():
    # 2e9 FLOPs at 1,000 GFLOP/s bf16 = 2 ms; without a bf16 ceiling there is no bf16 floor
    assert roofline_floor_ms(2e9, 1e6, HAND_AMX, "bf16") == pytest.approx(2.0)
    with pytest.raises(InferBenchError, match="no bf16 peak for this machine"):
        roofline_floor_ms(2e9, 1e6, HAND, "bf16")
    with pytest.raises(InferBenchError, match="peak_gflops_bf16 must be a finite number > 0"):
        MachineCeilings(peak_gflops_fp32=1.0, peak_gops_int8=1.0, memory_gbps=1.0, threads=1, peak_gflops_bf16=0.0)


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
    # bf16 weights are 2 bytes, like fp16
    assert bytes_moved_estimate(tiny_cost(1), "bf16") == bytes_moved_estimate(tiny_cost(1), "fp16")
    # static int8: 20 activations at 1 B, the input stays fp32
    assert bytes_moved_estimate(tiny_cost(1), "int8", batch_size=4, activation_precision="int8") == 160 + 4 * (16 + 20)
    with pytest.raises(InferBenchError, match="Unknown precision 'int4'"):
        bytes_moved_estimate(tiny_cost(1), "int4")
