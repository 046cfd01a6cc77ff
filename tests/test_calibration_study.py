"""The calibration study (issue 17 item 3): the spread by hand, the record, the options, and one real study.

The real study runs on a tiny two-convolution CNN trained for a few steps on
real Fashion-MNIST rows, exported to .keras, fp32 ONNX + QDQ int8 and
SavedModel + TFLite int8 with a real manifest, re-quantized on 8 and 16
training images x 2 seeds per format and checked on 300 held-out rows.
"""

from __future__ import annotations

import tempfile

import numpy as np
import pytest

from conftest import write_tiny_manifest
from infer_bench.errors import InferBenchError
from infer_bench.quant.calibration_spread import Spread, spread_rows
from infer_bench.quant.calibration_study import StudyPlan, eta_text, parse_sizes, run_calibration_study, seed_values
from infer_bench.results.calibration import CalibrationPoint, CalibrationStudy, load_calibration_study

NAME = "calib_tiny"


def _point(fmt="onnx", size=64, seed=42, agreement=0.99, ref=0.90, acc=0.89, reasons=(), error=""):
    if error:
        return CalibrationPoint("m", fmt, size, seed, size, None, None, None, None, error=error)
    return CalibrationPoint("m", fmt, size, seed, size, "onnxruntime", ref, acc, agreement, reasons)


# --- pure: the spread, the record, the options ---------------------------------------------------


def test_spread_by_hand():
    points = [_point(size=64, seed=42, agreement=0.97, acc=0.88, reasons=("x",)),
              _point(size=64, seed=43, agreement=0.99, acc=0.90),
              _point(size=64, seed=44, agreement=0.98, acc=0.895, reasons=("y",)),
              _point(size=256, seed=42, error="re-quantization failed: boom"),
              _point(size=256, seed=43, agreement=0.995, acc=0.90),
              _point(fmt="tflite", size=64, seed=42, agreement=1.0, acc=0.90)]
    rows = spread_rows(points)
    assert [(r.format, r.size) for r in rows] == [("onnx", 64), ("onnx", 256), ("tflite", 64)]
    first = rows[0]
    assert (first.agreement.low, first.agreement.median, first.agreement.high) == (0.97, 0.98, 0.99)
    # drops: (0.90 - 0.88) = 2, 0, 0.5 points
    assert first.drop_pts.low == pytest.approx(0.0) and first.drop_pts.median == pytest.approx(0.5)
    assert first.drop_pts.high == pytest.approx(2.0) and first.agreement.width == pytest.approx(0.02)
    assert (first.seeds, first.passed, first.failed) == (3, 1, 0)
    second = rows[1]
    assert (second.seeds, second.failed, second.passed, second.agreement.low) == (2, 1, 1, 0.995)
    assert Spread.of([None]) == Spread(None, None, None) and Spread.of([]).width is None


def test_points_and_study_refuse_nonsense_and_round_trip(tmp_path):
    with pytest.raises(InferBenchError, match="either figures or an error"):
        CalibrationPoint("m", "onnx", 64, 42, 64, None, None, None, None)  # neither
    with pytest.raises(InferBenchError, match="either figures or an error"):
        CalibrationPoint("m", "onnx", 64, 42, 64, "ort", 0.9, 0.9, 0.99, error="x")  # both
    with pytest.raises(InferBenchError, match="size"):
        CalibrationPoint("m", "onnx", 0, 42, 0, "ort", 0.9, 0.9, 0.99)
    with pytest.raises(InferBenchError, match="top1_agreement"):
        CalibrationPoint("m", "onnx", 64, 42, 64, "ort", 0.9, 0.9, 1.5)
    with pytest.raises(InferBenchError, match="without sizes"):
        CalibrationStudy("now", "e", (), (42,), None, 1.0, {}, ())
    study = CalibrationStudy("2026-12-02T05:00:00+00:00", "exported", (64, 256), (42, 43), 300, 12.5,
                             {"static_int8": {"min_agreement": 0.99}},
                             (_point(), _point(size=256, error="re-quantization failed: boom")), {"cpu": "x"})
    path = study.save(tmp_path)
    assert path.name == "calibration-20261202-050000.json"
    assert load_calibration_study(path) == study
    assert study.save(tmp_path).name.endswith("-2.json")  # never overwritten
    with pytest.raises(InferBenchError, match="schema_version"):
        CalibrationStudy.from_dict({**study.to_dict(), "schema_version": 99})


def test_sizes_seeds_and_progress_by_hand():
    assert parse_sizes("64, 256,1024") == (64, 256, 1024)
    for bad, match in (("64,x", "comma-separated"), ("0,64", "not allowed"), ("64,64", "repeat"), ("", "comma")):
        with pytest.raises(InferBenchError, match=match):
            parse_sizes(bad)
    assert seed_values(3) == (42, 43, 44)
    for bad in (0, 21, True):
        with pytest.raises(InferBenchError, match="--seeds"):
            seed_values(bad)
    assert eta_text(0, 10, 5.0) == "(5 s elapsed, estimating time left)"
    assert eta_text(2, 10, 20.0) == "(20 s elapsed, about 80 s left)"  # 10 s a step, 8 steps left
    assert eta_text(1, 11, 60.0) == "(60 s elapsed, about 10 min left)"


def test_plan_and_cli_options_are_validated_before_any_work(tmp_path):
    from infer_bench.cli import build_parser

    args = build_parser().parse_args(["calibration-study", "--exported", str(tmp_path), "--sizes", "8,16",
                                      "--seeds", "2", "--int8-budget", "98,1"])
    assert (args.sizes, args.seeds) == ("8,16", 2) and "static_int8.min_agreement=0.98" in args.tolerance
    with pytest.raises(InferBenchError, match="no manifest.json"):
        args.build_plan(args)  # nothing exported: refused, naming train-export
    with pytest.raises(InferBenchError, match="--limit"):
        StudyPlan(exported=tmp_path, limit=0)
    with pytest.raises(InferBenchError, match="repeat"):
        StudyPlan(exported=tmp_path, sizes=(8, 8))
    existing = tmp_path / "taken.json"
    existing.write_text("{}")
    with pytest.raises(InferBenchError, match="already exists"):
        StudyPlan(exported=tmp_path, json_path=existing)


