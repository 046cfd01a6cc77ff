"""``bench --sweep``: sessions x threads measured at once, what ran, and what the report says of it."""

from __future__ import annotations

import json
import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest

from infer_bench.bench import BenchPlan
from infer_bench.cli import main
from infer_bench.errors import InferBenchError
from infer_bench.measure import SUMMARY_KEYS, InputRotation, StopRule
from infer_bench.measure.concurrent import ConcurrentRunError, measure_concurrent
from infer_bench.present.sweep import baseline, sweep_rows, sweep_sentence
from infer_bench.results.sweep import SweepPoint, SweepWriter, load_sweep
from infer_bench.runtimes import LoadOptions, get_runtime
from infer_bench.runtimes.concurrent import executed_layout, load_sessions, sweep_unsupported_reason
from infer_bench.sweep import SweepPlan, default_counts, run_sweep

ROWS = np.random.default_rng(0).random((32, 28, 28, 1), dtype=np.float32)
SHORT = StopRule(min_time_s=0.2, min_calls=10, warmup_calls=1)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A small real CNN (28x28x1, 10 classes) as .keras, ONNX and TFLite files."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(8, 3, activation="relu"),
                              keras.layers.MaxPooling2D(), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")])
    model(ROWS[:1])
    d = tmp_path_factory.mktemp("sweep")
    paths = SimpleNamespace(keras=d / "tiny.keras", onnx=d / "tiny.onnx", tflite=d / "tiny.tflite")
    model.save(paths.keras)
    model.export(str(paths.onnx), format="onnx", verbose=False)
    model.export(str(d / "saved"), format="tf_saved_model", verbose=False)
    paths.tflite.write_bytes(tf.lite.TFLiteConverter.from_saved_model(str(d / "saved")).convert())
    return paths


# --- the concurrent loop, on sessions whose time is known ------------------------------------


def _sleeper(ms: float):
    def run(batch):
        time.sleep(ms / 1000)  # releases the GIL, as the runtimes do while they compute
        return batch
    return run


def test_two_sessions_that_wait_do_twice_the_rows_at_the_same_latency():
    rotation = InputRotation(ROWS)
    one = measure_concurrent([_sleeper(5)], rotation, 1, SHORT)
    two = measure_concurrent([_sleeper(5), _sleeper(5)], rotation, 1, SHORT)
    assert two.sessions == 2 and all(n >= StopRule.MIN_CALLS_FLOOR for n in two.calls_per_session)
    # Each call takes about 5 ms in both; together the two sessions complete about twice the rows.
    assert 4.5 < one.stats.per_call_ms.p50 < 15 and 4.5 < two.stats.per_call_ms.p50 < 15
    assert two.throughput_rows_per_s > 1.5 * one.throughput_rows_per_s
    # Throughput is rows over the wall window, not over the summed call times (that would hide the overlap).
    assert two.window_ns < sum(two.stats.calls_ns)
    assert two.rows == sum(two.calls_per_session)


def test_sessions_start_together_and_stop_after_the_window():
    starts, lock = [], threading.Lock()

    def run(batch):
        with lock:
            starts.append(time.perf_counter())
        time.sleep(0.002)

    m = measure_concurrent([run, run, run], InputRotation(ROWS), 4, StopRule(min_time_s=0.1, min_calls=3,
                                                                              warmup_calls=0))
    assert m.batch_size == 4 and m.rows == 4 * sum(m.calls_per_session)
    assert max(starts[:3]) - min(starts[:3]) < 0.05  # the barrier: the first calls start together
    assert m.window_ns >= 0.1e9


def test_a_failing_session_ends_the_measurement_with_its_error_and_no_hang():
    def broken(batch):
        raise RuntimeError("kernel exploded")

    with pytest.raises(ConcurrentRunError, match="kernel exploded"):
        measure_concurrent([_sleeper(1), broken], InputRotation(ROWS), 1, SHORT)  # in the warm-up

    calls = []

    def later(batch):
        calls.append(1)
        if len(calls) > 5:
            raise ValueError("bad output")

    with pytest.raises(ConcurrentRunError, match="bad output"):
        measure_concurrent([_sleeper(1), later], InputRotation(ROWS), 1, StopRule(min_time_s=30, min_calls=10,
                                                                                 warmup_calls=0))


