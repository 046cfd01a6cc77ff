"""The explanation's arithmetic and words on fixed numbers (no models are run here)."""

from __future__ import annotations

import pytest

from infer_bench.ceilings import MachineCeilings
from infer_bench.costmodel import LayerCost, ModelCost
from infer_bench.errors import InferBenchError
from infer_bench.explain import (
    REPORT_FIGURES,
    ModelFigures,
    _default_path,
    compare_pair,
    format_explanation,
    overhead_decomposition,
    roofline_entry,
    run_explain,
)

# 100 GFLOP/s fp32, 400 GOP/s int8, 10 GB/s memory.
HAND = MachineCeilings(peak_gflops_fp32=100.0, peak_gops_int8=400.0, memory_gbps=10.0, threads=1)

# One Dense layer 100 -> 10: 1,000 MACs, 2,010 FLOPs, 1,010 params; a 100-float input.
DENSE = LayerCost(name="dense", kind="Dense", output_shape=(10,), macs=1000, flops=2010, params=1010,
                  weight_bytes={"fp32": 4040, "fp16": 2020, "int8": 1040}, activation_bytes=40)
COST = ModelCost("tiny", 1, (100,), (DENSE,))


def test_overhead_is_time_above_the_kernel_sum():
    d = overhead_decomposition({"keras_predict": 50.0, "tf_function": 4.0, "onnxruntime": 2.0}, kernel_ms=1.5)
    assert d["compute_ms"] == 1.5 and d["compute_source"] == "onnxruntime kernel sum"
    assert d["fastest_runtime"] == "onnxruntime"
    predict = d["per_runtime"]["keras_predict"]
    assert predict["overhead_ms"] == pytest.approx(48.5)
    assert predict["overhead_share"] == pytest.approx(48.5 / 50.0)
    assert predict["x_compute"] == pytest.approx(50.0 / 1.5)
    assert d["per_runtime"]["onnxruntime"]["overhead_ms"] == pytest.approx(0.5)
    assert list(d["per_runtime"]) == ["onnxruntime", "tf_function", "keras_predict"]  # fastest first


def test_compute_is_capped_by_the_fastest_whole_call():
    # An inflated kernel sum (3 ms) above the fastest call (2 ms): compute is the 2 ms call.
    d = overhead_decomposition({"keras_predict": 50.0, "onnxruntime": 2.0, "litert": None}, kernel_ms=3.0)
    assert d["compute_ms"] == 2.0 and d["compute_source"] == "fastest runtime (onnxruntime)"
    assert d["per_runtime"]["onnxruntime"]["overhead_ms"] == 0.0
    assert d["per_runtime"]["keras_predict"]["overhead_ms"] == pytest.approx(48.0)
    assert "litert" not in d["per_runtime"]


def test_overhead_refuses_bad_numbers():
    with pytest.raises(InferBenchError, match="at least one measured runtime"):
        overhead_decomposition({}, kernel_ms=1.0)
    with pytest.raises(InferBenchError, match=r"latency_ms\['onnxruntime'\]"):
        overhead_decomposition({"onnxruntime": -1.0}, kernel_ms=1.0)


def test_roofline_entry_on_hand_numbers():
    # fp32 bytes: 4,040 weights + 400 input + 40 output = 4,480 B -> 4.48e-4 ms at 10 GB/s;
    # 2,010 FLOPs at 100 GFLOP/s = 2.01e-5 ms: memory-bound. Measured 0.001 ms -> 44.8% of the floor.
    r = roofline_entry(COST, HAND, "fp32", 0.001, "onnxruntime onnx/fp32")
    assert r["bytes_moved"] == 4480
    assert r["compute_ms"] == pytest.approx(2.01e-5)
    assert r["floor_ms"] == pytest.approx(4.48e-4)
    assert r["bound"] == "memory"
    assert r["share_of_floor"] == pytest.approx(0.448)
    # int8 with int8 activations: 1,040 + 400 + 10 = 1,450 B.
    r8 = roofline_entry(COST, HAND, "int8", None, None, activation_precision="int8")
    assert r8["bytes_moved"] == 1450 and r8["floor_ms"] == pytest.approx(1.45e-4)
    assert r8["share_of_floor"] is None


A = ModelFigures("small", flops=1_000_000, weight_bytes=4_000_000, ort_ms=0.05, predict_ms=40.0,
                 ort_floor_share=0.5, predict_overhead_ms=39.0)
B = ModelFigures("big", flops=200_000_000, weight_bytes=400_000_000, ort_ms=10.0, predict_ms=50.0,
                 ort_floor_share=0.25, predict_overhead_ms=45.0)


