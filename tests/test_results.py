"""Versioned results JSON: validation, round trip, never-overwrite, incremental writing."""

import json
import os

import pytest

from infer_bench.errors import InferBenchError
from infer_bench.measure import ColdStart, Measurement
from infer_bench.results.bench import (
    SCHEMA_VERSION,
    BenchResult,
    ResultsFile,
    ResultsWriter,
    latest_results,
    load_results,
    save_results,
    save_results_to,
)
from infer_bench.runtimes.base import BasicSession

MS = 1_000_000
ENV = {"cpu_model": "Test CPU", "python": "3.11.0"}
CREATED = "2026-11-28T12:34:56+01:00"


def session(device="cpu"):
    return BasicSession(
        runtime="onnxruntime",
        device=device,
        providers=("CPUExecutionProvider",),
        threads=4,
        input_shape=(None, 28, 28, 1),
        input_dtype="float32",
        run_fn=lambda b: b,
    )


def measured(**over):
    m = Measurement(batch_size=2, calls_ns=(1 * MS, 2 * MS, 3 * MS, 4 * MS), warmup_calls=10)
    kw = dict(model="small_cnn", format="onnx", quantization="fp32", bytes=1234, peak_rss_mb=321.5)
    kw.update(over)
    return BenchResult.from_measurement(m, session(), cold_start=ColdStart(50.0, 3.0, session=None), **kw)


def skipped():
    return BenchResult.skipped_case(
        model="small_cnn",
        format="onnx",
        quantization="fp16",
        runtime="onnxruntime",
        device="cuda",
        batch_size=8,
        reason="CUDA asked for but no GPU here",
    )


def test_from_measurement_fills_everything():
    r = measured()
    assert (r.runtime, r.device, r.providers, r.threads) == ("onnxruntime", "cpu", ("CPUExecutionProvider",), 4)
    assert r.batch_size == 2 and r.calls == 4
    assert r.raw_calls_ns == (1 * MS, 2 * MS, 3 * MS, 4 * MS)
    assert r.per_call_ms["p50"] == pytest.approx(2.5)
    assert r.per_row_ms["p50"] == pytest.approx(1.25)
    assert r.throughput_rows_per_s == pytest.approx(800.0)
    assert (r.load_ms, r.first_inference_ms, r.bytes, r.peak_rss_mb) == (50.0, 3.0, 1234, 321.5)
    assert r.skipped_reason is None and not r.skipped
    # 4 calls is few: the stats' own warning is carried along
    assert any("only 4 timed calls" in w for w in r.warnings)
    assert r.stats.per_call_ms.p50 == pytest.approx(2.5)


def test_from_measurement_defaults_peak_rss_and_no_cold_start():
    m = Measurement(batch_size=1, calls_ns=(5,), warmup_calls=0)
    r = BenchResult.from_measurement(m, session(), model="m", format="tflite", quantization="dynamic_int8")
    assert r.peak_rss_mb > 0
    assert r.load_ms is None and r.first_inference_ms is None


def test_skipped_case_has_no_stats():
    r = skipped()
    assert r.skipped and r.per_row_ms is None and r.raw_calls_ns is None and r.stats is None
    with pytest.raises(ValueError, match="must not carry measurements"):
        BenchResult(**{**r.to_dict(), "calls": 3})


@pytest.mark.parametrize(
    "field, value, choices",
    [("format", "pytorch", "tflite"), ("quantization", "int4", "static_int8"), ("device", "tpu", "cuda")],
)
def test_unknown_choice_names_field_value_and_choices(field, value, choices):
    with pytest.raises(ValueError) as e:
        BenchResult(**{**measured().to_dict(), field: value})
    msg = str(e.value)
    assert field in msg and repr(value) in msg and choices in msg


@pytest.mark.parametrize(
    "change, match",
    [
        ({"batch_size": 0}, "batch_size"),
        ({"threads": 0}, "threads"),
        ({"model": ""}, "model"),
        ({"calls": 5}, "calls"),
        ({"raw_calls_ns": [1, 0, 3, 4]}, "raw_calls_ns"),
        ({"per_row_ms": {"p50": 1.0}}, "per_row_ms"),
        ({"throughput_rows_per_s": None}, "missing"),
        ({"bytes": -1}, "bytes"),
    ],
)
def test_bad_fields_refused(change, match):
    with pytest.raises(ValueError, match=match):
        BenchResult(**{**measured().to_dict(), **change})


def test_result_dict_round_trip():
    for r in (measured(), skipped()):
        d = r.to_dict()
        assert isinstance(d["raw_calls_ns"] if not r.skipped else d["providers"], list)
        back = BenchResult.from_dict(json.loads(json.dumps(d)))
        assert back == r


def test_unknown_result_field_refused():
    with pytest.raises(ValueError, match="unknown result fields"):
        BenchResult.from_dict({**measured().to_dict(), "colour": "red"})


def test_file_round_trip(tmp_path):
    rf = ResultsFile(environment=ENV, results=(measured(), skipped()), created=CREATED)
    d = rf.to_dict()
    assert list(d) == ["schema_version", "created", "environment", "results"]
    assert d["schema_version"] == SCHEMA_VERSION == 1
    path = save_results(rf, tmp_path)
    assert path.name == "bench-20261128-123456.json"
    loaded = load_results(path)
    assert loaded == rf
    assert loaded.results[0].raw_calls_ns == (1 * MS, 2 * MS, 3 * MS, 4 * MS)


def test_created_defaults_to_now_with_offset():
    created = ResultsFile(environment={}).created
    assert "T" in created and ("+" in created or "-" in created[10:])


