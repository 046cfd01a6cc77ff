"""The deployment decision table on a small hand-made results file, with hand-verified choices.

``tests/data/results_small.json`` (simple_cnn and alexnet_fashion, batch 1 and
32) was built from hand-picked raw per-call times, so every number below can be
checked by hand: e.g. simple_cnn tflite/dynamic_int8 at batch 1 has calls of
25, 25, 25, 26 and 200 us, so p50 = 0.025 ms and keras_predict's p50 is 40 ms
(1600x). Its ``warnings`` keep only the noise warnings (not "only 5 timed calls").
"""

from __future__ import annotations

from dataclasses import replace
import dataclasses
from pathlib import Path

import pytest

from infer_bench.present.decide import (ACCURACY_WINDOW_PTS, CONSTRAINTS, DECISION_HEADERS, NO_CHECK_NOTE,
                                        accuracy_status, check_index, decide, decision_rows)
from infer_bench.results import ResultsFile, load_results
from infer_bench.results.check import CheckReport, CheckResult, OutputComparison, RandomInputs

DATA = Path(__file__).parent / "data" / "results_small.json"
TEXT = {c.key: c.text for c in CONSTRAINTS}


def _entry(model, fmt, quant, delta, reasons=(), reference=0.91) -> CheckResult:
    """A checked artifact ``delta`` points from its Keras model's ``reference`` accuracy; FAIL when ``reasons``."""
    runtime = {"onnx": "onnxruntime", "tflite": "litert"}.get(fmt, "tf_function")  # what check runs each format in
    return CheckResult(model, fmt, quant, f"{model}/{model}_{quant}.{fmt}", runtime, reference,
                       reference + delta / 100, OutputComparison(10000, 0.01, 0.001, 0.01, 0.99), None,
                       tuple(reasons), 1.0)


# The check says: tflite static_int8 loses 1.5 points (FAIL); everything else is within 1 point.
# alexnet_fashion's onnx fp16 was not checked at all.
CHECK = CheckReport((
    _entry("simple_cnn", "onnx", "fp32", 0.0),
    _entry("simple_cnn", "onnx", "fp16", -0.01),
    _entry("simple_cnn", "onnx", "static_int8", -0.8),
    _entry("simple_cnn", "tflite", "dynamic_int8", -0.3),
    _entry("simple_cnn", "tflite", "static_int8", -1.5, ["accuracy drop 1.50 points > 1 point"]),
    _entry("alexnet_fashion", "onnx", "fp32", 0.0),
), {}, "exported", "2026-01-01T13:00:00+00:00", 1.0, RandomInputs(256, 1234, 0.0, 1.0), 1e-3)


@pytest.fixture(scope="module")
def results() -> ResultsFile:
    return load_results(DATA)


def _choices(decisions) -> dict:
    by_text = {v: k for k, v in TEXT.items()}
    return {(d.model, by_text[d.constraint]): d.choice for d in decisions}


def _one(decisions, model, key):
    (d,) = [d for d in decisions if d.model == model and d.constraint == TEXT[key]]
    return d


def test_fixture_loads_with_the_real_schema(results):
    assert DATA.stat().st_size < 20_000
    assert len(results.results) == 22
    assert sum(r.skipped for r in results.results) == 2
    r = next(r for r in results.results if r.model == "simple_cnn" and r.quantization == "dynamic_int8"
             and r.batch_size == 1 and not r.skipped)
    assert r.per_row_ms["p50"] == pytest.approx(0.025)
    assert r.stats.per_row_ms.p99 == pytest.approx(r.per_row_ms["p99"])  # stored summary = derived from raw


