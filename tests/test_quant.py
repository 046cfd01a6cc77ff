"""Quantization you can trust (issue 17): per-layer int8 error, the tightened budget, the repair loop.

One tiny real CNN (three convolutions) trained briefly on real Fashion-MNIST
rows, exported once per module to .keras, fp32 ONNX, ONNX static (QDQ) int8,
the SavedModel and TFLite static int8, listed in a real manifest. In both int8
files one layer's activation range is then deliberately mis-calibrated (its
int8 scale multiplied by ``SCALE_FACTOR``, as a calibration on the wrong
images would do): the check must rank that layer worst, and its repair must
keep that layer in float and pass.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import write_tiny_manifest
from infer_bench.check import run_check
from infer_bench.check.tolerances import (DEFAULT_TOLERANCES, INT8_BUDGET, ToleranceError, int8_budget_overrides,
                                          parse_overrides, tolerances_with_overrides)
from infer_bench.data import load_dataset, load_test_set, shipped_preprocess
from infer_bench.errors import InferBenchError
from infer_bench.export import artifact_filename
from infer_bench.export.keras_formats import export_savedmodel
from infer_bench.export.onnx_formats import export_onnx_dynamic_int8, export_onnx_fp32, export_onnx_static_int8
from infer_bench.fsutil import sha256_of
from infer_bench.manifest import load_manifest
from infer_bench.quant.onnx_layers import onnx_layer_scopes, onnx_layer_tensors
from infer_bench.quant.records import Repair, RepairAttempt
from infer_bench.quant.repair import Evaluation, RepairLimits, aside_path, measured_order, repair, scan_size
from infer_bench.quant.records import LayerError
from infer_bench.quant.sqnr import (fake_quant, layer_errors, rank_layers, rel_error, repair_candidates, sqnr_db,
                                    weight_sqnr_db)
from infer_bench.results.check import load_check, save_check
from infer_bench.export.calibration import calibration_images
from infer_bench.train_export import training_data

NAME = "tiny"
BAD_LAYER = "conv2d_1"  # the mis-calibrated one: the middle convolution
SCALE_FACTOR = 40.0
ROWS = 1000  # held-out rows the checks run on


def _tiny_model(x, y):
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        # Named: Keras numbers unnamed layers per session, so "conv2d_1" would depend on the tests run before.
        keras.layers.Conv2D(8, 3, activation="relu", name="conv2d"),
        keras.layers.Conv2D(16, 3, strides=2, activation="relu", name="conv2d_1"),
        keras.layers.Conv2D(16, 3, activation="relu", name="conv2d_2"),
        keras.layers.Flatten(name="flatten"),
        keras.layers.Dense(10, activation="softmax", name="dense"),
    ], name=NAME)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=3, batch_size=32, verbose=0)
    return model


def _miscalibrate_onnx(path, layer_scope: str) -> None:
    """Multiply the int8 scale of the layer's output activation by SCALE_FACTOR, in place."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    name = f"{layer_scope}/Relu:0_scale"
    init = next(i for i in model.graph.initializer if i.name == name)
    init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) * np.float32(SCALE_FACTOR), name))
    onnx.save(model, str(path))


def _miscalibrated_tflite(savedmodel, path, calibration, layer_scope: str) -> None:
    """TFLite static int8 made as the export makes it, but with the layer's calibrated range SCALE_FACTOR
    times too wide (edited between calibration and quantization, so every scale derived from it agrees)."""
    from tensorflow.lite.python import convert

    import flatbuffers
    import tensorflow as tf

    from infer_bench.export.calibration import CALIBRATION_PERCENTILE
    from infer_bench.export.tflite_formats import _converter, _model_object, _with_percentile_ranges

    _, conv = _converter(savedmodel)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([calibration[i:i + 1]] for i in range(len(calibration)))
    conv._experimental_calibrate_only = True
    model = _model_object(_with_percentile_ranges(conv.convert(), calibration, CALIBRATION_PERCENTILE))
    graph = model.subgraphs[0]
    for op in graph.operators:
        q = graph.tensors[op.outputs[0]].quantization
        if graph.tensors[op.outputs[0]].name.decode().startswith(layer_scope + "/") and q.min is not None:
            q.min, q.max = [v * SCALE_FACTOR for v in q.min], [v * SCALE_FACTOR for v in q.max]
    builder = flatbuffers.Builder(0)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    path.write_bytes(convert.mlir_quantize(bytes(builder.Output()), fully_quantize=False))


