"""``infer-bench scenario``: LoadGen runs of a tiny real ONNX model on real Fashion-MNIST test images.

The model (Reshape -> MatMul -> Softmax on 28x28x1) is written with ``onnx.helper`` once per
module, so no test imports TensorFlow. LoadGen runs last a fraction of a second each. Slow
sessions wrap the real one with a fixed sleep: the latency LoadGen measures can then only be
above it, and a queue builds up for dynamic batching to group.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from infer_bench.errors import InferBenchError
from infer_bench.inputs import InputSpec
from infer_bench.plans import ScenarioPlan
from infer_bench.results.scenario import ScenarioRecord, load_scenario
from infer_bench.runtimes import LoadOptions, get_runtime
from infer_bench.scenario import (PoolConfig, Probe, ScenarioSettings, config_grid, next_qps, parse_summary,
                                  search_max_qps)
from infer_bench.scenario.loadgen_run import run_loadgen
from infer_bench.scenario.qsl import sample_library
from infer_bench.scenario.runner import run_once
from infer_bench.scenario.sut import ServerSUT
from infer_bench.scenario.target import Target, resolve_target

ROWS = 64
SHORT_MS = 300  # LoadGen's minimum duration in these tests


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, data_root):
    """The tiny model's .onnx path, a target serving it, one ORT session and its sample library."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = np.random.default_rng(0).normal(0, 0.05, (784, 10)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Reshape", ["x", "shape"], ["flat"]), helper.make_node("MatMul", ["flat", "w"], ["logits"]),
         helper.make_node("Softmax", ["logits"], ["y"], axis=-1)], "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 28, 28, 1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 10])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(np.array([-1, 784], np.int64), "shape")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path = tmp_path_factory.mktemp("tiny") / "tiny_fashion.onnx"
    onnx.save(model, path)
    plan = ScenarioPlan(artifact=path, runtime="onnxruntime", threads=1)
    target = resolve_target(plan)
    session = get_runtime("onnxruntime").load(path, LoadOptions(threads=1))
    samples = sample_library(InputSpec("fashion_mnist"), (None, 28, 28, 1), data_root, rows=ROWS)
    return path, target, session, samples


class Slow:
    """A real session that sleeps ``delay_s`` before each call; ``fail_after``: raise on that call."""

    def __init__(self, session, delay_s: float, fail_after: int | None = None):
        self.session, self.delay_s, self.fail_after, self.calls = session, delay_s, fail_after, 0
        self.input_shape = session.input_shape

    def run(self, batch):
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise RuntimeError("injected failure")
        time.sleep(self.delay_s)
        return self.session.run(batch)


def short(scenario: str, **kw) -> ScenarioSettings:
    return ScenarioSettings(scenario, min_duration_ms=SHORT_MS, **kw)


def test_single_stream_is_valid_with_early_stopping_estimates(tiny, tmp_path):
    _, target, session, samples = tiny
    run = run_once(target, [session], samples, PoolConfig(1, 1), short("single-stream"), tmp_path / "logs")
    s = run.summary
    assert s.valid and s.scenario == "SingleStream" and s.target_percentile == "p90"
    assert s.queries >= 662  # the short preset asks for what a p99 estimate needs
    assert set(s.early_stopping_ms) == {"p90", "p99"}
    assert s.latency_ms["p50"] <= s.early_stopping_ms["p90"] <= s.early_stopping_ms["p99"] <= s.latency_ms["max"]
    assert (tmp_path / "logs" / "mlperf_log_summary.txt").is_file()
    assert (tmp_path / "logs" / "mlperf_log_detail.txt").is_file()
    assert run.batches["batches"] == s.queries  # one batch of one per query
    # The record round-trips through the store.
    record = ScenarioRecord("2026-12-01T10:00:00+00:00", {}, target.describe([session], samples.label),
                            "single-stream", short("single-stream").to_dict(), str(tmp_path), (run,))
    path = record.save(tmp_path)
    back = load_scenario(path)
    assert back.runs[0].summary == s and back.target["executed"]["threads"] == [1]