def test_a_users_model_or_a_missing_reference_is_refused_before_any_work(tmp_path):
    from infer_bench.manifest import Manifest
    from infer_bench.quant.calibration_study import study_inputs

    manifest = Manifest(tmp_path)
    manifest.models["mine"] = {"preprocess": {"size": [28, 28]}, "data": "photos/"}
    with pytest.raises(InferBenchError, match="your own data"):
        study_inputs(manifest, "mine")
    manifest.models["no_keras"] = {"dataset": "fashion_mnist"}
    with pytest.raises(InferBenchError, match="no Keras model"):
        study_inputs(manifest, "no_keras")


# --- one real study --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_export(tmp_path_factory, data_root):
    """A tiny CNN's .keras, fp32/int8 ONNX and SavedModel/int8 TFLite, listed in a real manifest."""
    import keras

    from infer_bench.data import load_dataset
    from infer_bench.export import artifact_filename
    from infer_bench.export.keras_formats import export_savedmodel
    from infer_bench.export.onnx_formats import export_onnx_fp32, export_onnx_static_int8
    from infer_bench.export.tflite_formats import export_tflite

    train = load_dataset("fashion_mnist", data_root, limit=512)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(8, 3, strides=2, activation="relu"),
                              keras.layers.Conv2D(8, 3, strides=2, activation="relu"), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax")], name=NAME)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(train.x_train, train.y_train, epochs=2, batch_size=32, verbose=0)
    folder = tmp_path_factory.mktemp("calib") / "exported"
    sub = folder / NAME
    sub.mkdir(parents=True)
    path = {(f, q): sub / artifact_filename(NAME, f, q) for f, q in [
        ("keras", "fp32"), ("onnx", "fp32"), ("onnx", "static_int8"), ("savedmodel", "fp32"),
        ("tflite", "static_int8")]}
    model.save(path["keras", "fp32"])
    export_onnx_fp32(model, path["onnx", "fp32"])
    export_onnx_static_int8(path["onnx", "fp32"], path["onnx", "static_int8"], train.x_train[:64])
    export_savedmodel(model, path["savedmodel", "fp32"])
    export_tflite(path["savedmodel", "fp32"], path["tflite", "static_int8"], "static_int8", train.x_train[:64])
    write_tiny_manifest(folder, NAME, path)
    return folder


@pytest.fixture(scope="module")
def study(tiny_export, data_root, tmp_path_factory):
    """The study of the tiny export (2 formats x sizes 8, 16 x 2 seeds), its temporary folder watched."""
    from infer_bench.fsutil import sha256_of
    from infer_bench.manifest import load_manifest

    before = {k: sha256_of(tiny_export / e.path) for k, e in load_manifest(tiny_export).artifacts.items()}
    scratch = tmp_path_factory.mktemp("scratch")
    lines: list[str] = []
    old, tempfile.tempdir = tempfile.tempdir, str(scratch)  # where the re-quantized files go, to see them removed
    try:
        result = run_calibration_study(StudyPlan(exported=tiny_export, sizes=(8, 16), seeds=2, limit=300,
                                                 data_dir=str(data_root)), None, lines.append)
    finally:
        tempfile.tempdir = old
    after = {k: sha256_of(tiny_export / e.path) for k, e in load_manifest(tiny_export).artifacts.items()}
    return result, lines, before, after, scratch


def test_every_size_seed_and_format_is_requantized_and_checked(study):
    result, lines, before, after, scratch = study
    keys = [(p.format, p.size, p.seed) for p in result.points]
    assert keys == [(f, s, seed) for f in ("onnx", "tflite") for s in (8, 16) for seed in (42, 43)]
    for p in result.points:
        assert p.measured, p.error
        assert p.images == p.size and p.runtime == {"onnx": "onnxruntime", "tflite": "litert"}[p.format]
        assert 0 < p.top1_agreement <= 1 and p.reference_accuracy > 0.3  # trained, not chance
        assert p.passed == (not p.reasons)
    # different calibration draws give different int8 models: not every point agrees alike
    assert len({p.top1_agreement for p in result.points}) > 1
    assert result.test_rows == 300 and result.seeds == (42, 43) and result.tolerances["static_int8"]["min_agreement"]
    assert before == after  # the manifest's artifacts untouched
    assert not list(scratch.iterdir())  # the temporary artifacts removed


def test_progress_counts_every_requantization_and_check(study):
    _, lines, *_ = study
    steps = [line for line in lines if line.startswith("[")]
    assert steps[0].startswith("[1/16] calib_tiny onnx: quantized on 8 images, seed 42")
    assert steps[-1].startswith("[16/16] check ") and len(steps) == 16
    assert all("elapsed" in line for line in steps) and "left)" in steps[1]


def test_table_figure_and_record(study, tmp_path):
    from infer_bench.present.calibration import draw_study, format_study, study_markdown

    result = study[0]
    text = format_study(result)
    assert "300 held-out rows" in text and "agreement >= 99.0%" in text
    assert text.count(NAME) == 4  # one row per format and size
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in study_markdown(result).splitlines()]
    assert ["calib_tiny", "tflite", "16"] in [row[:3] for row in cells]
    figure = draw_study(result, tmp_path / "calibration.png")
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert load_calibration_study(result.save(tmp_path)) == result