def test_choices_within_one_point(results):
    choices = _choices(decide(results, CHECK))
    assert choices == {
        # fastest overall is tflite static_int8 (0.020 ms) but it lost 1.5 points: next is dynamic_int8 (0.025)
        ("simple_cnn", "p50_b1"): "tflite/dynamic_int8 via litert (batch 1)",
        # p99: dynamic_int8 has one 200 us call (p99 0.193 ms); onnx fp16 (0.05696) beats onnx fp32 (0.0598)
        ("simple_cnn", "p99_b1"): "onnx/fp16 via onnxruntime (batch 1)",
        # 100,000 rows/s of static_int8 excluded; dynamic_int8 at batch 32: 32 / 0.384 ms = 83,333 rows/s
        ("simple_cnn", "throughput"): "tflite/dynamic_int8 via litert (batch 32)",
        # static_int8 230,000 B excluded; dynamic_int8 233,544 B
        ("simple_cnn", "smallest"): "tflite/dynamic_int8 via litert (batch 1)",
        # onnx static_int8: 0.5 + 0.2 = 0.7 ms beats tflite static (0.8, excluded anyway) and dynamic (0.9)
        ("simple_cnn", "cold_start"): "onnx/static_int8 via onnxruntime (batch 1)",
        ("simple_cnn", "cuda_p50_b1"): "not measured",
        ("alexnet_fashion", "p50_b1"): "onnx/fp32 via onnxruntime (batch 1)",
        ("alexnet_fashion", "p99_b1"): "onnx/fp32 via onnxruntime (batch 1)",
        ("alexnet_fashion", "throughput"): "onnx/fp32 via onnxruntime (batch 32)",
        ("alexnet_fashion", "smallest"): "onnx/fp32 via onnxruntime (batch 1)",
        ("alexnet_fashion", "cold_start"): "onnx/fp32 via onnxruntime (batch 1)",
        # onnx fp16 on CUDA is faster (0.3 ms) but the check did not cover it
        ("alexnet_fashion", "cuda_p50_b1"): "onnx/fp32 via onnxruntime (batch 1)",
    }


def test_numbers_and_words_behind_a_choice(results):
    decisions = decide(results, CHECK)
    d = _one(decisions, "simple_cnn", "p50_b1")
    assert d.numbers["value"] == pytest.approx(0.025)
    assert d.numbers["reference"] == pytest.approx(40.0)
    assert d.numbers["accuracy_delta_pts"] == pytest.approx(-0.3)
    assert d.why.startswith("0.025 ms/row p50, 1600.0x faster than model.predict; accuracy -0.30 pts; "
                            "faster but excluded: tflite/static_int8 via litert (batch 1, 0.02 ms/row p50; "
                            "check FAIL: accuracy drop 1.50 points > 1 point)")
    assert "p99 is 7.7x the median: noisy" in d.why  # the chosen result's own warning is passed on

    t = _one(decisions, "simple_cnn", "throughput")
    assert t.numbers["value"] == pytest.approx(32 * 3 / (3 * 384e-6))
    assert t.why.startswith("83,333 rows/s at batch 32, 125.0x faster than model.predict at its best batch (32)")

    s = _one(decisions, "simple_cnn", "smallest")
    assert s.why.startswith("0.23 MB, 11.7x smaller than the .keras file (2.74 MB)")

    c = _one(decisions, "simple_cnn", "cold_start")
    assert c.numbers["value"] == pytest.approx(0.7)
    assert c.why.startswith("0.7 ms (load 0.5 + first call 0.2), 350.0x faster than loading the .keras model")
    assert "excluded" not in c.why  # nothing faster was excluded

    g = _one(decisions, "alexnet_fashion", "cuda_p50_b1")
    assert g.numbers["value"] == pytest.approx(0.5)
    assert "6.0x faster than model.predict" in g.why  # keras_predict on CUDA: 3 ms
    assert "onnx/fp16 via onnxruntime (batch 1, 0.3 ms/row p50; not covered by the accuracy check)" in g.why


def test_without_a_check_only_fp32_is_chosen_and_it_says_so(results):
    decisions = decide(results, None)
    choices = _choices(decisions)
    assert choices[("simple_cnn", "p50_b1")] == "onnx/fp32 via onnxruntime (batch 1)"
    assert choices[("simple_cnn", "p99_b1")] == "onnx/fp32 via onnxruntime (batch 1)"
    assert choices[("simple_cnn", "throughput")] == "onnx/fp32 via onnxruntime (batch 32)"
    assert choices[("simple_cnn", "smallest")] == "onnx/fp32 via onnxruntime (batch 1)"  # 904,012 B < .keras
    assert choices[("simple_cnn", "cold_start")] == "onnx/fp32 via onnxruntime (batch 1)"  # 5.4 ms < 245 ms
    assert choices[("alexnet_fashion", "cuda_p50_b1")] == "onnx/fp32 via onnxruntime (batch 1)"
    measured = [d for d in decisions if d.choice not in ("not measured", "none")]
    assert measured and all(NO_CHECK_NOTE in d.why for d in measured)
    assert all("/fp32 via" in d.choice for d in measured)


def test_cuda_row_when_cuda_was_not_measured(results):
    d = _one(decide(results, CHECK), "simple_cnn", "cuda_p50_b1")
    assert d.why == ("not measured on this machine: CUDA unavailable: LiteRT's Python interpreter runs on CPU "
                     "only (it has no CUDA backend)")
    no_gpu = ResultsFile(environment={**results.environment, "gpu": None},
                         results=tuple(r for r in results.results if r.device == "cpu"))
    for d in decide(no_gpu, CHECK):
        if d.constraint == TEXT["cuda_p50_b1"]:
            assert (d.choice, d.why) == ("not measured", "not measured on this machine: no GPU")