def test_injected_delay_is_the_latency_floor(tiny, tmp_path):
    _, target, session, samples = tiny
    run = run_once(target, [Slow(session, 0.004)], samples, PoolConfig(1, 1),
                   short("single-stream", min_query_count=50), tmp_path / "logs")
    assert run.summary.latency_ms["min"] >= 4.0  # every query slept 4 ms first


def test_server_answers_every_query_and_batches_a_burst(tiny, tmp_path):
    _, target, session, samples = tiny
    config = PoolConfig(workers=1, threads=1, max_batch=8, max_wait_ms=1.0)
    # 2 ms per call at 1,000 QPS: the queue grows, so the worker takes several queries at once.
    run = run_once(target, [Slow(session, 0.002)], samples, config,
                   short("server", target_qps=1000.0, min_query_count=200, slo_ms=50.0), tmp_path / "logs")
    by_size = {int(k): v for k, v in run.batches["by_size"].items()}
    assert sum(k * v for k, v in by_size.items()) == run.summary.queries  # every sample answered once
    assert max(by_size) > 1 and run.batches["mean_batch"] > 1


def test_slow_server_is_reported_invalid(tiny, tmp_path):
    _, target, session, samples = tiny
    run = run_once(target, [Slow(session, 0.02)], samples, PoolConfig(),
                   short("server", target_qps=100.0, min_query_count=20, slo_ms=5.0), tmp_path / "logs")
    assert not run.valid and run.summary.validity == "INVALID"
    assert run.summary.constraints["performance_constraints"] is False
    assert run.summary.latency_ms["p99"] > 5.0


def test_runtime_error_ends_the_run_with_a_clear_message(tiny, tmp_path):
    _, target, session, samples = tiny
    import mlperf_loadgen as lg

    sut = ServerSUT(lg, [Slow(session, 0.0, fail_after=5), Slow(session, 0.0, fail_after=5)], samples,
                    "onnxruntime", PoolConfig(workers=2))
    try:
        with pytest.raises(InferBenchError, match="onnxruntime failed while answering.*injected failure"):
            run_loadgen(sut, samples, short("server", target_qps=200.0, min_query_count=20), tmp_path / "logs")
    finally:
        sut.close()


REAL_SERVER_SUMMARY = """================================================
MLPerf Results Summary
================================================
SUT name : PySUT
Scenario : Server
Mode     : PerformanceOnly
Completed samples per second    : 491.48
Result is : INVALID
  Performance constraints satisfied : Yes
  Min duration satisfied : Yes
  Min queries satisfied : Yes
  Early stopping satisfied: NO
Recommendations:
Early Stopping Result:
 * Run unsuccessful.
 * Processed 985 queries.
 * Would need to run at least 322 more queries,
 with the run being successful if every additional
 query were under latency.

================================================
Additional Stats
================================================
Scheduled samples per second : 491.82
Min latency (ns)                : 244634
Max latency (ns)                : 20497303
Mean latency (ns)               : 1887645
50.00 percentile latency (ns)   : 1474192
99.00 percentile latency (ns)   : 6841221
99.90 percentile latency (ns)   : 12000000

No warnings encountered during test.

No errors encountered during test.
"""


def test_summary_parser_on_a_real_server_log():
    s = parse_summary(REAL_SERVER_SUMMARY)
    assert (s.scenario, s.validity, s.valid) == ("Server", "INVALID", False)
    assert s.constraints == {"performance_constraints": True, "min_duration": True, "min_queries": True,
                             "early_stopping": False}
    assert s.figures == {"completed_samples_per_second": 491.48, "scheduled_samples_per_second": 491.82}
    assert s.latency_ms == {"min": 0.244634, "max": 20.497303, "mean": 1.887645, "p50": 1.474192, "p99": 6.841221,
                            "p99.9": 12.0}
    assert s.early_stopping_ms == {} and "322 more queries" in s.early_stopping_note
    assert s.throughput == 491.48 and s.errors == 0


