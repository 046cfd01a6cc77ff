"""`merge` and fingerprints, on hand-made results files: pooling within a target, refusal across machine setups."""

from __future__ import annotations

import pytest

from infer_bench.cli import main
from infer_bench.errors import InferBenchError
from infer_bench.fleet import MergeSource, fingerprint_differences, fingerprint_of, fleet_info, merge_results
from infer_bench.present.fleet import target_groups
from infer_bench.present.report import write_report
from infer_bench.results import load_results
from infer_bench.results.bench import BenchResult, ResultsFile, save_results_to


def _env(host="box-a", numpy="2.4.6", cpu="AMD EPYC 7B13", memory_mb=24 * 1024 + 3):
    return {"hostname": host, "cpu_model": cpu, "cpu_flags": {"avx2": True, "avx512f": False}, "logical_cores": 2,
            "memory_total_mb": memory_mb, "gpu": None, "python": "3.11.9",
            "packages": {"numpy": numpy, "onnxruntime-gpu": "1.31.1", "infer-bench": "0.1.0"}}


def _result(raw_ns, batch=1, runtime="onnxruntime"):
    from infer_bench.measure import LatencyStats

    s = LatencyStats(raw_ns, batch)
    return BenchResult(model="tiny", format="onnx", quantization="fp32", runtime=runtime, device="cpu",
                       providers=("CPUExecutionProvider",), threads=None, batch_size=batch,
                       per_row_ms=s.per_row_ms.to_dict(), per_call_ms=s.per_call_ms.to_dict(),
                       throughput_rows_per_s=s.throughput_rows_per_s, calls=s.calls, raw_calls_ns=s.calls_ns)


def _file(tmp_path, name, env, results):
    return save_results_to(ResultsFile(environment=env, results=tuple(results)), tmp_path / name)


def test_fingerprint_ignores_memory_jitter_and_names_what_differs():
    a, _ = fingerprint_of(_env(memory_mb=24 * 1024 + 3))
    b, _ = fingerprint_of(_env(memory_mb=24 * 1024 - 5))
    assert a == b  # a few MiB of MemTotal between boots is the same machine
    _, fa = fingerprint_of(_env())
    _, fb = fingerprint_of(_env(numpy="2.3.0", cpu="Intel Xeon 8480+"))
    assert fingerprint_differences(fa, fb) == ["cpu_model: AMD EPYC 7B13 vs Intel Xeon 8480+", "numpy: 2.4.6 vs 2.3.0"]
    assert fingerprint_of(_env(host="other"))[0] == a  # the host name is not hardware


def test_two_targets_stay_two_sections_and_the_best_is_chosen_within_each(tmp_path):
    a = _file(tmp_path, "a.json", _env("box-a"), [_result([2_000_000] * 5), _result([1_000_000] * 5, runtime="openvino")])
    b = _file(tmp_path, "b.json", _env("box-b", cpu="Intel Xeon 8480+"), [_result([3_000_000] * 5)])
    merged = merge_results([MergeSource(a), MergeSource.parse(f"xeon={b}")])
    groups = target_groups(list(merged.results))
    assert list(groups) == ["box-a", "xeon"] and len(merged.results) == 3
    # `infer-bench report` finds the merged file as the newest bench file and writes the per-target report.
    save_results_to(merged, tmp_path / "results" / "bench-20260101-000000.json")
    report = write_report(tmp_path / "none", tmp_path / "results", tmp_path / "report", log=lambda m: None).read_text()
    assert report.count("## Target `") == 2 and "# Inference benchmark report: fleet" in report
    box_a, xeon = report.split("## Target `xeon`")
    # Each target's decision names its own fastest: openvino on box-a; onnxruntime, the only one, on xeon.
    assert "openvino" in box_a.split("Deployment decisions")[1].split("Latency")[0]
    assert "openvino" not in xeon and "Intel Xeon 8480+" in xeon and "Intel Xeon 8480+" not in box_a


def test_the_same_case_on_the_same_machine_setup_is_pooled_from_its_raw_samples(tmp_path):
    a = _file(tmp_path, "a.json", _env(), [_result([1_000_000, 3_000_000])])
    b = _file(tmp_path, "b.json", _env(memory_mb=24 * 1024 - 1), [_result([2_000_000, 4_000_000, 5_000_000])])
    merged = merge_results([MergeSource(a), MergeSource(b)])
    (r,) = merged.results
    assert r.calls == 5 and r.per_call_ms["p50"] == 3.0 and r.extra["pooled_runs"] == 2  # median of 1,2,3,4,5 ms
    assert fleet_info(r).target == "box-a"


def test_one_target_on_two_machine_setups_is_refused_naming_the_fields(tmp_path):
    a = _file(tmp_path, "a.json", _env(), [_result([1_000_000] * 3)])
    b = _file(tmp_path, "b.json", _env(numpy="2.3.0"), [_result([1_000_000] * 3)])
    with pytest.raises(InferBenchError, match=r"numpy: 2.4.6 vs 2.3.0.*cannot be pooled"):
        merge_results([MergeSource(a), MergeSource(b)])


def test_cli_merge_writes_a_new_file_and_refuses_an_existing_one(tmp_path, capsys):
    a = _file(tmp_path, "a.json", _env("box-a"), [_result([1_000_000] * 3)])
    b = _file(tmp_path, "b.json", _env("box-b"), [_result([2_000_000] * 3)])
    out = tmp_path / "m.json"
    assert main(["merge", str(a), str(b), "--out", str(out)]) == 0
    assert {fleet_info(r).target for r in load_results(out).results} == {"box-a", "box-b"}
    assert main(["merge", str(a), str(b), "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["merge", str(a), "--out", str(tmp_path / "n.json")]) == 2


def test_fleet_records_and_plans_refuse_what_cannot_be_true(tmp_path):
    from infer_bench.bench import BenchPlan
    from infer_bench.fleet import FleetInfo, FleetPlan

    sha = "a" * 64
    with pytest.raises(ValueError, match="needs"):
        FleetInfo(target="xeon", status="measured", artifact_sha256=sha)  # measured, but on no node
    with pytest.raises(ValueError, match="before"):
        FleetInfo(target="xeon", status="failed", artifact_sha256=sha, start_unix=2.0, end_unix=1.0)
    with pytest.raises(ValueError, match="status"):
        FleetInfo(target="xeon", status="lost", artifact_sha256=sha)
    bench = BenchPlan(exported=tmp_path)
    with pytest.raises(InferBenchError, match="not a valid node label"):
        FleetPlan(bench, "127.0.0.1:6379", ("xeon amx",))
    with pytest.raises(InferBenchError, match="twice"):
        FleetPlan(bench, "127.0.0.1:6379", ("a", "a"))
    with pytest.raises(InferBenchError, match="address"):
        FleetPlan(bench, "", ())