# --- layouts ------------------------------------------------------------------------------------


def _plan(**kw):
    return BenchPlan(artifacts=[], batch_sizes=[1], **kw)


def test_default_layouts_fit_the_cores():
    assert default_counts(2) == (1, 2) and default_counts(6) == (1, 2, 4, 6)
    plan = SweepPlan(_plan())
    assert plan.layouts(2) == [(1, 2), (1, 1), (2, 1)]
    assert all(s * t <= 4 for s, t in plan.layouts(4)) and (4, 1) in plan.layouts(4) and (1, 4) in plan.layouts(4)


def test_layouts_asked_for_are_all_run_even_above_the_cores():
    assert SweepPlan(_plan(), sessions=(1, 4), threads=(2,)).layouts(2) == [(1, 2), (4, 2)]
    assert SweepPlan(_plan(), sessions=(3,)).layouts(2) == [(3, 1)]  # none fits: the fewest threads


def test_bad_layouts_are_refused():
    with pytest.raises(InferBenchError, match="--sessions 0"):
        SweepPlan(_plan(), sessions=(0,))
    with pytest.raises(InferBenchError, match="--threads sets one thread count"):
        SweepPlan(_plan(threads=2))


# --- real runtimes ------------------------------------------------------------------------------


def test_openvino_streams_are_one_compiled_model_read_back(tiny):
    rt = get_runtime("openvino")
    sessions = load_sessions(rt, tiny.onnx, LoadOptions(threads=1), 2)
    try:
        assert executed_layout(sessions) == (2, 1, None)
        assert sessions[0].execution["streams"] == 2 and sessions[0].execution["threads"] == 2
        assert sessions[1]._compiled is sessions[0]._compiled and sessions[1]._requests is not sessions[0]._requests
        np.testing.assert_allclose(sessions[0].run(ROWS[:3]), sessions[1].run(ROWS[:3]), atol=1e-6)
    finally:
        for s in sessions:
            s.close()


def test_independent_sessions_report_their_own_threads(tiny):
    sessions = load_sessions(get_runtime("onnxruntime"), tiny.onnx, LoadOptions(threads=1), 2)
    assert executed_layout(sessions) == (2, 1, None) and sessions[0] is not sessions[1]
    sessions[1].threads = 2  # as if one session had run another count: never one label for both
    assert "different thread counts" in executed_layout(sessions)[2]
    assert sweep_unsupported_reason(get_runtime("keras_call")).startswith("TensorFlow's intra-op threads")
    assert sweep_unsupported_reason(get_runtime("litert")) is None


def test_a_sweep_measures_each_layout_and_skips_tensorflow_with_the_reason(tiny, tmp_path, data_root):
    plan = SweepPlan(BenchPlan(artifacts=[tiny.onnx, tiny.keras], runtimes=["onnxruntime", "keras_call"],
                               batch_sizes=[1, 4], min_time_s=0.05, data_dir=str(data_root)),
                     sessions=(1, 2), threads=(1,))
    writer = SweepWriter(tmp_path, None, {"cpu_model": "x"})
    points = run_sweep(plan, writer, log=lambda m: None)
    measured = [p for p in points if not p.skipped]
    assert {(p.runtime, p.sessions, p.threads, p.batch_size) for p in measured} == {
        ("onnxruntime", s, 1, b) for s in (1, 2) for b in (1, 4)}
    assert all(len(p.raw_calls_ns) == p.sessions and p.throughput_rows_per_s > 0 for p in measured)
    skipped = [p for p in points if p.skipped]
    assert skipped and all(p.runtime == "keras_call" and "TensorFlow" in p.skipped_reason for p in skipped)
    back = load_sweep(writer.path)
    assert back.points == tuple(points)


