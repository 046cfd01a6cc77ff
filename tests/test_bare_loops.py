"""scripts/bare_loops.py (issue 16's check): the ratio and qualification logic on hand-made numbers,
its inputs and errors on hand-made bench/check files, and the bare calls on a tiny real ONNX + TFLite pair."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from infer_bench.measure import InputRotation, Measurement
from infer_bench.results import BenchResult, ResultsFile, save_results
from infer_bench.results.check import CheckReport, CheckResult, OutputComparison, RandomInputs, save_check

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "bare_loops.py"
ROWS = np.random.default_rng(0).random((8, 28, 28, 1), dtype=np.float32)


@pytest.fixture(scope="module")
def bl():
    spec = importlib.util.spec_from_file_location("bare_loops", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["bare_loops"] = module  # dataclasses resolve their module through sys.modules
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("bare_loops", None)


# --- pure parts, hand-computed ------------------------------------------------------------------


def test_variant_stats_are_medians_over_rounds_and_the_overhead_is_the_median_difference(bl):
    s = bl.variant_stats([100_000, 110_000, 105_000], [101_000, 112_000, 106_500])
    assert s["bare_ms"] == pytest.approx(0.105) and s["harness_ms"] == pytest.approx(0.1065)
    # Differences per round: 1.0, 2.0 and 1.5 us; not 0.1065 - 0.105 of the medians by accident.
    assert s["overhead_us"] == pytest.approx(1.5)
    assert s["overhead_us_iqr"] == pytest.approx([1.25, 1.75])


def _row(label, bare_ms, qualifies=True, runtime="onnxruntime", overhead_us=1.0, iqr=(0.5, 1.5)):
    return {"label": label, "bare_ms": bare_ms, "qualifies": qualifies, "runtime": runtime, "overhead_us": overhead_us,
            "overhead_us_iqr": list(iqr)}


ROWS_ABC = [_row("a", 0.10, qualifies=False), _row("b", 0.12), _row("c", 0.13), _row("d", 0.15)]


def test_the_choice_is_compared_with_the_fastest_qualifying_variant_and_the_fastest_overall(bl):
    s = bl.model_summary(ROWS_ABC, "c")
    assert (s["fastest"], s["fastest_qualifying"]) == ("a", "b")
    assert s["ratio_vs_qualifying"] == pytest.approx(0.13 / 0.12)  # 1.083x
    assert s["ratio_vs_fastest"] == pytest.approx(1.3)
    assert s["within_target"] is True and s["chosen_bare_ms"] == 0.13
    assert bl.model_summary(ROWS_ABC, "b")["ratio_vs_qualifying"] == pytest.approx(1.0)
    far = bl.model_summary(ROWS_ABC, "d")  # 0.15 / 0.12 = 1.25 > 1.15
    assert far["ratio_vs_qualifying"] == pytest.approx(1.25) and far["within_target"] is False


def test_no_choice_or_nothing_qualifying_gives_no_ratio(bl):
    none = bl.model_summary(ROWS_ABC, None)
    assert none["ratio_vs_qualifying"] is None and none["within_target"] is None and none["fastest"] == "a"
    lone = bl.model_summary([_row("a", 0.1, qualifies=False)], "a")
    assert lone["fastest_qualifying"] is None and lone["ratio_vs_fastest"] == 1.0 and lone["within_target"] is None
    with pytest.raises(ValueError):
        bl.model_summary([], "a")


def test_overhead_per_runtime_counts_only_the_variants_whose_rounds_resolve_it(bl):
    rows = [_row("x", 1, runtime="openvino", overhead_us=u, iqr=(u - 1, u + 1)) for u in (0.5, 3.5, 1.0)]
    rows.append(_row("slow", 5, runtime="openvino", overhead_us=-900.0, iqr=(-1200, 1100)))  # noise, not overhead
    rows.append(_row("y", 1, overhead_us=2.5, iqr=(2, 3)))
    rows.append(_row("z", 1, runtime="litert", overhead_us=40.0, iqr=(-300, 300)))
    out = bl.overhead_by_runtime(rows)
    assert out["openvino"] == {"variants": 4, "resolved": 3, "median_us": 1.0, "max_us": 3.5,
                               "median_all_us": 0.75, "within_target": True}
    assert out["onnxruntime"]["within_target"] is False
    assert out["litert"]["resolved"] == 0 and out["litert"]["within_target"] is None


# --- hand-made bench and check files ------------------------------------------------------------


def _result(fmt, quant, runtime, us, batch=1, skipped=False):
    meta = dict(model="simple_cnn", format=fmt, quantization=quant)
    if skipped:
        return BenchResult.skipped_case(**meta, runtime=runtime, device="cpu", batch_size=batch, reason="no bf16 here")
    session = SimpleNamespace(runtime=runtime, device="cpu", providers=(), threads=2)
    return BenchResult.from_measurement(Measurement(batch, [int(us * 1000)] * 5, 0), session, **meta)


def _entry(fmt, quant, runtime, delta, reasons=()):
    return CheckResult("simple_cnn", fmt, quant, f"simple_cnn_{quant}.{fmt}", runtime, 0.91, 0.91 + delta / 100,
                       OutputComparison(100, 0.01, 0.001, 0.01, 0.99), None, tuple(reasons), 1.0)


BENCH = ResultsFile({}, (
    _result("keras", "fp32", "keras_predict", 40_000),
    _result("onnx", "fp32", "onnxruntime", 50),
    _result("onnx", "fp32", "openvino", 30),
    _result("onnx", "bf16", "openvino", 10, skipped=True),
    _result("tflite", "static_int8", "litert", 20),  # fastest, but it failed the check
    _result("tflite", "fp32", "litert", 40),
    _result("onnx", "fp32", "onnxruntime", 8, batch=8),
), created="2026-12-01T10:00:00+00:00")
CHECK = CheckReport((_entry("onnx", "fp32", "onnxruntime", 0.0), _entry("tflite", "fp32", "litert", 0.0),
                     _entry("tflite", "static_int8", "litert", -1.5, ["accuracy drop 1.50 points > 1 point"])),
                    {}, "exported", "2026-12-01T10:00:00+00:00", 1.0, RandomInputs(256, 1234, 0.0, 1.0), 1e-3)


def test_batch1_results_and_the_decision_tables_choice(bl):
    b1 = bl.batch1_results(BENCH)
    assert sorted(label for _, label in b1) == ["onnx/fp32 via onnxruntime", "onnx/fp32 via openvino",
                                                "tflite/fp32 via litert", "tflite/static_int8 via litert"]
    assert b1[("simple_cnn", "onnx/fp32 via onnxruntime")].batch_size == 1
    # static int8 (0.020 ms) failed the check; the fp32 ONNX file in OpenVINO (0.030 ms) is the choice.
    assert bl.chosen_labels(BENCH, CHECK) == {"simple_cnn": "onnx/fp32 via openvino"}


def test_missing_folders_files_and_models_are_clear_errors(bl, tmp_path, capsys):
    def fails(*args) -> str:
        assert bl.main(["--exported", str(tmp_path), *args]) == 2
        return capsys.readouterr().err

    assert "is not a folder" in fails("--results-dir", str(tmp_path / "nope"))
    results = tmp_path / "results"
    results.mkdir()
    assert "has no bench-*.json" in fails("--results-dir", str(results))
    save_results(BENCH, results)
    err = fails("--results-dir", str(results))
    assert "has no check-*.json" in err and "Fix: run `infer-bench check" in err
    save_check(CHECK, results)
    err = fails("--results-dir", str(results), "--models", "resnet")
    assert "no batch-1 CPU results of resnet" in err and "simple_cnn" in err
    (tmp_path / "out.json").write_text("{}")
    assert "already exists" in fails("--results-dir", str(results), "--json", str(tmp_path / "out.json"))


# --- a tiny real model ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A 2-layer CNN with random weights as ONNX and TFLite files (as tests/test_sweep.py's ``tiny``)."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(4, 3, activation="relu"),
                              keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])
    model(ROWS[:1])
    d = tmp_path_factory.mktemp("bare")
    paths = SimpleNamespace(onnx=d / "tiny.onnx", tflite=d / "tiny.tflite")
    model.export(str(paths.onnx), format="onnx", verbose=False)
    model.export(str(d / "saved"), format="tf_saved_model", verbose=False)
    paths.tflite.write_bytes(tf.lite.TFLiteConverter.from_saved_model(str(d / "saved")).convert())
    return paths


def test_bare_calls_compute_what_the_sessions_compute_and_are_timed_round_robin(bl, tiny):
    rotation = InputRotation(ROWS)
    variants = [bl.make_variant("onnx/fp32 via onnxruntime", "onnxruntime", tiny.onnx, rotation, 1),
                bl.make_variant("tflite/fp32 via litert", "litert", tiny.tflite, rotation, 1),
                bl.make_variant("onnx/fp32 via openvino", "openvino", tiny.onnx, rotation, 1, "fp32")]
    try:
        expected = variants[0].session.run(rotation.first(1))
        for v in variants:
            bare = v.call(v.bare_input)
            out = bare[0] if isinstance(bare, list) else bare  # ONNX Runtime returns a list of outputs
            np.testing.assert_allclose(np.asarray(out, np.float32).reshape(1, 10), expected, atol=1e-5)
            # Each bare call feeds the image it is given (OpenVINO's writes it into the request's input).
            other = np.ascontiguousarray(ROWS[1:2], dtype=np.asarray(v.bare_input).dtype)
            fed = v.call(other)
            fed = fed[0] if isinstance(fed, list) else fed
            np.testing.assert_allclose(np.asarray(fed, np.float32).reshape(1, 10),
                                       variants[0].session.run(ROWS[1:2]), atol=1e-5)
            bl.calibrate(v, block_s=0.002)
            assert v.calls >= bl.MIN_BLOCK_CALLS
        bl.time_round_robin(variants, 3)
        for v in variants:
            assert len(v.bare_ns) == len(v.harness_ns) == 3 and min(v.bare_ns + v.harness_ns) > 0
        rows = [{"label": v.label, "qualifies": True, **bl.variant_stats(v.bare_ns, v.harness_ns)} for v in variants]
        summary = bl.model_summary(rows, "tflite/fp32 via litert")
        assert summary["ratio_vs_qualifying"] >= 1.0 and summary["ratio_vs_qualifying"] == summary["ratio_vs_fastest"]
    finally:
        for v in variants:
            v.session.close()