def test_accuracy_rule_boundaries(results):
    r = next(r for r in results.results if r.model == "simple_cnn" and r.format == "onnx"
             and r.quantization == "static_int8")
    # 2% -> 1% is exactly -1.0 point in floating point (91% -> 90% is -1.0000000000000009).
    exact = _entry("simple_cnn", "onnx", "static_int8", -ACCURACY_WINDOW_PTS, reference=0.02)
    assert exact.accuracy_delta_pts == -ACCURACY_WINDOW_PTS
    index = {("simple_cnn", "onnx", "static_int8"): exact}
    assert accuracy_status(r, index)[0] is True  # exactly 1 point down still qualifies
    index[("simple_cnn", "onnx", "static_int8")] = _entry("simple_cnn", "onnx", "static_int8", -1.01)
    assert accuracy_status(r, index)[:2] == (False, "accuracy -1.01 pts")
    index[("simple_cnn", "onnx", "static_int8")] = _entry("simple_cnn", "onnx", "static_int8", 0.0, ["x"])
    assert accuracy_status(r, index)[:2] == (False, "check FAIL: x")
    assert accuracy_status(r, {})[:2] == (False, "not covered by the accuracy check")
    keras = next(r for r in results.results if r.format == "keras")
    assert accuracy_status(keras, {})[0] is True  # the reference itself always qualifies


def test_a_quantized_file_qualifies_only_in_the_runtime_it_was_checked_in(results):
    r = next(r for r in results.results if r.model == "simple_cnn" and r.format == "onnx"
             and r.quantization == "static_int8")
    index = {("simple_cnn", "onnx", "static_int8"): _entry("simple_cnn", "onnx", "static_int8", 0.0)}
    assert accuracy_status(r, index)[0] is True
    elsewhere = dataclasses.replace(r, runtime="openvino")
    assert accuracy_status(elsewhere, index)[:2] == (False, "checked in onnxruntime, not in openvino")
    fp32 = next(r for r in results.results if r.model == "simple_cnn" and r.format == "onnx" and r.quantization == "fp32")
    fp32_index = {("simple_cnn", "onnx", "fp32"): _entry("simple_cnn", "onnx", "fp32", 0.0)}
    assert accuracy_status(dataclasses.replace(fp32, runtime="openvino"), fp32_index)[0] is True  # float: same answers


def test_no_qualifying_artifact_says_why(results):
    failed_only = [r for r in results.results if r.model == "simple_cnn" and r.format == "tflite"
                   and r.quantization == "static_int8"]
    d = next(d for d in decide(failed_only, CHECK) if d.constraint == TEXT["p50_b1"])
    assert (d.choice, d.why) == ("none", "no artifact is within 1 point of Keras accuracy "
                                         "(check FAIL: accuracy drop 1.50 points > 1 point)")


def test_decision_rows_for_tabulate(results):
    from tabulate import tabulate

    decisions = decide(results, CHECK)
    rows = decision_rows(decisions)
    assert len(rows) == 2 * len(CONSTRAINTS) and all(len(row) == len(DECISION_HEADERS) for row in rows)
    assert rows[0][:3] == ["simple_cnn", TEXT["p50_b1"], "tflite/dynamic_int8 via litert (batch 1)"]
    assert "tflite/dynamic_int8" in tabulate(rows, headers=DECISION_HEADERS, tablefmt="github")
    assert decide([], CHECK) == []


def test_a_skipped_case_never_wins(results):
    # A skipped result never wins, even if it sorts first by name.
    rs = list(results.results)
    skipped = replace(rs[0], per_row_ms=None, per_call_ms=None, throughput_rows_per_s=None, calls=None,
                      raw_calls_ns=None, load_ms=None, first_inference_ms=None, skipped_reason="test skip")
    choices = _choices(decide([skipped] + rs[1:], CHECK))
    assert choices[("simple_cnn", "p50_b1")] == "tflite/dynamic_int8 via litert (batch 1)"


def test_check_index_keys_the_entries():
    index = check_index(CHECK)
    assert len(index) == len(CHECK.entries) == 6
    assert index[("simple_cnn", "tflite", "static_int8")].reasons == ("accuracy drop 1.50 points > 1 point",)
    assert ("alexnet_fashion", "onnx", "fp16") not in index
    assert check_index(None) is None