def test_pair_ratios_and_words():
    p = compare_pair(A, B)
    assert (p["a"], p["b"]) == ("small", "big")
    assert p["flop_ratio"] == pytest.approx(200.0)
    assert p["weight_bytes_ratio"] == pytest.approx(100.0)
    assert p["ort_ratio"] == pytest.approx(200.0)
    assert p["predict_ratio"] == pytest.approx(1.25)
    text = p["text"]
    assert "big does 200x the FLOPs and 100x the weight bytes of small." in text
    assert "in ONNX Runtime it is 200x slower (10.0 ms vs 0.050 ms)" in text
    assert "25% of this machine's fp32 roofline (small: 50%)" in text
    assert "the gap is only 1.2x (50.0 ms vs 40.0 ms) because at least 39.0 ms of every call is framework overhead" \
        in text


def test_pair_words_when_the_heavier_model_is_faster():
    fast_big = ModelFigures("big", flops=2_040_000, weight_bytes=4_080_000, ort_ms=0.025, predict_ms=None)
    p = compare_pair(A, fast_big)
    assert p["flop_ratio"] == pytest.approx(2.04) and p["predict_ratio"] is None
    assert "2.0x the FLOPs and 1.02x the weight bytes" in p["text"]
    assert "it is 2.0x faster" in p["text"]
    assert "model.predict was not measured for both" in p["text"]


def test_pair_words_when_predict_reverses_the_order():
    # ONNX Runtime: big is 200x slower; model.predict: big 30 ms vs small 40 ms, i.e. 1.3x faster.
    noisy_big = ModelFigures("big", flops=200_000_000, weight_bytes=400_000_000, ort_ms=10.0, predict_ms=30.0,
                             predict_overhead_ms=20.0)
    p = compare_pair(A, noisy_big)
    assert p["predict_ratio"] == pytest.approx(0.75)
    assert "Through model.predict it is even 1.3x faster (30.0 ms vs 40.0 ms): framework overhead " \
           "(small: 39.0 ms, big: 20.0 ms per call) dwarfs the difference in compute" in p["text"]


def test_report_figures_are_the_reports():
    assert REPORT_FIGURES["simple_cnn"].quoted == "<5 ms per row"
    assert REPORT_FIGURES["simple_cnn"].holds_for(4.0) and not REPORT_FIGURES["simple_cnn"].holds_for(45.0)
    assert REPORT_FIGURES["alexnet_catsdogs"].holds_for(25.0) and not REPORT_FIGURES["alexnet_catsdogs"].holds_for(9.0)


def test_format_explanation_lists_the_slowest_layers():
    overhead = overhead_decomposition({"keras_predict": 40.0, "onnxruntime": 0.05}, kernel_ms=0.04)
    model = {
        "quick": False, "flops": COST.flops, "params": COST.params, "weight_bytes": COST.weight_bytes,
        "layers": [DENSE.to_dict()],
        "layer_times": [{"layer": "dense", "kind": "Dense", "mean_us": 30.0, "p50_us": 29.0, "share": 0.75,
                         "ops": ["FusedGemm"]},
                        {"layer": "other (Shape)", "kind": "Shape", "mean_us": 10.0, "p50_us": 9.0, "share": 0.25,
                         "ops": ["Shape"]}],
        "profile": {"runs": 200, "node_total_p50_us": 40.0, "wall_p50_us": 50.0, "profiler_inflated": False},
        "latency_ms": {"keras_predict": 40.0, "onnxruntime": 0.05},
        "roofline": {"fp32": roofline_entry(COST, HAND, "fp32", 0.05, "onnxruntime onnx/fp32"),
                     "int8": roofline_entry(COST, HAND, "int8", None, None, "int8")},
        "overhead": overhead,
        "report": {"quoted": "<5 ms per row", "runtime": "keras_predict", "this_machine_batch1_ms": 40.0,
                   "this_machine_by_batch_ms": {}, "holds_here": False},
    }
    d = {"machine": HAND.to_dict(), "models": {"tiny": model}, "pairs": [compare_pair(A, B)]}
    out = format_explanation(d)
    assert "about 0.040 ms (ONNX Runtime's summed kernel time); model.predict spends 40.0 ms (100%)" in out
    assert "outside the report's figure" in out
    text, table = out.split("tiny: slowest layers")
    assert compare_pair(A, B)["text"] in text
    rows = [line for line in table.splitlines() if line.startswith("| ")]
    assert rows[1].split("|")[1].strip() == "dense" and "| 30.0 " in rows[1] and "| 75% " in rows[1]
    assert rows[2].split("|")[1].strip() == "other (Shape)"


def test_json_paths_are_never_overwritten(tmp_path):
    taken = tmp_path / "explain-20261128-120000.json"
    taken.write_text("{}")
    assert _default_path(tmp_path, "2026-11-28T12:00:00+01:00").name == "explain-20261128-120000-2.json"
    with pytest.raises(InferBenchError, match="already exists"):
        run_explain(tmp_path, results_dir=tmp_path, json_path=taken, log=lambda s: None)