def _calibration(data_root):
    """The calibration set check's repair re-draws for a --quick Fashion-MNIST model (the manifest says quick)."""
    return calibration_images(training_data("fashion_mnist", data_root, quick=True), shipped_preprocess("fashion_mnist"))


def _make_export(folder, data_root):
    """The tiny model's artifacts and manifest in ``folder``; both static int8 files mis-calibrated."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    train = load_dataset("fashion_mnist", data_root, limit=2000)
    model = _tiny_model(train.x_train, train.y_train)
    calibration = _calibration(data_root)
    sub = folder / NAME
    sub.mkdir(parents=True)
    path = {(f, q): sub / artifact_filename(NAME, f, q) for f, q in [
        ("keras", "fp32"), ("onnx", "fp32"), ("onnx", "static_int8"), ("onnx", "dynamic_int8"),
        ("savedmodel", "fp32"), ("tflite", "static_int8")]}
    model.save(path["keras", "fp32"])
    export_onnx_fp32(model, path["onnx", "fp32"])
    export_onnx_static_int8(path["onnx", "fp32"], path["onnx", "static_int8"], calibration)
    export_onnx_dynamic_int8(path["onnx", "fp32"], path["onnx", "dynamic_int8"])
    export_savedmodel(model, path["savedmodel", "fp32"])
    scopes = onnx_layer_scopes(path["onnx", "fp32"], model)
    _miscalibrate_onnx(path["onnx", "static_int8"], scopes[BAD_LAYER])
    _miscalibrated_tflite(path["savedmodel", "fp32"], path["tflite", "static_int8"], calibration, scopes[BAD_LAYER])
    write_tiny_manifest(folder, NAME, path)
    return model, scopes


@pytest.fixture(scope="module")
def export(tmp_path_factory, data_root):
    """A pristine copy of the mis-calibrated export (copy it before a check repairs it)."""
    folder = tmp_path_factory.mktemp("quant") / "exported"
    model, scopes = _make_export(folder, data_root)
    return folder, model, scopes


def _copy(export, tmp_path):
    folder = tmp_path / "exported"
    shutil.copytree(export[0], folder)
    return folder


# The budget the module's checks are judged by: loose enough that this 2-epoch model's clean int8
# passes, tight enough that the mis-calibrated one fails.
LOOSE = {"static_int8": {"min_agreement": 0.95, "max_accuracy_drop_pts": 3.0}}


@pytest.fixture(scope="module")
def repaired(export, tmp_path_factory, data_root):
    """One check of a copy of the export with the repair on (at most 2 layers, 2 attempts)."""
    folder = tmp_path_factory.mktemp("repaired") / "exported"
    shutil.copytree(export[0], folder)
    before = load_manifest(folder)
    table = tolerances_with_overrides({"static_int8": {**LOOSE["static_int8"], "repair_max_float_layers": 2,
                                                       "repair_max_attempts": 2}})
    report = run_check(folder, data_dir=data_root, tolerances=table, limit=ROWS, log=lambda _: None)
    return folder, before, report


def _result(report, fmt, quantization="static_int8"):
    return next(r for r in report.entries if r.format == fmt and r.quantization == quantization)


# --- per-layer error ---------------------------------------------------------------------------------


def test_sqnr_and_relative_error_by_hand():
    ref = np.array([3.0, 4.0])  # signal power 25
    assert sqnr_db(ref, ref + [0.3, 0.4]) == pytest.approx(20.0)  # noise power 0.25: 10 log10(100)
    assert rel_error(ref, ref + [0.3, 0.4]) == pytest.approx(0.1)  # 0.5 / 5
    assert sqnr_db(ref, ref) == 200.0  # no noise: the cap, never inf
    # scale 0.5, zero point 0, int8: 0.74 -> 1 step (0.5), 100 -> clipped at 127 steps (63.5)
    assert fake_quant(np.array([0.74, 100.0, -0.2]), 0.5, 0).tolist() == [0.5, 63.5, -0.0]
    # per-channel: channel 0 step 1, channel 1 step 0.25
    assert fake_quant(np.array([[1.4, 1.4]]), [1.0, 0.25], [0, 0], axis=1).tolist() == [[1.0, 1.5]]
    with pytest.raises(InferBenchError, match="not positive"):
        fake_quant(np.ones(2), 0.0, 0)


@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
def test_the_miscalibrated_layer_is_ranked_worst_and_mapped_to_its_keras_name(repaired, fmt):
    _, _, report = repaired
    errors = _result(report, fmt).layer_errors
    assert errors[0].keras_layer == BAD_LAYER
    # ONNX keeps the classifier (the only dense layer here) float, so it has no int8 error to report
    quantized = {"conv2d", "conv2d_1", "conv2d_2"} | ({"dense"} if fmt == "tflite" else set())
    assert {e.keras_layer for e in errors} >= quantized
    assert fmt == "tflite" or "dense" not in {e.keras_layer for e in errors}
    # a 40x wider grid costs 20 log10(40) = 32 dB against the same layer's neighbours
    others = [e.grid_sqnr_db for e in errors[1:] if e.keras_layer.startswith("conv2d")]
    assert errors[0].grid_sqnr_db < min(others) - 20
    # every quantized convolution and dense layer has its int8 weights compared with its float ones: per-channel
    # int8 rounding of a trained kernel sits far above the mis-calibrated grid and far below exact
    weighted = {e.keras_layer: e.weight_sqnr_db for e in errors if e.weighted}
    assert set(weighted) >= quantized, weighted
    assert all(25 < v < 80 for v in weighted.values()), weighted
    assert all(e.weight_sqnr_db is None for e in errors if e.keras_layer == "flatten")
    assert repair_candidates(errors)[0] == BAD_LAYER and "flatten" not in repair_candidates(errors)


def test_own_noise_ranking_and_weightless_layers_by_hand():
    def err(name, grid, weight):
        return LayerError(name, "t", 20.0, 0.1, 0.0, grid, 0.0, 0.1, weight)

    # grid 30 dB + weights 30 dB: noise powers 1e-3 + 1e-3 -> 10 log10(1 / 2e-3) = 26.99 dB
    assert err("a", 30.0, 30.0).own_sqnr_db == pytest.approx(26.99, abs=0.01)
    assert err("a", 30.0, None).own_sqnr_db == 30.0 and not err("a", 30.0, None).weighted
    # the weights make "w" worse than "g" whose grid alone is worse; the pooling layer is ranked, never a candidate
    ranked = rank_layers([err("g", 28.0, 60.0), err("w", 31.0, 26.0), err("pool", 20.0, None)])
    assert [e.keras_layer for e in ranked] == ["pool", "w", "g"]
    assert repair_candidates(ranked) == ["w", "g"]
    # a layer with int8 weights but no output grid of its own (no error row) is still a candidate, after them
    from infer_bench.check.int8 import repair_order
    assert repair_order(ranked, ["first_conv", "g", "w", "first_conv"]) == ["w", "g", "first_conv"]
    # weights: signal 25 (3, 4), noise 0.25 (0.3, 0.4) over two tensors -> 20 dB
    assert weight_sqnr_db([(np.array([3.0]), np.array([3.3])), (np.array([4.0]), np.array([4.4]))]) == \
        pytest.approx(20.0)
    # a record written before weight SQNR existed still reads (the key is optional), and writes it back
    old = {k: v for k, v in err("a", 30.0, None).to_dict().items() if k != "weight_sqnr_db"}
    assert LayerError.from_dict(old) == err("a", 30.0, None)
    assert LayerError.from_dict(err("a", 30.0, 41.5).to_dict()).weight_sqnr_db == 41.5


def test_keeping_the_top_ranked_layer_in_float_helps_more_than_a_random_one(export, tmp_path, data_root):
    """The ablation: the same fault (BAD_LAYER's range) in every variant, one layer kept in float each."""
    folder, model, scopes = export
    fp32 = folder / NAME / artifact_filename(NAME, "onnx", "fp32")
    faulty = folder / NAME / artifact_filename(NAME, "onnx", "static_int8")
    calibration = _calibration(data_root)
    x, _ = load_test_set("fashion_mnist", data_root, limit=ROWS)
    ranking = [e.keras_layer for e in layer_errors(onnx_layer_tensors(fp32, faulty, model, x[:256]))]
    import onnxruntime as ort

    def outputs(path) -> np.ndarray:
        session = ort.InferenceSession(str(path))  # the input's name is Keras' (numbered per session)
        return session.run(None, {session.get_inputs()[0].name: x})[0]

    reference = outputs(fp32)

    def output_error(float_layer: str) -> float:
        path = tmp_path / f"{float_layer}.onnx"
        export_onnx_static_int8(fp32, path, calibration, float_scopes=(scopes[float_layer],))
        if float_layer != BAD_LAYER:  # the fault stays wherever its layer is still quantized
            _miscalibrate_onnx(path, scopes[BAD_LAYER])
        return float(np.abs(outputs(path) - reference).mean())

    randomly = str(np.random.default_rng(17).choice(ranking[1:]))
    assert output_error(ranking[0]) < output_error(randomly)


# --- the budget --------------------------------------------------------------------------------------


def test_the_int8_budget_is_data_and_an_option():
    for q in ("dynamic_int8", "static_int8"):
        row = DEFAULT_TOLERANCES[q]
        assert (row.min_agreement * 100, row.max_accuracy_drop_pts) == pytest.approx(INT8_BUDGET) == (99.0, 0.5)
    assert DEFAULT_TOLERANCES["static_int8"].repair_max_float_layers == 3
    assert DEFAULT_TOLERANCES["dynamic_int8"].repair_max_attempts == 0  # no repair of dynamic int8
    table = tolerances_with_overrides(parse_overrides(int8_budget_overrides("99.5,0.25")))
    assert table["static_int8"].min_agreement == pytest.approx(0.995)
    assert table["dynamic_int8"].max_accuracy_drop_pts == 0.25
    table = tolerances_with_overrides(parse_overrides(["static_int8.repair_max_attempts=1"]))
    assert table["static_int8"].repair_max_attempts == 1 and isinstance(table["static_int8"].repair_max_attempts, int)
    for bad in ("99", "x,1", "101,0.5", "99,-1"):
        with pytest.raises(ToleranceError, match="int8-budget"):
            int8_budget_overrides(bad)
    with pytest.raises(ToleranceError, match="whole number"):
        tolerances_with_overrides(parse_overrides(["static_int8.repair_max_attempts=1.5"]))


def test_the_cli_int8_budget_option_reaches_the_plan(tmp_path):
    from infer_bench.cli import build_parser

    args = build_parser().parse_args(
        ["check", "--exported", str(tmp_path), "--int8-budget", "99.5,0.3", "--tolerance", "fp16.max_abs_diff=0.02"])
    assert "static_int8.min_agreement=0.995" in args.tolerance and "fp16.max_abs_diff=0.02" in args.tolerance


# --- the repair --------------------------------------------------------------------------------------


def test_scan_size_and_measured_order_by_hand(tmp_path):
    # the scan leaves room for the sets of 2..max_float_layers; equal limits scan the top-ranked layer only
    assert scan_size(RepairLimits(3, 10), 7) == 7 and scan_size(RepairLimits(3, 10), 20) == 8
    assert scan_size(RepairLimits(3, 3), 7) == 1 and scan_size(RepairLimits(3, 2), 7) == 1
    assert scan_size(RepairLimits(3, 10), 0) == 0 and scan_size(RepairLimits(0, 10), 5) == 0
    ev = lambda agreement, error=None: Evaluation(agreement, 0.0, ("short",), error)  # noqa: E731
    # agreement first, then the mean output error, then the error ranking; unscanned ones after, in ranking order
    scanned = [("a", ev(0.97, 0.02)), ("b", ev(0.985, 0.03)), ("c", ev(0.985, 0.01)), ("d", ev(None))]
    assert measured_order(scanned, ["e", "a"]) == ["c", "b", "a", "d", "e"]
    assert not RepairLimits(0, 3).enabled and not RepairLimits(3, 0).enabled
    with pytest.raises(InferBenchError, match="whole number"):
        RepairLimits(-1, 1)
    (tmp_path / "m.onnx").write_bytes(b"x")
    assert aside_path(tmp_path / "m.onnx").name == "m.unrepaired.onnx"
    (tmp_path / "m.unrepaired.onnx").write_bytes(b"y")
    assert aside_path(tmp_path / "m.onnx").name == "m.unrepaired-2.onnx"


class _ScriptedArtifact:
    """A fake artifact whose agreement is the sum of what each layer kept in float buys (for repair() by hand)."""

    def __init__(self, gains: dict[str, float], base: float = 0.97):
        self.gains, self.base, self.float_sets = gains, base, []

    def reexport(self, scopes, path):
        self.float_sets.append(tuple(scopes))
        tmp = path.with_name(path.name + ".tmp")  # a new file, renamed over the old, as the real re-exports do
        tmp.write_text(",".join(scopes))
        os.replace(tmp, path)

    def evaluate(self, path) -> Evaluation:
        agreement = self.base + sum(self.gains[s] for s in path.read_text().split(",") if s)
        return Evaluation(agreement, 0.0, () if agreement >= 0.99 else ("short",), 1.0 - agreement)


def test_the_repair_scans_layers_one_at_a_time_and_keeps_the_ones_that_help(tmp_path):
    path = tmp_path / "m_static_int8.onnx"
    path.write_text("original")
    scopes = {name: name for name in "abcd"}
    # the error ranking says a, b, c, d; only c (ranked third) and d help: the scan finds them
    fake = _ScriptedArtifact({"a": 0.0, "b": 0.001, "c": 0.012, "d": 0.008}, base=0.975)
    outcome = repair(path, ["a", "b", "c", "d"], scopes, RepairLimits(3, 10), ("short",), fake.reexport,
                     fake.evaluate, log=lambda _: None)
    assert fake.float_sets == [("a",), ("b",), ("c",), ("d",), ("c", "d")]
    assert outcome.repaired and outcome.float_layers == ("c", "d") and path.read_text() == "c,d"
    assert [a.float_layers for a in outcome.attempts][:4] == [("a",), ("b",), ("c",), ("d",)]

    # the scan stops at the first layer that passes on its own
    path.write_text("original")
    fake = _ScriptedArtifact({"a": 0.0, "b": 0.03, "c": 0.05, "d": 0.0})
    outcome = repair(path, ["a", "b", "c", "d"], scopes, RepairLimits(3, 10), ("short",), fake.reexport,
                     fake.evaluate, log=lambda _: None)
    assert fake.float_sets == [("a",), ("b",)] and outcome.float_layers == ("b",)


def test_equal_limits_follow_the_error_ranking_and_no_limit_is_exceeded(tmp_path):
    path = tmp_path / "m_static_int8.onnx"
    scopes = {name: name for name in "abcde"}
    for limits in (RepairLimits(3, 3), RepairLimits(2, 4), RepairLimits(3, 5), RepairLimits(1, 10)):
        path.write_text("original")
        fake = _ScriptedArtifact({name: 0.0 for name in "abcde"})  # nothing helps: every limit is reached
        outcome = repair(path, list("abcde"), scopes, limits, ("short",), fake.reexport, fake.evaluate,
                         log=lambda _: None)
        assert not outcome.repaired and path.read_text() == "original"
        assert len(fake.float_sets) <= limits.max_attempts
        assert max(len(s) for s in fake.float_sets) == min(limits.max_float_layers, 5)
        assert f"{len(fake.float_sets)} attempt(s)" in outcome.why
    # (3, 3): only the top-ranked layer is scanned, then the error ranking's top 2 and 3, as before the scan
    path.write_text("original")
    fake = _ScriptedArtifact({name: 0.0 for name in "abcde"})
    repair(path, list("abcde"), scopes, RepairLimits(3, 3), ("short",), fake.reexport, fake.evaluate,
           log=lambda _: None)
    assert fake.float_sets == [("a",), ("a", "b"), ("a", "b", "c")]


@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
def test_the_repair_keeps_the_worst_layer_in_float_and_passes(repaired, fmt):
    folder, before, report = repaired
    result = _result(report, fmt)
    assert result.passed and result.repair is not None and result.repair.repaired, result.reasons
    assert result.repair.float_layers == (BAD_LAYER,), result.repair.attempts
    assert len(result.repair.attempts) == 1 and result.repair.attempts[0].passed
    assert result.repair.original_reasons  # why it needed a repair
    assert result.repair.original_ms > 0 and result.repair.repaired_ms > 0  # the speed cost, timed
    key = (NAME, fmt, "static_int8")
    manifest = load_manifest(folder)
    assert manifest.artifacts[key].float_layers == (BAD_LAYER,)
    path = folder / manifest.artifacts[key].path
    assert sha256_of(path) == manifest.artifacts[key].sha256 != before.artifacts[key].sha256
    # the failed original kept aside, byte for byte
    assert sha256_of(result.repair.original_path) == before.artifacts[key].sha256
    from infer_bench.check.table import progress_line
    assert progress_line(1, 1, result).endswith(f"repaired: {BAD_LAYER} kept in float")


def test_the_check_record_keeps_layer_errors_and_the_repair(repaired, tmp_path):
    _, _, report = repaired
    loaded = load_check(save_check(report, tmp_path))
    assert loaded.to_dict() == report.to_dict()
    onnx = _result(loaded, "onnx")
    assert onnx.layer_errors == _result(report, "onnx").layer_errors and isinstance(onnx.repair, Repair)
    row = report.to_dict()["results"][report.entries.index(_result(report, "onnx"))]
    assert {"keras_layer", "sqnr_db", "rel_error"} <= set(row["layer_errors"][0])
    from infer_bench.check import format_layer_tables

    text = format_layer_tables(report)
    assert BAD_LAYER in text and "kept in float" in text


def test_repair_limits_are_applied_and_a_failure_says_why(export, tmp_path, data_root):
    folder = _copy(export, tmp_path)
    before = load_manifest(folder)
    # an impossible budget (every output within 1e-9) with 2 layers at most, 4 attempts allowed:
    # the scan tries the top 3 of the error ranking one at a time, then the 2 that helped most
    table = tolerances_with_overrides({"static_int8": {"max_abs_diff": 1e-9, "repair_max_float_layers": 2,
                                                       "repair_max_attempts": 4}})
    report = run_check(folder, data_dir=data_root, tolerances=table, limit=200, log=lambda _: None,
                       models=[NAME])
    onnx = _result(report, "onnx")
    assert not onnx.passed and not onnx.repair.repaired
    ranked = repair_candidates(onnx.layer_errors)
    scanned = [(layer,) for layer in ranked[:3]]
    attempts = [a.float_layers for a in onnx.repair.attempts]
    assert attempts[:-1] == scanned and len(attempts[-1]) == 2 and set(attempts[-1]) <= set(ranked)
    assert len(attempts) == min(3, len(ranked)) + 1 <= 4
    assert f"{len(attempts)} attempt(s)" in onnx.repair.why and "limits: 2 layers, 4 attempts" in onnx.repair.why
    assert any(r.startswith("not repaired: still failing") for r in onnx.reasons)
    # the original is back under its name, the manifest untouched
    key = (NAME, "onnx", "static_int8")
    assert sha256_of(folder / before.artifacts[key].path) == before.artifacts[key].sha256
    assert load_manifest(folder).artifacts[key].float_layers == ()
    assert not list((folder / NAME).glob("*.unrepaired*"))


def test_layer_errors_switched_off_measure_and_repair_nothing(export, tmp_path, data_root):
    """run --quick's check: static int8 judged as usual, no per-layer errors, no repair, and it says so."""
    folder = _copy(export, tmp_path)
    before = load_manifest(folder)
    report = run_check(folder, data_dir=data_root, tolerances=tolerances_with_overrides(LOOSE), limit=ROWS,
                       log=lambda _: None, layer_errors=False)
    for fmt in ("onnx", "tflite"):
        result = _result(report, fmt)
        assert not result.passed and result.repair is None and not result.layer_errors
        assert "not measured" in result.layer_error_note
    assert load_manifest(folder).artifacts == before.artifacts


def test_a_switched_off_repair_says_so(export, tmp_path, data_root):
    folder = _copy(export, tmp_path)
    table = tolerances_with_overrides({"static_int8": {**LOOSE["static_int8"], "repair_max_attempts": 0}})
    report = run_check(folder, data_dir=data_root, tolerances=table, limit=200, log=lambda _: None)
    for fmt in ("onnx", "tflite"):
        result = _result(report, fmt)
        assert not result.passed and result.repair.attempts == ()
        assert "switched off" in result.repair.why
        assert result.layer_errors[0].keras_layer == BAD_LAYER


def test_repair_records_refuse_nonsense():
    with pytest.raises(InferBenchError, match="does not say why"):
        Repair(False, (), (), None, ("x",))
    with pytest.raises(InferBenchError, match="no float layer"):
        Repair(True, (), (RepairAttempt(("a",), 1.0, 0.0, ()),), "p", ("x",))
    with pytest.raises(InferBenchError, match="keeps no layer"):
        RepairAttempt((), 1.0, 0.0, ())


def test_the_report_section_and_figure(repaired, tmp_path):
    from infer_bench.present.int8 import int8_section, layer_sqnr

    _, _, report = repaired
    figure = layer_sqnr(report, tmp_path / "figures" / "int8.png")
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = "\n".join(int8_section(report, figure, tmp_path))
    assert "![int8 SQNR per layer](figures/int8.png)" in text
    assert f"repaired: kept in float {BAD_LAYER}" in text and "tiny onnx/static_int8" in text
    assert text.count(f"| {BAD_LAYER} ") >= 2  # in both artifacts' tables
    assert layer_sqnr(None, tmp_path / "none.png") is None and int8_section(None, None, tmp_path) == []


# --- OpenVINO (NNCF) int8 ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def openvino_ir(export, tmp_path_factory, data_root):
    """The tiny model's NNCF int8 IR as train-export makes it, then BAD_LAYER's output range widened 40x."""
    import openvino as ov

    from infer_bench.export.openvino_formats import export_openvino_static_int8

    folder, model, scopes = export
    fp32 = folder / NAME / artifact_filename(NAME, "onnx", "fp32")
    calibration = _calibration(data_root)
    clean = tmp_path_factory.mktemp("ov") / "clean"
    export_openvino_static_int8(fp32, clean, calibration[:64])
    ir = ov.Core().read_model(str(clean / "model.xml"))
    widened = 0
    for op in ir.get_ordered_ops():
        source = op.input_value(0).get_node().get_friendly_name() if op.get_input_size() else ""
        if op.get_type_name() == "FakeQuantize" and source.startswith(scopes[BAD_LAYER] + "/"):
            for i in range(1, 5):
                data = op.input_value(i).get_node().get_data() * np.float32(SCALE_FACTOR)
                op.input(i).replace_source_output(ov.opset13.constant(data).output(0))
            widened += 1
    assert widened == 1
    bad = clean.parent / "bad"
    bad.mkdir()
    ov.save_model(ir, str(bad / "model.xml"), compress_to_fp16=False)
    return fp32, bad, model


def test_openvino_layer_errors_rank_the_miscalibrated_layer_worst(openvino_ir, data_root):
    from infer_bench.quant.openvino_layers import openvino_layer_scopes, openvino_layers

    fp32, bad, model = openvino_ir
    x, _ = load_test_set("fashion_mnist", data_root, limit=256)
    tensors, weights = openvino_layers(fp32, bad, model, x)
    errors = layer_errors(tensors, weights)
    assert errors[0].keras_layer == BAD_LAYER and repair_candidates(errors)[0] == BAD_LAYER
    # NNCF's grids are coarser than ONNX Runtime's here (its neighbours sit near 28 dB), so the margin is smaller
    others = [e.grid_sqnr_db for e in errors[1:] if e.keras_layer.startswith("conv2d")]
    assert others and errors[0].grid_sqnr_db < min(others) - 6
    assert set(weights) >= {"conv2d", "conv2d_1", "conv2d_2", "dense"}
    assert all(25 < v < 80 for v in weights.values()), weights
    assert openvino_layer_scopes(fp32, model)[BAD_LAYER] == onnx_layer_scopes(fp32, model)[BAD_LAYER]



def test_openvino_requantize_keeps_a_layer_in_float_and_refuses_unknown_scopes(openvino_ir, export, tmp_path):
    """The repair's OpenVINO re-export: NNCF's ignored_scope leaves the layer's ops without FakeQuantize."""
    import openvino as ov

    from infer_bench.check.int8 import requantize

    fp32, _, _ = openvino_ir
    scope = export[2][BAD_LAYER]
    calibration = load_test_set("fashion_mnist", limit=64)[0]

    def quantized_in_scope(folder):  # the layer's ops that read a FakeQuantize (their input or weights in int8)
        ops = ov.Core().read_model(str(folder / "model.xml")).get_ordered_ops()
        return sum(op.get_friendly_name().startswith(scope + "/") and any(
            op.input_value(i).get_node().get_type_name() == "FakeQuantize" for i in range(op.get_input_size()))
            for op in ops)

    requantize("openvino", fp32, tmp_path / "plain", calibration)
    requantize("openvino", fp32, tmp_path / "kept", calibration, (scope,))
    assert quantized_in_scope(tmp_path / "plain") >= 1 and quantized_in_scope(tmp_path / "kept") == 0
    with pytest.raises(InferBenchError, match="could not keep the layer scope"):
        requantize("openvino", fp32, tmp_path / "never", calibration, ("some/scope",))
    assert not (tmp_path / "never").exists()


def test_an_ir_folder_is_kept_aside_and_put_back_whole(tmp_path):
    # An OpenVINO IR is a folder: the repair must copy it aside and restore it (a file's hard link does not apply).
    from infer_bench.fsutil import atomic_path
    from infer_bench.quant.repair import Evaluation, repair

    ir = tmp_path / "m_static_int8_openvino"
    ir.mkdir()
    (ir / "model.xml").write_text("original xml")
    (ir / "model.bin").write_bytes(b"original weights")

    def reexport(scopes, path):
        with atomic_path(path) as tmp:
            tmp.mkdir()
            (tmp / "model.xml").write_text(f"float: {scopes}")
            (tmp / "model.bin").write_bytes(b"new weights")

    failing = repair(ir, ["conv"], {"conv": "scope/conv"}, RepairLimits(1, 1), ("agreement 98%",), reexport,
                     lambda path: Evaluation(0.98, -0.1, ("agreement 98%",)), log=lambda _: None)
    assert not failing.repaired and "still failing" in failing.why
    assert (ir / "model.xml").read_text() == "original xml" and (ir / "model.bin").read_bytes() == b"original weights"
    assert not list(tmp_path.glob("*.unrepaired*"))  # nothing left beside it

    passing = repair(ir, ["conv"], {"conv": "scope/conv"}, RepairLimits(1, 1), ("agreement 98%",), reexport,
                     lambda path: Evaluation(0.995, 0.0, ()), log=lambda _: None)
    assert passing.repaired and (ir / "model.xml").read_text() == "float: ('scope/conv',)"
    aside = Path(passing.original_path)
    assert aside.is_dir() and (aside / "model.xml").read_text() == "original xml"


def test_the_classifier_head_is_walked_back_from_the_output_to_the_last_weighted_node():
    from types import SimpleNamespace as N

    from infer_bench.export.onnx_formats import classifier_head

    nodes = [N(name="conv", op_type="Conv", input=["x", "w0"], output=["c"]),
             N(name="relu", op_type="Relu", input=["c"], output=["r"]),
             N(name="flat", op_type="Reshape", input=["r", "shape"], output=["f"]),
             N(name="dense", op_type="MatMul", input=["f", "w1"], output=["m"]),
             N(name="bias", op_type="Add", input=["m", "b1"], output=["a"]),
             N(name="sigmoid", op_type="Sigmoid", input=["a"], output=["y"])]
    assert classifier_head(nodes, ["y"]) == ["sigmoid", "bias", "dense"]
    assert classifier_head(nodes, ["r"]) == ["relu", "conv"]
    assert classifier_head(nodes, ["x"]) == []  # a graph input: nothing produces it

