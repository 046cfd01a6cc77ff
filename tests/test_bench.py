"""A short real benchmark run of one artifact per runtime, the CUDA labelling rule, and the CLI around it."""

import json

import pytest

from infer_bench.bench import BenchPlan, run_bench
from infer_bench.cli import main
from infer_bench.measure import BENCH
from infer_bench.results import ResultsWriter, load_results

pytestmark = pytest.mark.slow


def _plan(folder, **kw):
    base = dict(exported=folder, models=["simple_cnn"], batch_sizes=[1, 4], min_time_s=0.0)
    base.update(kw)
    return BenchPlan(**base)


def test_one_artifact_per_runtime_gives_a_valid_results_file(quick_export, tmp_path):
    manifest, _ = quick_export
    writer = ResultsWriter(tmp_path / "r.json", {"threads": {"requested": None}})
    results = run_bench(_plan(manifest.folder, quantizations=["fp32"], formats=["keras", "onnx", "tflite"]),
                        {}, writer, log=lambda m: None)
    loaded = load_results(tmp_path / "r.json")
    # keras x3 runtimes, onnx x2 (ONNX Runtime, OpenVINO), tflite x2 (LiteRT, OpenVINO); 2 batch sizes
    assert len(loaded.results) == len(results) == 7 * 2
    assert {r.runtime for r in loaded.results} == {"keras_predict", "keras_call", "tf_function", "onnxruntime",
                                                   "litert", "openvino"}
    for r in loaded.results:
        assert r.device == "cpu" and r.calls >= BENCH.at_batch(r.batch_size).min_calls
        assert r.per_row_ms["p50"] > 0 and r.throughput_rows_per_s > 0 and r.bytes > 0
        assert (r.load_ms is not None) == (r.batch_size == 1)  # cold start recorded once per case
    raw = json.loads((tmp_path / "r.json").read_text())
    assert raw["schema_version"] == 1 and "environment" in raw


def test_cuda_is_skipped_with_a_reason_never_labelled_cuda(quick_export, tmp_path):
    from infer_bench.runtimes.devices import cuda_available_reason

    if cuda_available_reason("onnxruntime") is None:
        pytest.skip("a GPU is present: this test checks the no-GPU path")
    manifest, _ = quick_export
    writer = ResultsWriter(tmp_path / "r.json", {})
    results = run_bench(_plan(manifest.folder, formats=["onnx"], quantizations=["fp32"], devices=["cuda"]),
                        {}, writer, log=lambda m: None)
    assert results and all(r.skipped for r in results)
    assert all("CUDA unavailable" in r.skipped_reason for r in results)
    assert all(r.per_row_ms is None for r in results)


def test_cli_bench_writes_tables_and_never_overwrites(quick_export, tmp_path, capsys):
    manifest, _ = quick_export
    out = tmp_path / "bench.json"
    args = ["bench", "--exported", str(manifest.folder), "--models", "simple_cnn", "--formats", "onnx",
            "--quantizations", "fp32,static_int8", "--batch-sizes", "1,8", "--min-time", "0", "--json", str(out)]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "Per-row latency at batch 1" in text and "Throughput-optimal batch size" in text
    first = out.read_bytes()
    assert main(args) == 2  # refuses to overwrite
    assert "already exists" in capsys.readouterr().err
    assert out.read_bytes() == first


@pytest.mark.parametrize("bad, message", [
    (["--runtimes", "tensorrt_magic"], "Unknown runtime 'tensorrt_magic'"),
    (["--devices", "tpu"], "Unknown device 'tpu'"),
    (["--batch-sizes", "0"], "must be positive"),
])
def test_cli_bench_bad_options(bad, message, tmp_path, capsys):
    assert main(["bench", "--exported", str(tmp_path)] + bad) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_min_calls_sets_the_stop_rule_and_is_validated(tmp_path):
    """run --quick times 20 calls, not 100; the rule every case is timed under says so."""
    from infer_bench.errors import InferBenchError

    rule = BenchPlan(exported=tmp_path, min_calls=20, min_time_s=0.1).stop_rule
    assert (rule.min_calls, rule.min_time_s, rule.warmup_calls) == (20, 0.1, BENCH.warmup_calls)
    assert BenchPlan(exported=tmp_path).stop_rule == BENCH
    with pytest.raises(InferBenchError, match="min_calls=0 must be >= 1"):
        BenchPlan(exported=tmp_path, min_calls=0)