# --- what is said -------------------------------------------------------------------------------


def _point(sessions, threads, p50_ms, rows_per_s, **kw):
    calls = tuple((int(p50_ms * 1e6),) * 10 for _ in range(sessions))
    return SweepPoint(model="m", format="onnx", quantization="fp32", runtime="onnxruntime", device="cpu",
                      batch_size=1, sessions=sessions, threads=threads,
                      per_call_ms={k: p50_ms for k in SUMMARY_KEYS},
                      throughput_rows_per_s=rows_per_s, window_s=1.0, calls_per_session=(10,) * sessions,
                      raw_calls_ns=calls, **kw)


def test_the_sentence_puts_the_best_layout_against_one_session_with_all_threads():
    pts = [_point(1, 2, 1.0, 1000), _point(1, 1, 1.5, 660), _point(2, 1, 1.2, 1700)]
    assert baseline(pts) is pts[0]
    assert sweep_sentence(pts).endswith("2 sessions x 1 thread: 1.70x the throughput of 1 x 2 at +20% p50 latency.")
    rows = sweep_rows(pts)
    assert rows[0][-1] == "baseline" and rows[2][-1] == "1.70x the throughput at +20% p50 latency"
    best_is_base = [_point(1, 2, 1.0, 1000), _point(2, 1, 2.5, 800)]
    assert "1 x 2 (one request at a time) has the most rows/s" in sweep_sentence(best_is_base)


def test_a_point_must_say_what_ran_and_keep_its_samples():
    with pytest.raises(ValueError, match="one list per session"):
        SweepPoint(**{**_point(2, 1, 1.0, 10).__dict__, "raw_calls_ns": ((5,) * 10,)})
    with pytest.raises(ValueError, match="must not carry measurements"):
        SweepPoint(**{**_point(1, 1, 1.0, 10).__dict__, "skipped_reason": "no"})
    assert json.loads(json.dumps(_point(2, 1, 1.0, 10).to_dict()))["sessions"] == 2


def test_cli_refuses_sweep_options_without_sweep_and_with_ray(tmp_path, capsys):
    assert main(["bench", "--sessions", "2", "--exported", str(tmp_path)]) != 0
    assert "add --sweep" in capsys.readouterr().err
    assert main(["bench", "--sweep", "--ray", "auto", "--exported", str(tmp_path)]) != 0
    assert "not with --ray" in capsys.readouterr().err


def test_the_report_shows_a_sweep_of_this_machine_and_leaves_out_another(tmp_path):
    import shutil
    from pathlib import Path

    from infer_bench.present.report import write_report

    bench = Path(__file__).parent / "data" / "results_small.json"
    environment = json.loads(bench.read_text())["environment"]
    results_dir = tmp_path / "results"
    results_dir.mkdir()
    shutil.copy(bench, results_dir / "bench-20260101-120000.json")
    pts = [_point(1, 2, 1.0, 1000), _point(1, 1, 1.5, 660), _point(2, 1, 1.2, 1700)]
    writer = SweepWriter(results_dir, results_dir / "sweep-20260101-130000.json", environment)
    writer.add(pts)
    text = write_report(tmp_path / "none", results_dir, tmp_path / "report", log=lambda m: None).read_text()
    section = text.split("## Threads and sessions")[1].split("\n## ")[0]
    assert "1.70x the throughput of 1 x 2 at +20% p50 latency" in section
    assert (tmp_path / "report" / "figures" / "threads-sessions.png").stat().st_size > 1024
    other = SweepWriter(results_dir, results_dir / "sweep-20260101-140000.json",
                        {**environment, "cpu_model": "another CPU"})
    other.add(pts)
    text = write_report(tmp_path / "none", results_dir, tmp_path / "report2", log=lambda m: None).read_text()
    section = text.split("## Threads and sessions")[1].split("\n## ")[0]
    assert "measured on another machine setup" in section and "cpu model differs" in section
    assert "1.70x" not in section