def test_summary_parser_refuses_other_text():
    with pytest.raises(InferBenchError, match="not a LoadGen summary"):
        parse_summary("hello")


def test_search_converges_on_a_known_capacity():
    capacity = 137.0
    out = search_max_qps(lambda q: q <= capacity, start_qps=50.0, max_runs=12)
    assert out.stopped == "converged"
    assert capacity / 1.05 <= out.best_qps <= capacity
    # 50 -> 100 -> 200 (INVALID), then halving the 100..200 bracket: 150 X, 125 ok, 137.5 X, 131.25 ok.
    assert [p.qps for p in out.probes] == [50.0, 100.0, 200.0, 150.0, 125.0, 137.5, 131.25]


def test_search_bounds_prunes_and_gives_up():
    assert len(search_max_qps(lambda q: q <= 137.0, start_qps=50.0, max_runs=3).probes) == 3
    losing = search_max_qps(lambda q: q <= 137.0, start_qps=50.0, must_beat=200.0)
    assert losing.stopped == "below the best so far" and len(losing.probes) == 1 and losing.best_qps is None
    nothing = search_max_qps(lambda q: False, start_qps=8.0, min_qps=1.0)
    assert nothing.best_qps is None and nothing.stopped == "nothing valid"
    assert [p.qps for p in nothing.probes] == [8.0, 4.0, 2.0, 1.0]
    assert next_qps([Probe(100, True), Probe(104, False)], 50.0) == (None, "converged")


def test_config_grid_splits_the_cores():
    labels = [c.label for c in config_grid(2, slo_ms=10.0)]
    assert labels == ["1x1", "1x1 b8/2ms", "1x2", "1x2 b8/2ms", "2x1", "2x1 b8/2ms"]
    assert [c.label for c in config_grid(2, 10.0, batching=False)] == ["1x1", "1x2", "2x1"]


def test_refusals(tiny, tmp_path):
    path = tiny[0]
    cases = [
        (dict(artifact=path, scenario="single-stream", slo_ms=10.0), "Server latency bound"),
        (dict(artifact=path, scenario="server", find_max_qps=True), "--slo-ms"),
        (dict(artifact=path, scenario="server"), "needs a rate"),
        (dict(artifact=path, scenario="single-stream", workers=2), "server SUT only"),
        (dict(artifact=path, model="simple_cnn"), "not both"),
        (dict(model="simple_cnn", exported=tmp_path), "train-export"),
        (dict(artifact=path, scenario="server", target_qps=10.0, max_batch=1, max_wait_ms=2.0), "--max-batch is 1"),
    ]
    for kwargs, message in cases:
        with pytest.raises(InferBenchError, match=message):
            ScenarioPlan(**kwargs)
    with pytest.raises(InferBenchError, match="does not load onnx"):
        Target(tiny[1].entry, path, "litert")


def test_cli_writes_a_record_and_keeps_the_logs(tiny, tmp_path, data_root, capsys):
    from infer_bench.cli import main

    out = tmp_path / "scenario.json"
    code = main(["scenario", "--artifact", str(tiny[0]), "--runtime", "onnxruntime", "--threads", "1",
                 "--duration-s", "0.3", "--rows", str(ROWS), "--data-dir", str(data_root),
                 "--results-dir", str(tmp_path), "--json", str(out)])
    assert code == 0
    record = load_scenario(out)
    assert record.target["runtime"] == "onnxruntime" and record.target["executed"]["threads"] == [1]
    assert record.runs[0].summary.valid
    assert (tmp_path / record.runs[0].log_dir.split(str(tmp_path) + "/")[1] / "mlperf_log_summary.txt").is_file()
    printed = capsys.readouterr().out
    assert "VALID" in printed and "early-stop" in printed
    assert main(["scenario", "--artifact", str(tiny[0]), "--json", str(out)]) == 2  # never overwritten


