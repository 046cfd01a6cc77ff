"""Figures and the Markdown report, from the small hand-made results file."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from infer_bench.errors import InferBenchError
from infer_bench.present import figures
from infer_bench.present.markdown import md_table
from infer_bench.present.report import write_report
from infer_bench.results import load_results
from infer_bench.results.check import CheckReport, CheckResult, OutputComparison, RandomInputs
from infer_bench.results.explain import Explanation
from infer_bench.results.store import latest

DATA = Path(__file__).parent / "data" / "results_small.json"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
BENCH_ENVIRONMENT = json.loads(DATA.read_text())["environment"]


def _model(**given) -> dict:
    """One model of an explain file: the figures a test gives, every other key empty."""
    empty = {"dataset": "fashion_mnist", "quick": False, "flops": 0, "macs": 0, "params": 0, "weight_bytes": {},
             "activation_bytes": 0, "input_bytes": 0, "layers": [], "layer_times": [], "profile": {},
             "latency_ms": {}, "latency_sources": {}, "int8_latency_ms": {}, "int8_sources": {}, "roofline": {},
             "overhead": {}, "report": {}}
    return {**empty, **given}


# An explain file as ``infer-bench explain`` writes it, measured on the bench fixture's machine.
EXPLAIN = {
    "schema_version": 1, "created": "2026-01-01T14:00:00+00:00", "environment": BENCH_ENVIRONMENT,
    "exported": "exported", "threads": 2, "bench_results": None, "report_figures": {}, "litert_layer_times": "",
    "machine": {"peak_gflops_fp32": 150.0, "peak_gops_int8": 400.0, "memory_gbps": 12.0},
    "models": {
        "simple_cnn": _model(flops=4_600_000, macs=2_300_000, params=225034,
                             weight_bytes={"fp32": 900136, "fp16": 450068, "int8": 226000},
                             layer_times=[{"layer": "conv2d", "kind": "Conv2D", "mean_us": 12.0, "share": 0.5},
                                          {"layer": "dense", "kind": "Dense", "mean_us": 8.0, "share": 0.33},
                                          {"layer": "max_pooling2d", "kind": "MaxPooling2D", "mean_us": 4.0}]),
        "alexnet_fashion": _model(flops=900_000_000, weight_bytes={"fp32": 84_800_000}),  # no layer times: left out
    },
    "pairs": [{"a": "simple_cnn", "b": "alexnet_fashion", "flop_ratio": 195.7, "weight_bytes_ratio": 94.2,
               "ort_ratio": 100.0, "predict_ratio": 1.5, "text": "100x the time for 196x the FLOPs | compute-bound"}],
    "text": "AlexNet is compute-bound; the simple CNN is bound by per-call overhead.",
}
EXPLANATION = Explanation.from_dict(EXPLAIN)


def _checked(quantization: str, test_accuracy: float, agreement: float, max_abs_diff: float,
             reasons=()) -> CheckResult:
    return CheckResult("simple_cnn", "tflite", quantization, f"simple_cnn/simple_cnn_{quantization}.tflite", "litert",
                       0.9136, test_accuracy, OutputComparison(10000, max_abs_diff, max_abs_diff / 10, 0.1, agreement),
                       None, tuple(reasons), 1.0)


# A check file: dynamic_int8 passes (-0.30 points), static_int8 fails (-1.50 points).
CHECK = CheckReport((_checked("dynamic_int8", 0.9106, 0.991, 0.04),
                     _checked("static_int8", 0.8986, 0.97, 0.3, ["accuracy drop 1.50 points > 1 point"])),
                    {}, "exported", "2026-01-01T13:00:00+00:00", 2.0, RandomInputs(256, 1234, 0.0, 1.0), 1e-3,
                    environment=BENCH_ENVIRONMENT).to_dict()


def _is_png(path: Path) -> bool:
    return path.is_file() and path.stat().st_size > 1024 and path.read_bytes()[:8] == PNG_MAGIC


@pytest.fixture(scope="module")
def results():
    return list(load_results(DATA).results)


def _exported(folder: Path, with_png: bool) -> Path:
    """A minimal export folder: manifest with one model whose curves come from history.json (or a PNG)."""
    (folder / "simple_cnn").mkdir(parents=True)
    history = {"curves": {"loss": [0.6, 0.4, 0.3], "accuracy": [0.8, 0.86, 0.89], "val_loss": [0.45, 0.36, 0.33],
                          "val_accuracy": [0.84, 0.88, 0.9], "seconds": [10, 10, 10]},
               "test_accuracy": 0.9136}
    (folder / "simple_cnn" / "history.json").write_text(json.dumps(history))
    if with_png:
        figures.draw_training_curves(history["curves"], "simple_cnn", folder / "simple_cnn" / "training.png")
    models = {"simple_cnn": {"dataset": "fashion_mnist", "test_accuracy": 0.9136, "target_accuracy": 0.91,
                             "quick": False, "test_rows": 10000, "binary": False,
                             "history": "simple_cnn/history.json", "curves": "simple_cnn/training.png",
                             "stability": {"epochs": 3, "std_pts": 0.09, "range_pts": 0.21}}}
    (folder / "manifest.json").write_text(json.dumps({"schema_version": 1, "versions": {}, "models": models,
                                                      "artifacts": []}))
    return folder


# --- figures ----------------------------------------------------------------------------------


def test_latency_figures_are_pngs(results, tmp_path):
    bars = figures.latency_bars(results, tmp_path / "bars.png")
    lines = figures.latency_vs_batch(results, tmp_path / "lines.png")
    assert bars == tmp_path / "bars.png" and _is_png(bars)
    assert lines == tmp_path / "lines.png" and _is_png(lines)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary files left


def test_latency_vs_batch_draws_every_precision_line(results, tmp_path):
    # bf16's dash pattern is a tuple: given as a plot() format string it failed the whole figure.
    for quantization in ("bf16", "fp16", "dynamic_int8", "static_int8"):
        relabelled = [replace(r, quantization=quantization) if r.format == "onnx" else r for r in results]
        assert _is_png(figures.latency_vs_batch(relabelled, tmp_path / f"lvb-{quantization}.png"))


def test_roofline_needs_the_explanation(results, tmp_path):
    assert figures.roofline(results, None, tmp_path / "r.png") is None
    assert "infer-bench explain" in figures.roofline_missing(None, results)
    assert "ceilings" in figures.roofline_missing(replace(EXPLANATION, machine={}), results)
    path = figures.roofline(results, EXPLANATION, tmp_path / "roofline.png")
    assert _is_png(path)


def test_roofline_points_by_hand(results):
    points = figures.roofline_points(results, EXPLANATION)
    p = next(p for p in points if p["label"] == "tflite/dynamic_int8 litert" and p["kind"] == "best batch")
    # batch 32: 32 calls' FLOPs over the int8 weight bytes; 83,333 rows/s x 4.6 MFLOP = 383 G op/s
    assert p["batch_size"] == 32
    assert p["intensity"] == pytest.approx(4.6e6 * 32 / 226000)
    assert p["gops"] == pytest.approx(4.6e6 * (32 * 3 / (3 * 384e-6)) / 1e9)
    assert not [p for p in points if "[cuda]" in p["label"]]  # CPU ceilings: CPU points only
    assert {p["model"] for p in points if p["label"].startswith("onnx/fp16")} == {"simple_cnn"}  # no fp16 bytes


def test_layer_times_figure(tmp_path):
    assert figures.layer_times(None, tmp_path / "l.png") is None
    assert figures.layer_times_missing(replace(EXPLANATION, models={})) == "the explanation has no per-layer times"
    assert _is_png(figures.layer_times(EXPLANATION, tmp_path / "layers.png"))


def test_training_curves_copied_or_redrawn(tmp_path):
    with_png = _exported(tmp_path / "a", with_png=True)
    out = figures.training_curves(with_png, json.loads((with_png / "manifest.json").read_text())["models"],
                                  tmp_path / "out_a")
    assert out == {"simple_cnn": tmp_path / "out_a" / "training-simple_cnn.png"}
    assert out["simple_cnn"].read_bytes() == (with_png / "simple_cnn" / "training.png").read_bytes()

    no_png = _exported(tmp_path / "b", with_png=False)
    out = figures.training_curves(no_png, json.loads((no_png / "manifest.json").read_text())["models"],
                                  tmp_path / "out_b")
    assert _is_png(out["simple_cnn"])
    assert figures.training_curves(tmp_path / "c", {"m": {"history": "m/history.json"}}, tmp_path / "out_c") == {}


# --- report -----------------------------------------------------------------------------------


def _results_dir(folder: Path) -> Path:
    folder.mkdir(parents=True)
    shutil.copy(DATA, folder / "bench-20260101-120000.json")
    return folder


def _links(report: Path) -> list[str]:
    return re.findall(r"!\[[^\]]*\]\(([^)]+)\)", report.read_text())


def test_report_with_every_input(tmp_path):
    results_dir = _results_dir(tmp_path / "results")
    (results_dir / "check-20260101-130000.json").write_text(json.dumps(CHECK))
    (results_dir / "explain-20260101-140000.json").write_text(json.dumps(EXPLAIN))
    exported = _exported(tmp_path / "exported", with_png=False)
    messages: list[str] = []
    path = write_report(exported, results_dir, tmp_path / "report", log=messages.append)
    assert path == tmp_path / "report" / "report.md"
    text = path.read_text()
    for heading in ("# Inference benchmark report", "## Machine", "## Deployment decisions",
                    "## Latency and throughput", "### simple_cnn", "### alexnet_fashion", "## Accuracy",
                    "## Why: cost, roofline and layers", "## Training", "## Inputs"):
        assert f"\n{heading}\n" in f"\n{text}"
    links = _links(path)
    assert {Path(link).name for link in links} == {"latency-batch1.png", "latency-vs-batch.png", "roofline.png",
                                                   "layer-times.png", "training-simple_cnn.png"}
    for link in links:
        assert not Path(link).is_absolute() and _is_png(path.parent / link)
    # The decision table uses the check: the fastest qualifying artifact, not the excluded one.
    assert "| simple_cnn | lowest p50 at batch 1, within 1 point of Keras accuracy | tflite/dynamic_int8 via litert" \
           in re.sub(r" +\|", " |", re.sub(r"\| +", "| ", text))
    assert "1 of 2 artifact(s) passed" in text
    assert "FAIL: accuracy drop 1.50 points > 1 point" in text
    assert "AlexNet is compute-bound" in text
    assert "196x the FLOPs \\| compute-bound" in text  # a pipe inside a cell is escaped
    assert "NVIDIA H200" in text and "91.36%" in text
    assert "No accuracy check found" not in text and "No explanation found" not in text
    assert not any(m.startswith("report: figure") for m in messages)  # no figure failed


def test_report_names_the_missing_inputs(tmp_path):
    results_dir = _results_dir(tmp_path / "results")
    path = write_report(tmp_path / "no-export", results_dir, tmp_path / "report", log=lambda m: None)
    text = path.read_text()
    assert "_No accuracy check found; run `infer-bench check`._" in text
    assert "_No explanation found; run `infer-bench explain`._" in text
    assert "run `infer-bench train-export`" in text
    assert "fp32 artifacts only" in text
    assert {Path(link).name for link in _links(path)} == {"latency-batch1.png", "latency-vs-batch.png"}
    assert "%" not in text.split("## Accuracy")[1].split("## Why")[0]  # no accuracy number is made up


def test_report_refuses_an_unknown_check_version(tmp_path):
    results_dir = _results_dir(tmp_path / "results")
    (results_dir / "check-20260101-130000.json").write_text(json.dumps({"schema_version": 99, "results": []}))
    text = write_report(tmp_path / "x", results_dir, tmp_path / "report", log=lambda m: None).read_text()
    assert "could not be used" in text and "schema_version 99" in text


def test_an_explanation_from_another_machine_is_left_out(tmp_path):
    results_dir = _results_dir(tmp_path / "results")
    other = {**BENCH_ENVIRONMENT, "cpu_model": "Other CPU",
             "packages": {**BENCH_ENVIRONMENT["packages"], "onnxruntime-gpu": "1.20.0"}}
    (results_dir / "explain-20260101-140000.json").write_text(json.dumps({**EXPLAIN, "environment": other}))
    messages: list[str] = []
    path = write_report(tmp_path / "x", results_dir, tmp_path / "report", log=messages.append)
    why = path.read_text().split("## Why")[1].split("## Training")[0]
    assert "could not be used" in why and "another machine setup" in why
    assert "cpu model differs: Test CPU (hand-made fixture) vs Other CPU" in why
    assert "onnxruntime-gpu differs: 1.31.1 vs 1.20.0" in why
    assert "AlexNet is compute-bound" not in why and "Measured ceilings" not in why  # nothing of it mixed in
    assert {Path(link).name for link in _links(path)} == {"latency-batch1.png", "latency-vs-batch.png"}
    assert any("another machine setup" in m for m in messages)

    # An explanation written before environments were recorded is used as before.
    (results_dir / "explain-20260101-150000.json").write_text(
        json.dumps({k: v for k, v in EXPLAIN.items() if k != "environment"}))
    text = write_report(tmp_path / "x", results_dir, tmp_path / "report2", log=lambda m: None).read_text()
    assert "AlexNet is compute-bound" in text and "roofline.png" in text


def test_a_damaged_explanation_costs_its_section_only(tmp_path):
    results_dir = _results_dir(tmp_path / "results")
    (results_dir / "explain-20260101-140000.json").write_text("{not json")
    (results_dir / "check-20260101-130000.json").write_text(json.dumps({**CHECK, "results": [{"model": "x"}]}))
    text = write_report(tmp_path / "x", results_dir, tmp_path / "report", log=lambda m: None).read_text()
    assert "_The explanation could not be used (Cannot read explanation file" in text
    assert "_The accuracy check could not be used (" in text and "lacks format" in text
    assert "## Latency and throughput" in text and "fp32 artifacts only" in text


def test_no_results_is_a_clear_error(tmp_path):
    with pytest.raises(InferBenchError, match="No benchmark results in") as info:
        write_report(tmp_path / "exported", tmp_path / "missing", tmp_path / "report")
    assert "infer-bench bench" in str(info.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InferBenchError, match="No benchmark results in"):
        write_report(tmp_path / "exported", tmp_path / "empty", tmp_path / "report")
    assert not (tmp_path / "report").exists()


def test_latest_json_and_md_table(tmp_path):
    for name in ("check-20260101-120000.json", "check-20260102-090000.json", "check-20260102-090000-2.json",
                 "explain-20260103-000000.json"):
        (tmp_path / name).write_text("{}")
    assert latest(tmp_path, "check").name == "check-20260102-090000-2.json"
    assert latest(tmp_path, "bench") is None
    assert latest(tmp_path / "nope", "check") is None
    assert md_table([["a|b", "c\nd"]], ["x", "y"]).splitlines()[2] == "| a\\|b | c d |"
