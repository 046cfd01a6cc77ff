"""The decision table's LoadGen rows and the report's list of scenario records, from hand-built records.

No LoadGen run: every ``ScenarioRecord`` is built here from ``LoadGenSummary`` and
``ScenarioRun`` values as ``scenario.runner`` would fill them, so every figure below is
checked by hand. The bench side is ``tests/data/results_small.json``: simple_cnn onnx fp32
in ONNX Runtime at batch 1 has p50 0.05 ms (1000/p50 = 20,000 per second, 2 threads);
alexnet_fashion onnx fp32 has 5 ms (200 per second).
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from pathlib import Path

import pytest

from infer_bench.errors import InferBenchError
from infer_bench.present.decide import NO_CHECK_NOTE, decide
from infer_bench.present.report import write_report
from infer_bench.present.scenario import load_scenarios, record_line, scenario_section
from infer_bench.present.scenario_decide import (ScenarioFile, ScenarioInputs, check_record, merge_by_model,
                                                 ran_precision, rows_note, scenario_decisions, split_by_machine)
from infer_bench.present.sections import decision_section
from infer_bench.results import load_results
from infer_bench.results.check import CheckReport, CheckResult, OutputComparison, RandomInputs
from infer_bench.results.scenario import ScenarioRecord, ScenarioRun
from infer_bench.scenario.summary import LoadGenSummary
from infer_bench.scenario.sut import PoolConfig

DATA = Path(__file__).parent / "data" / "results_small.json"
BENCH = load_results(DATA)
ENV = BENCH.environment
BATCHED = PoolConfig(workers=2, threads=1, max_batch=8, max_wait_ms=2.0)  # label "2x1 b8/2ms"
PLAIN = PoolConfig(workers=1, threads=2)
FAIL = "accuracy drop 1.50 points > 1 point"


def _checked(model, fmt, quant, runtime, delta, reasons=()) -> CheckResult:
    return CheckResult(model, fmt, quant, f"{model}_{quant}.{fmt}", runtime, 0.91, 0.91 + delta / 100,
                       OutputComparison(10000, 0.01, 0.001, 0.01, 0.99), None, tuple(reasons), 1.0)


# onnx fp32 and fp16 pass; tflite static_int8 (run in litert) fails, 1.5 points lost.
CHECK = CheckReport((_checked("simple_cnn", "onnx", "fp32", "onnxruntime", 0.0),
                     _checked("simple_cnn", "onnx", "fp16", "onnxruntime", -0.2),
                     _checked("simple_cnn", "tflite", "static_int8", "litert", -1.5, [FAIL])),
                    {}, "exported", "2026-01-01T13:00:00+00:00", 1.0, RandomInputs(256, 1234, 0.0, 1.0), 1e-3)


def _target(model="simple_cnn", fmt="onnx", quant="fp32", runtime="onnxruntime", threads=(1, 1), precision=None):
    return {"model": model, "format": fmt, "quantization": quant, "artifact": f"/x/{model}_{quant}.{fmt}",
            "runtime": runtime, "device": "cpu", "data": "fashion_mnist test",
            "executed": {"threads": list(threads), "providers": [], "precision": precision}}


def _run(config, qps, valid, p99=None, samples_per_s=None) -> ScenarioRun:
    scenario = "Offline" if samples_per_s is not None else "Server"
    figures = {"samples_per_second": samples_per_s} if samples_per_s is not None else {}
    summary = LoadGenSummary(scenario, "VALID" if valid else "INVALID", figures=figures,
                             latency_ms={} if p99 is None else {"p50": p99 / 3, "p99": p99})
    return ScenarioRun(config, summary, "logs/run", 2.5, {"mean_batch": 1.0}, qps)


def _search(created, target, slo, runs, winner, env=ENV) -> ScenarioRecord:
    """A ``--find-max-qps`` record: ``runs`` as (config, qps, valid, p99); ``winner``: (config, qps) or None."""
    configs = sorted({r[0] for r in runs}, key=lambda c: c.label)
    search = {"slo_ms": slo, "loadgen_runs": len(runs), "seconds": 30.0,
              "configs": [{"config": c.to_dict(), "label": c.label, "p50_ms": 0.1, "naive_qps": 1.0,
                           "executed_threads": [c.threads] * c.workers, "best_qps": None, "stopped": "converged",
                           "probes": []} for c in configs],
              "winner": None if winner is None else {"config": winner[0].to_dict(), "label": winner[0].label,
                                                     "qps": winner[1], "naive_qps": 1.0}}
    return ScenarioRecord(created, env, target, "server", {"slo_ms": slo}, "logs",
                          tuple(_run(*r) for r in runs), search)


def _offline(created, target, samples_per_s, valid, batch=32, env=ENV) -> ScenarioRecord:
    return ScenarioRecord(created, env, target, "offline", {}, "logs",
                          (_run(PoolConfig(1, target["executed"]["threads"][0], batch), 100.0, valid,
                                samples_per_s=samples_per_s),))


def _files(*records) -> list[ScenarioFile]:
    return [ScenarioFile(Path(f"scenario-2026120{k}-100000.json"), r) for k, r in enumerate(records, 1)]


def _by_text(decisions) -> dict:
    return {(d.model, d.constraint): d for d in decisions}


ONNX = _search("2026-12-02T10:00:00+00:00", _target(), 10.0,
               [(BATCHED, 6000.0, True, 4.0), (BATCHED, 9000.0, True, 7.5), (BATCHED, 9500.0, False, 12.0)],
               (BATCHED, 9000.0))
# More QPS, but the check failed this artifact: excluded, and the row says so.
INT8 = _search("2026-12-02T10:05:00+00:00", _target(fmt="tflite", quant="static_int8", runtime="litert", threads=[2]),
               10.0, [(PLAIN, 12000.0, True, 8.0)], (PLAIN, 12000.0))
FP16 = _search("2026-12-02T10:10:00+00:00", _target(quant="fp16", threads=[2]), 10.0,
               [(PLAIN, 8000.0, True, 6.0)], (PLAIN, 8000.0))
TIGHT = _search("2026-12-02T10:15:00+00:00", _target(), 2.0, [(PLAIN, 500.0, False, 3.0)], None)
OFFLINE = _offline("2026-12-02T10:20:00+00:00", _target(threads=[2]), 30000.0, True)
OFFLINE_INVALID = _offline("2026-12-02T10:25:00+00:00", _target(threads=[2]), 50000.0, False)


def test_most_valid_qps_per_bound_within_accuracy_and_most_offline_rows():
    inputs = split_by_machine(_files(ONNX, INT8, FP16, TIGHT, OFFLINE, OFFLINE_INVALID), ENV)
    decisions = scenario_decisions(inputs, BENCH, CHECK)
    # Lowest bound first, then offline.
    assert [d.constraint for d in decisions] == ["most requests per second at p99 <= 2 ms, within 1 point",
                                                 "most requests per second at p99 <= 10 ms, within 1 point",
                                                 "most rows per second, offline, within 1 point"]
    tight, qps, offline = decisions
    assert (tight.choice, tight.why) == ("none",
                                         "no VALID configuration in 1 search(es): `scenario-20261204-100000.json`")
    assert qps.choice == "onnx/fp32 via onnxruntime, 2 workers x 1 thread, batches of up to 8 within 2 ms"
    # 9,000 QPS against 1000 / 0.05 ms = 20,000/s: 20000 / 9000 = 2.2x slower.
    assert qps.why == ("9,000 QPS with a VALID LoadGen result at p99 <= 10 ms; p99 7.50 ms at that rate; best of 3 "
                       "search(es), 2.2x slower than the naive 1000/p50 at batch 1 from bench (20,000/s, 2 threads); "
                       "accuracy +0.00 pts; more but excluded: tflite/static_int8 via litert, 1 worker x 2 threads, "
                       f"no batching (12,000 QPS; check FAIL: {FAIL}); from `scenario-20261201-100000.json`")
    assert qps.numbers["value"] == 9000.0 and qps.numbers["naive_qps"] == pytest.approx(20000.0)
    assert (qps.numbers["workers"], qps.numbers["threads"], qps.numbers["max_batch"]) == (2, [1, 1], 8)
    assert qps.numbers["p99_ms"] == 7.5 and qps.numbers["slo_ms"] == 10.0
    # The INVALID 50,000 rows/s run never counts; 30,000 / 20,000 = 1.5x.
    assert offline.choice == "onnx/fp32 via onnxruntime, 2 threads, batches of 32"
    assert offline.why.startswith("30,000 rows/s, VALID offline run, 1.5x faster than the naive 1000/p50 at batch 1")


def test_a_winner_no_valid_run_backs_is_not_a_result():
    # The search says 9,000 QPS won, but the record's run at 9,000 QPS was INVALID.
    broken = _search("2026-12-02T10:00:00+00:00", _target(), 10.0, [(BATCHED, 9000.0, False, 12.0)],
                     (BATCHED, 9000.0))
    (d,) = scenario_decisions(split_by_machine(_files(broken), ENV), BENCH, CHECK)
    assert d.choice == "none" and d.why.startswith("no VALID configuration in 1 search(es)")


def test_labels_say_what_ran_not_what_was_asked():
    # Asked for 2 threads per worker; the sessions ran 1 each (the configuration's executed_threads).
    asked = PoolConfig(workers=2, threads=2)
    record = _search("2026-12-02T10:00:00+00:00", _target(threads=[1, 1]), 10.0, [(asked, 700.0, True, 5.0)],
                     (asked, 700.0))
    (entry,) = record.search["configs"]
    record = dataclasses.replace(record, search={**record.search, "configs": [{**entry, "executed_threads": [1, 1]}]})
    (d,) = scenario_decisions(split_by_machine(_files(record), ENV), BENCH, CHECK)
    assert d.choice == "onnx/fp32 via onnxruntime, 2 workers x 1 thread, no batching"
    assert d.numbers["threads"] == [1, 1]
    # An older search that did not record what its winner ran (its target describes the first
    # configuration searched) cannot be labelled: refused, so the report leaves it out.
    old = dataclasses.replace(record, search={**record.search, "configs": [entry | {"executed_threads": None}]})
    with pytest.raises(InferBenchError, match=r"does not record what the winning configuration \(2x2\) ran"):
        check_record(ScenarioFile(Path("scenario-old.json"), old))
    # An fp32 file OpenVINO ran in bf16 is labelled bf16; an int8 IR reported as "int8" keeps its name.
    assert ran_precision(_target(fmt="openvino", quant="fp32", runtime="openvino", precision="bf16")) == "bf16"
    assert ran_precision(_target(fmt="openvino", quant="static_int8", runtime="openvino", precision="int8")) \
        == "static_int8"
    assert ran_precision(_target(precision=None)) == "fp32"


def test_without_a_check_only_fp32_and_it_says_so():
    inputs = split_by_machine(_files(ONNX, INT8), ENV)
    (d,) = scenario_decisions(inputs, BENCH, None)
    assert d.choice.startswith("onnx/fp32 via onnxruntime")
    assert NO_CHECK_NOTE in d.why and "more but excluded: tflite/static_int8" in d.why and "no accuracy check" in d.why
    (only_int8,) = scenario_decisions(split_by_machine(_files(INT8), ENV), BENCH, None)
    assert (only_int8.choice, only_int8.why) == ("none", f"no fp32 artifact measured; {NO_CHECK_NOTE}")


def test_bench_naive_estimate_only_when_bench_measured_it():
    # alexnet_fashion onnx fp32: bench p50 5 ms -> 200/s; 150 QPS: 200 / 150 = 1.3x slower.
    alex = _search("2026-12-02T10:00:00+00:00", _target(model="alexnet_fashion", threads=[2]), 50.0,
                   [(PLAIN, 150.0, True, 30.0)], (PLAIN, 150.0))
    # fp16 of alexnet_fashion was benched on CUDA only: nothing at batch 1 on the CPU to compare with.
    fp16 = _offline("2026-12-02T10:01:00+00:00", _target(model="alexnet_fashion", quant="fp16", threads=[2]),
                    400.0, True)
    check = CheckReport((_checked("alexnet_fashion", "onnx", "fp32", "onnxruntime", 0.0),
                         _checked("alexnet_fashion", "onnx", "fp16", "onnxruntime", -0.1)),
                        {}, "exported", "2026-01-01T13:00:00+00:00", 1.0, RandomInputs(256, 1234, 0.0, 1.0), 1e-3)
    qps, offline = scenario_decisions(split_by_machine(_files(alex, fp16), ENV), BENCH, check)
    assert "1.3x slower than the naive 1000/p50 at batch 1 from bench (200/s, 2 threads)" in qps.why
    assert "bench did not measure onnx/fp16 via onnxruntime at batch 1" in offline.why
    assert "naive_qps" not in offline.numbers and offline.numbers["accuracy_delta_pts"] == pytest.approx(-0.1)


def test_another_machine_setup_is_left_out_and_said():
    faster = _search("2026-12-01T09:00:00+00:00", _target(), 10.0, [(BATCHED, 50000.0, True, 3.0)],
                     (BATCHED, 50000.0), env={**ENV, "cpu_model": "Another CPU"})
    inputs = split_by_machine(_files(faster, ONNX), ENV,
                              unreadable=[(Path("scenario-x.json"), "could not be used: X")])
    assert [f.record for f in inputs.usable] == [ONNX]
    assert [p.name for p, _ in inputs.left_out] == ["scenario-x.json", "scenario-20261201-100000.json"]
    (d,) = scenario_decisions(inputs, BENCH, CHECK)
    assert d.numbers["value"] == 9000.0
    note = rows_note(inputs)
    assert "among the 1 scenario record(s) measured on this machine setup" in note
    assert ("`scenario-20261201-100000.json` (measured on another machine setup than the benchmark results: "
            "cpu model differs: ") in note
    assert "run `infer-bench scenario --find-max-qps" in rows_note(ScenarioInputs())
    with pytest.raises(InferBenchError, match="not a dict"):
        split_by_machine([], None)


def test_rows_follow_their_model_in_the_table():
    bench_rows = decide(BENCH, CHECK)
    extra = scenario_decisions(split_by_machine(_files(ONNX), ENV), BENCH, CHECK)
    merged = merge_by_model(bench_rows, extra)
    models = [d.model for d in merged]
    assert models == sorted(models, key=["simple_cnn", "alexnet_fashion"].index)  # grouped per model
    last_simple = max(i for i, d in enumerate(merged) if d.model == "simple_cnn")
    assert merged[last_simple] is extra[0] and len(merged) == len(bench_rows) + 1


def test_a_record_the_rows_cannot_read_is_refused():
    bad = dataclasses.replace(ONNX, search={**ONNX.search, "winner": {"label": "2x1"}})  # no config, no qps
    with pytest.raises(InferBenchError, match="lacks what the decision rows read"):
        check_record(ScenarioFile(Path("scenario-1.json"), bad))
    no_threads = dataclasses.replace(OFFLINE, target={**OFFLINE.target, "executed": {"threads": []}})
    with pytest.raises(InferBenchError, match="names no executed threads"):
        check_record(ScenarioFile(Path("scenario-2.json"), no_threads))


def test_sections_from_the_files_on_disk(tmp_path):
    results = tmp_path / "results"
    ONNX.save(results)
    OFFLINE.save(results)
    other = dataclasses.replace(FP16, created="2026-12-03T10:00:00+00:00",
                                environment={**ENV, "cpu_model": "Another CPU"})
    newest = other.save(results)
    (results / "scenario-20261130-100000.json").write_text("{not json")
    logged = []
    inputs = load_scenarios(results, ENV, logged.append)
    assert [f.record.created for f in inputs.usable] == [ONNX.created, OFFLINE.created]
    assert len(inputs.left_out) == 2 and any("scenario-20261130-100000.json" in m for m in logged)

    decision = "\n".join(decision_section(BENCH, CHECK, inputs))
    assert re.search(r"\| simple_cnn +\| most requests per second at p99 <= 10 ms, within 1 point +\| "
                     r"onnx/fp32 via onnxruntime, 2 workers x 1 thread", decision)
    assert "most rows per second, offline" in decision and "Left out: `scenario-20261130-100000.json`" in decision

    lines = scenario_section(other, newest, None, BENCH, None, tmp_path, inputs)
    section = "\n".join(lines)
    assert record_line(inputs.usable[0]) in lines
    assert ("simple_cnn onnx/fp32 (`simple_cnn_fp32.onnx`) via onnxruntime on cpu (threads per session: 1+1), "
            "server (search): VALID; most QPS at p99 <= 10 ms: 9,000.0 with 2 workers x 1 thread, batches of up to 8 "
            "within 2 ms") in section
    assert "offline: VALID; 30,000.0 samples/s (batches of 32)" in section
    # The newest record, from another machine setup, is said once, in its own block; the damaged file is listed.
    assert section.count(newest.name) == 1 and "another machine setup" in section and "From `" not in section
    assert "- `scenario-20261130-100000.json`: could not be used: Cannot read scenario file" in section


def test_report_has_the_rows_and_the_list(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    shutil.copy(DATA, results / "bench-20260101-120000.json")
    (results / "check-20260101-130000.json").write_text(json.dumps(CHECK.to_dict()))
    ONNX.save(results)
    path = OFFLINE.save(results)
    text = write_report(tmp_path / "no-export", results, tmp_path / "report", log=lambda m: None).read_text()
    decisions = text.split("## Deployment decisions")[1].split("\n## ")[0]
    assert "most requests per second at p99 <= 10 ms" in decisions and "2.2x slower than the naive" in decisions
    section = text.split("## Deployment scenarios (MLPerf LoadGen)")[1].split("\n## ")[0]
    assert "2 LoadGen record(s) measured on this machine setup" in section and f"From `{path}` (offline" in section
