"""The explanation's arithmetic, words and record on fixed numbers (no models are run here)."""

from __future__ import annotations

import json
import time
from types import SimpleNamespace

import pytest

from infer_bench.environment import capture_environment
from infer_bench.errors import InferBenchError
from infer_bench.explain import (
    REPORT_FIGURES,
    ModelFigures,
    compare_pair,
    format_explanation,
    overhead_decomposition,
    roofline_entry,
    run_explain,
)
from infer_bench.explain.analysis import bench_by_batch, bench_p50, model_rooflines, report_check
from infer_bench.explain.ceilings import MachineCeilings
from infer_bench.explain.costmodel import LayerCost, ModelCost
from infer_bench.explain.runner import usable_bench
from infer_bench.results import BenchResult, ResultsFile, save_results
from infer_bench.results.explain import (
    Explanation,
    ModelExplanation,
    latest_explanation,
    load_explanation,
    save_explanation,
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


def _record(models: dict, pairs=(), text="", **top) -> Explanation:
    """An explanation on HAND with the given models (ModelExplanation records) and pairs."""
    fields = dict(created="2026-11-28T12:00:00+01:00", exported="exported", threads=1, bench_results=None,
                  machine=HAND.to_dict(), report_figures={}, litert_layer_times="not available", models=models,
                  pairs=list(pairs), text=text)
    fields.update(top)
    return Explanation(**fields)


def _model(**given) -> ModelExplanation:
    """A ModelExplanation: ``given`` keys, the rest from COST with nothing measured."""
    fields = dict(dataset="fashion_mnist", quick=False, flops=COST.flops, macs=COST.macs, params=COST.params,
                  weight_bytes=COST.weight_bytes, activation_bytes=COST.activation_bytes,
                  input_bytes=COST.input_bytes, layers=[DENSE.to_dict()], layer_times=[], profile={},
                  latency_ms={}, latency_sources={}, int8_latency_ms={}, int8_sources={}, roofline={}, overhead={},
                  report={})
    fields.update(given)
    return ModelExplanation(**fields)


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
    d = _record({"tiny": _model(**model)}, pairs=[compare_pair(A, B)])
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
    assert save_explanation(_record({}), tmp_path).name == "explain-20261128-120000-2.json"
    assert latest_explanation(tmp_path).name == "explain-20261128-120000-2.json"
    with pytest.raises(InferBenchError, match="already exists"):
        run_explain(tmp_path, results_dir=tmp_path, json_path=taken, log=lambda s: None)
    with pytest.raises(InferBenchError, match="already exists"):
        save_explanation(_record({}), tmp_path, json_path=taken)
    assert taken.read_text() == "{}"


def test_nan_is_refused_before_anything_is_written(tmp_path):
    bad = _record({"tiny": _model(latency_ms={"onnxruntime": float("nan")})})
    with pytest.raises(ValueError):
        save_explanation(bad, tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("manifest", [None, {"schema_version": 1, "versions": {}, "models": {}, "artifacts": []}])
def test_a_folder_without_models_is_refused_before_measuring(tmp_path, manifest):
    exported = tmp_path / "exported"
    exported.mkdir()
    if manifest is not None:
        (exported / "manifest.json").write_text(json.dumps(manifest))
    lines = []
    start = time.monotonic()
    with pytest.raises(InferBenchError, match=f"infer-bench train-export --out {exported}"):
        run_explain(exported, results_dir=tmp_path / "results", log=lines.append)
    assert time.monotonic() - start < 10  # nothing was measured
    assert lines == [] and not (tmp_path / "results").exists()


def test_bad_threads_are_refused(tmp_path):
    with pytest.raises(InferBenchError, match="threads must be an int >= 1"):
        run_explain(tmp_path, results_dir=tmp_path, threads=0, log=lambda s: None)


def test_record_round_trip_and_older_files(tmp_path):
    model = _model(latency_ms={"onnxruntime": 0.05}, report={"quoted": None})
    expl = _record({"tiny": model}, text="Words.", environment={"cpu_model": "X"})
    d = expl.to_dict()
    assert list(d) == ["schema_version", "created", "environment", "exported", "threads", "bench_results",
                       "machine", "report_figures", "litert_layer_times", "models", "pairs", "text"]
    assert list(d["models"]["tiny"])[:3] == ["dataset", "quick", "flops"]
    assert Explanation.from_dict(d) == expl
    path = save_explanation(expl, tmp_path)
    assert load_explanation(path) == expl
    # A file written before the environment was recorded reads back as it was.
    del d["environment"]
    older = tmp_path / "older.json"
    older.write_text(json.dumps(d))
    read = load_explanation(older)
    assert read.environment is None and read.to_dict() == d


def test_damaged_and_other_files_get_clear_errors(tmp_path):
    d = _record({"tiny": _model()}).to_dict()
    with pytest.raises(InferBenchError, match="No explanation file"):
        load_explanation(tmp_path / "none.json")
    other = dict(d, schema_version=99)
    (tmp_path / "other.json").write_text(json.dumps(other))
    with pytest.raises(InferBenchError, match="schema_version 99"):
        load_explanation(tmp_path / "other.json")
    lacking = dict(d)
    del lacking["pairs"]
    (tmp_path / "lacking.json").write_text(json.dumps(lacking))
    with pytest.raises(InferBenchError, match="lacks pairs"):
        load_explanation(tmp_path / "lacking.json")
    del d["models"]["tiny"]["overhead"]
    (tmp_path / "model.json").write_text(json.dumps(d))
    with pytest.raises(InferBenchError, match="model 'tiny'.*lacks overhead"):
        load_explanation(tmp_path / "model.json")


def _bench_file(folder, environment):
    result = BenchResult(model="tiny", format="onnx", quantization="fp32", runtime="onnxruntime", device="cpu",
                         providers=("CPUExecutionProvider",), threads=1, batch_size=1,
                         skipped_reason="not measured in this test")
    return save_results(ResultsFile(environment=environment, results=(result,)), folder)


def test_bench_results_from_another_machine_setup_are_not_used(tmp_path):
    here = capture_environment(1)
    lines = []
    path = _bench_file(tmp_path, dict(here, cpu_model="Another CPU"))
    assert usable_bench(tmp_path, here, 1, lines.append) == (None, None)
    assert "cpu model differs: Another CPU vs" in lines[-1] and "measuring batch-1 latencies now" in lines[-1]
    path.unlink()
    _bench_file(tmp_path, here)
    bench, used = usable_bench(tmp_path, here, 1, lines.append)
    assert bench is not None and used is not None and lines[-1].startswith(f"Using batch-1 latencies from {used}")


def _row(batch_size=1, p50=1.0, runtime="onnxruntime", fmt="onnx", quantization="fp32", threads=1, size=100,
         skipped=False, device="cpu", model="tiny"):
    """The fields of a bench result that the lookups read."""
    return SimpleNamespace(model=model, format=fmt, quantization=quantization, runtime=runtime, device=device,
                           threads=threads, batch_size=batch_size, bytes=size, skipped=skipped,
                           per_row_ms={"p50": p50})


def test_bench_lookups_take_only_the_exact_case():
    bench = SimpleNamespace(results=(
        _row(p50=2.0), _row(p50=1.5),  # the best of two runs of the same case
        _row(p50=0.1, threads=2), _row(p50=0.1, device="cuda"), _row(p50=0.1, size=999),
        _row(p50=0.1, skipped=True), _row(p50=0.1, batch_size=8), _row(p50=0.1, quantization="fp16"),
        _row(p50=40.0, runtime="keras_predict", fmt="keras"), _row(p50=5.0, runtime="keras_predict", fmt="keras",
                                                                   batch_size=32),
        _row(p50=9.0, runtime="keras_predict", fmt="keras", batch_size=4),
    ))
    assert bench_p50(bench, "tiny", "onnx", "fp32", "onnxruntime", 1, 100) == 1.5
    assert bench_p50(bench, "tiny", "onnx", "fp32", "onnxruntime", 1, None) == 0.1  # size unknown: 999 B counts
    assert bench_p50(bench, "tiny", "tflite", "fp32", "litert", 1, 100) is None
    assert bench_p50(None, "tiny", "onnx", "fp32", "onnxruntime", 1, 100) is None
    assert bench_by_batch(bench, "tiny", 1, 100) == {"1": 40.0, "4": 9.0, "32": 5.0}
    assert bench_by_batch(None, "tiny", 1, 100) == {}


def test_rooflines_take_the_fastest_int8_variant_and_the_reports_figure():
    int8 = {"onnxruntime onnx/dynamic_int8": 0.002, "litert tflite/static_int8": 0.0005}
    r = model_rooflines(COST, HAND, 0.001, int8)
    assert r["fp32"]["measured_by"] == "onnxruntime onnx/fp32" and r["fp32"]["share_of_floor"] == pytest.approx(0.448)
    # static int8: int8 activations, 1,450 B -> 1.45e-4 ms; measured 5e-4 ms -> 29%.
    assert r["int8"]["measured_by"] == "litert tflite/static_int8" and r["int8"]["activation_precision"] == "int8"
    assert r["int8"]["share_of_floor"] == pytest.approx(0.29)
    assert model_rooflines(COST, HAND, 0.001, {})["int8"]["measured_ms"] is None
    rep = report_check("simple_cnn", {"keras_predict": 40.0}, {"1": 40.0})
    assert rep["quoted"] == "<5 ms per row" and rep["holds_here"] is False
    assert rep["this_machine_by_batch_ms"] == {"1": 40.0}
    other = report_check("tiny", {}, {})
    assert other["quoted"] is None and other["runtime"] == "keras_predict" and other["holds_here"] is None