def test_unknown_schema_version_refused(tmp_path):
    path = tmp_path / "future.json"
    d = ResultsFile(environment=ENV, results=(measured(),)).to_dict()
    d["schema_version"] = 2
    path.write_text(json.dumps(d))
    with pytest.raises(InferBenchError, match="schema_version 2.*version 1 only"):
        load_results(path)


@pytest.mark.parametrize(
    "content, match",
    [("{not json", "Cannot read"), ('{"results": []}', "no schema_version"), ("[1, 2]", "no schema_version")],
)
def test_damaged_files_refused(tmp_path, content, match):
    path = tmp_path / "x.json"
    path.write_text(content)
    with pytest.raises(InferBenchError, match=match):
        load_results(path)


def test_invalid_result_in_file_refused(tmp_path):
    d = ResultsFile(environment=ENV, results=(measured(),)).to_dict()
    d["results"][0]["device"] = "tpu"
    path = tmp_path / "x.json"
    path.write_text(json.dumps(d))
    with pytest.raises(InferBenchError, match="invalid result.*device"):
        load_results(path)


def test_missing_file_refused(tmp_path):
    with pytest.raises(InferBenchError, match="No results file"):
        load_results(tmp_path / "nope.json")


def test_two_saves_in_the_same_second_make_two_files(tmp_path):
    rf1 = ResultsFile(environment=ENV, results=(measured(),), created=CREATED)
    rf2 = ResultsFile(environment=ENV, results=(skipped(),), created=CREATED)
    rf3 = ResultsFile(environment=ENV, results=(), created=CREATED)
    p1, p2, p3 = save_results(rf1, tmp_path), save_results(rf2, tmp_path), save_results(rf3, tmp_path)
    assert [p.name for p in (p1, p2, p3)] == [
        "bench-20261128-123456.json",
        "bench-20261128-123456-2.json",
        "bench-20261128-123456-3.json",
    ]
    assert load_results(p1) == rf1 and load_results(p2) == rf2
    # no temporary files left behind
    assert sorted(os.listdir(tmp_path)) == sorted(p.name for p in (p1, p2, p3))


def test_save_results_creates_folder(tmp_path):
    p = save_results(ResultsFile(environment=ENV, created=CREATED), tmp_path / "a" / "b")
    assert p.exists()


def test_save_results_to_refuses_existing_file(tmp_path):
    path = tmp_path / "out.json"
    path.write_text("precious")
    rf = ResultsFile(environment=ENV, results=(measured(),))
    with pytest.raises(InferBenchError, match="already exists"):
        save_results_to(rf, path)
    assert path.read_text() == "precious"
    assert save_results_to(rf, path, overwrite=True) == path
    assert load_results(path) == rf


def test_save_results_to_new_file(tmp_path):
    rf = ResultsFile(environment=ENV, results=(measured(),))
    path = save_results_to(rf, tmp_path / "sub" / "out.json")
    assert load_results(path) == rf


def test_latest_results(tmp_path):
    assert latest_results(tmp_path / "missing") is None
    assert latest_results(tmp_path) is None
    for name in [
        "bench-20261128-120000.json",
        "bench-20261128-120000-2.json",
        "bench-20261128-120000-10.json",
        "bench-20261127-235959-3.json",
        "notes.json",
        ".bench-20261129-000000.json.abc.partial",
    ]:
        (tmp_path / name).write_text("{}")
    assert latest_results(tmp_path).name == "bench-20261128-120000-10.json"
    from infer_bench.results.store import paths

    (tmp_path / "bench-by-hand.json").write_text("{}")  # unstamped: ranks below every stamped file
    assert [p.name for p in paths(tmp_path, "bench")] == [
        "bench-by-hand.json", "bench-20261127-235959-3.json", "bench-20261128-120000.json",
        "bench-20261128-120000-2.json", "bench-20261128-120000-10.json"]


def test_results_writer_folder_keeps_earlier_cases(tmp_path):
    w = ResultsWriter(tmp_path, ENV)
    assert w.path is None  # nothing written before the first case
    a, b = measured(), skipped()
    p = w.add(a)
    assert p == w.path and p.parent == tmp_path
    assert load_results(p).results == (a,)
    assert w.add(b) == p
    loaded = load_results(p)
    assert loaded.results == (a, b) and loaded.environment == ENV
    assert latest_results(tmp_path) == p
    assert sorted(os.listdir(tmp_path)) == [p.name]  # no temporary files left


def test_results_writer_does_not_overwrite_earlier_run(tmp_path):
    first = ResultsWriter(tmp_path, ENV)
    second = ResultsWriter(tmp_path, ENV)
    p1, p2 = first.add(measured()), second.add(skipped())
    assert p1 != p2
    first.add(skipped())
    assert len(load_results(p1).results) == 2 and len(load_results(p2).results) == 1


def test_results_writer_explicit_path(tmp_path):
    path = tmp_path / "run.json"
    path.write_text("precious")
    with pytest.raises(InferBenchError, match="already exists"):
        ResultsWriter(path, ENV)  # refused before any benchmarking
    assert path.read_text() == "precious"
    w = ResultsWriter(path, ENV, overwrite=True)
    assert w.path == path
    w.add(measured())
    w.add(skipped())
    assert len(load_results(path).results) == 2

    fresh = ResultsWriter(tmp_path / "new.json", ENV)
    fresh.add(measured())
    assert len(load_results(tmp_path / "new.json").results) == 1


def test_results_writer_race_on_explicit_path(tmp_path):
    path = tmp_path / "run.json"
    w = ResultsWriter(path, ENV)
    path.write_text("someone else")  # appeared after the writer was made
    with pytest.raises(InferBenchError, match="already exists"):
        w.add(measured())
    assert path.read_text() == "someone else"
    assert w.results_file.results == ()