def test_presets_short_by_default_mlperf_one_option_away():
    import mlperf_loadgen as lg

    short_ss = ScenarioSettings("single-stream")
    assert (short_ss.min_duration_ms, short_ss.min_query_count, short_ss.percentile) == (2000, 662, 0.90)
    mlperf = ScenarioSettings("server", preset="mlperf", target_qps=50.0)
    ts = mlperf.to_loadgen(lg)
    assert (ts.min_duration_ms, ts.server_target_latency_ns, ts.server_target_latency_percentile) == (600_000, 10**7, 0.99)
    assert ts.scenario == lg.TestScenario.Server and ts.server_target_qps == 50.0
    assert ScenarioPlan(artifact=Path("x.onnx"), scenario="server", target_qps=5.0, mlperf=True).settings().min_duration_ms == 600_000


def test_the_report_shows_the_newest_scenario_of_the_same_machine_only(tiny, tmp_path):
    import dataclasses
    import shutil

    from infer_bench.present.report import write_report
    from infer_bench.results.bench import load_results

    _, target, session, samples = tiny
    results = tmp_path / "results"
    results.mkdir()
    bench = shutil.copy(Path(__file__).parent / "data" / "results_small.json", results / "bench-20260101-120000.json")
    run = run_once(target, [session], samples, PoolConfig(1, 1), short("single-stream"), tmp_path / "logs")
    record = ScenarioRecord("2026-12-01T10:00:00+00:00", load_results(bench).environment,
                            target.describe([session], samples.label), "single-stream",
                            short("single-stream").to_dict(), str(tmp_path / "logs"), (run,))
    path = record.save(results)
    text = write_report(tmp_path / "no-export", results, tmp_path / "report", log=lambda m: None).read_text()
    section = text.split("## Deployment scenarios (MLPerf LoadGen)")[1].split("\n## ")[0]
    assert f"From `{path}` (single-stream" in section and "LoadGen: VALID" in section
    assert f"- LoadGen scenario: `{path}`" in text
    # Measured on another machine than the bench results: left out, saying why.
    other = dataclasses.replace(record, environment={**record.environment, "cpu_model": "Another CPU"})
    other.save(results)
    text = write_report(tmp_path / "no-export", results, tmp_path / "report2", log=lambda m: None).read_text()
    section = text.split("## Deployment scenarios (MLPerf LoadGen)")[1].split("\n## ")[0]
    assert "another machine setup" in section and "cpu model differs" in section and "LoadGen: VALID" not in section


def test_a_bf16_target_is_the_fp32_artifact_run_by_openvino_in_bf16(tiny, tmp_path):
    from conftest import write_tiny_manifest

    from infer_bench.runtimes import openvino_rt

    exported = tmp_path / "exported"
    exported.mkdir()
    onnx_path = exported / "tiny_fp32.onnx"
    onnx_path.write_bytes(tiny[0].read_bytes())
    write_tiny_manifest(exported, "tiny", {("onnx", "fp32"): onnx_path})
    target = resolve_target(ScenarioPlan(model="tiny", exported=exported, quantization="bf16", threads=1))
    assert (target.runtime, target.entry.quantization, target.quantization) == ("openvino", "fp32", "bf16")
    assert target.label == "tiny onnx/bf16 via openvino"
    with pytest.raises(InferBenchError, match="does not run a fp32 onnx artifact in bf16"):
        resolve_target(ScenarioPlan(model="tiny", exported=exported, quantization="bf16", runtime="onnxruntime",
                                    threads=1))
    if openvino_rt.unavailable_reason("bf16") is None:  # this CPU runs bf16: the session says it did
        session = target.load(1)
        assert session.executed_precision == "bf16"
        assert target.describe([session], "x")["quantization"] == "bf16"
    else:
        with pytest.raises(InferBenchError, match="bf16"):
            target.load(1)
