"""End to end: ``train-export --quick`` on real data subsets produces every artifact, each loads and agrees."""

import dataclasses
import json
import re

import numpy as np
import pytest

from infer_bench.data import load_test_set
from infer_bench.export import ARTIFACTS
from infer_bench.manifest import load_manifest, verify_entry
from infer_bench.models import MODELS

from conftest import QUICK_EXPORT_MODELS
from infer_bench.runtimes import LoadOptions, get_runtime, runtimes_for_format
from infer_bench.train_export import Plan, run_train_export

pytestmark = pytest.mark.slow


def test_every_artifact_is_listed_with_its_fields(quick_export):
    manifest, _ = quick_export
    keys = {e.key for e in manifest.entries()}
    assert keys == {(m, k.format, k.quantization) for m in QUICK_EXPORT_MODELS for k in ARTIFACTS}
    raw = json.loads(manifest.path.read_text())
    assert raw["schema_version"] == 1 and raw["versions"]["tensorflow"].startswith("2.21")
    for entry in manifest.entries():
        verify_entry(manifest, entry)  # exists and matches its sha256
        assert entry.bytes > 0 and entry.input_dtype == "float32" and entry.input_shape[0] is None
    assert manifest.artifacts[("alexnet_fashion", "onnx", "fp32")].input_shape == [None, 28, 28, 1]
    for name in QUICK_EXPORT_MODELS:
        assert (manifest.folder / name / "history.json").exists()
        assert (manifest.folder / name / "training.png").stat().st_size > 1000
        assert "std_pts" in json.loads((manifest.folder / name / "history.json").read_text())["stability"]


def test_keras_file_holds_no_optimizer_state(quick_export):
    import io
    import zipfile

    import h5py

    manifest, _ = quick_export
    path = manifest.folder / manifest.artifacts[("simple_cnn", "keras", "fp32")].path
    with zipfile.ZipFile(path) as z:
        weights = h5py.File(io.BytesIO(z.read("model.weights.h5")), "r")
        assert "optimizer" not in weights
    assert path.stat().st_size < 1.2 * manifest.artifacts[("simple_cnn", "onnx", "fp32")].bytes


def test_no_partial_files_left_behind(quick_export):
    manifest, _ = quick_export
    assert not [p for p in manifest.folder.rglob("*") if ".partial" in p.name]


@pytest.mark.parametrize("model", QUICK_EXPORT_MODELS)
def test_each_artifact_loads_and_fp32_matches_keras(quick_export, model):
    manifest, _ = quick_export
    dataset = MODELS[model].dataset
    x, _ = load_test_set(dataset, limit=16)
    keras_path = manifest.folder / manifest.artifacts[(model, "keras", "fp32")].path
    reference = get_runtime("keras_call").load(keras_path, LoadOptions()).run(x)
    for entry in manifest.entries(models=[model]):
        for runtime in runtimes_for_format(entry.format):
            session = get_runtime(runtime).load(manifest.folder / entry.path, LoadOptions())
            out = session.run(x)
            session.close()
            assert out.shape == reference.shape, (entry.label, runtime)
            assert np.all(np.isfinite(out)), (entry.label, runtime)
            if entry.quantization == "fp32":
                diff = float(np.max(np.abs(out - reference)))
                assert diff <= 1e-4, f"{entry.label} via {runtime}: max abs diff {diff:.2e} > 1e-4"


def test_second_run_reuses_up_to_date_artifacts(quick_export):
    manifest, _ = quick_export
    before = {k: e.sha256 for k, e in manifest.artifacts.items()}
    lines = []
    again = run_train_export(Plan(models=["simple_cnn"], out=manifest.folder, quick=True), log=lines.append)
    assert any("reusing trained model" in line for line in lines)
    assert sum("up to date, reused" in line for line in lines) == len(ARTIFACTS)
    assert {k: e.sha256 for k, e in again.artifacts.items()} == before


def test_a_missing_onnx_file_of_a_reused_model_is_exported_again(quick_export):
    # The reused model comes from keras.saving.load_model and has never been called, which Keras'
    # ONNX exporter refused ("The model provided has never called") until export_onnx_fp32 called it.
    manifest, _ = quick_export
    entry = manifest.artifacts[("simple_cnn", "onnx", "fp32")]
    (manifest.folder / entry.path).unlink()
    lines = []
    again = run_train_export(Plan(models=["simple_cnn"], out=manifest.folder, quick=True), log=lines.append)
    assert any("reusing trained model" in line for line in lines)
    assert any("onnx/fp32 written" in line for line in lines)
    verify_entry(again, again.artifacts[entry.key])


def test_a_damaged_artifact_is_rebuilt_on_rerun(quick_export):
    manifest, _ = quick_export
    entry = manifest.artifacts[("simple_cnn", "tflite", "fp16")]
    path = manifest.folder / entry.path
    path.write_bytes(path.read_bytes()[:100])
    lines = []
    again = run_train_export(Plan(models=["simple_cnn"], out=manifest.folder, quick=True), log=lines.append)
    assert any("tflite/fp16 written" in line for line in lines)
    verify_entry(again, again.artifacts[entry.key])
    assert load_manifest(manifest.folder).artifacts[entry.key].sha256 == again.artifacts[entry.key].sha256


def test_progress_names_each_step(quick_export):
    _, lines = quick_export
    steps = [line for line in lines if line.startswith("[")]
    per_model = 1 + len(ARTIFACTS)  # train (or reuse), then every row of the export table
    total = len(QUICK_EXPORT_MODELS) * per_model
    assert steps[0].startswith(f"[1/{total}]") and steps[-1].startswith(f"[{total}/{total}]")
    assert all(re.search(r"\(\d+ s elapsed, peak memory \d+\.\d GiB\)$", line) for line in steps), steps


def test_an_artifact_made_by_another_recipe_is_rebuilt(quick_export):
    """How an artifact is made is part of being up to date: older recipes are rebuilt, the rest reused."""
    manifest, _ = quick_export
    key = ("simple_cnn", "onnx", "static_int8")
    raw = json.loads(manifest.path.read_text())
    for entry in raw["artifacts"]:
        if (entry["model"], entry["format"], entry["quantization"]) == key:
            entry["recipe"] = "onnxruntime quantize_static, min/max calibration"  # what an older version wrote
    manifest.path.write_text(json.dumps(raw))
    lines = []
    again = run_train_export(Plan(models=["simple_cnn"], out=manifest.folder, quick=True), log=lines.append)
    assert any("onnx/static_int8 written" in line for line in lines)
    assert sum("up to date, reused" in line for line in lines) == len(ARTIFACTS) - 1
    recipe = next(k.recipe_for() for k in ARTIFACTS if (k.format, k.quantization) == key[1:])
    assert again.artifacts[key].recipe == recipe and "percentile" in recipe and "256 real training images" in recipe


def test_tflite_static_int8_runs_every_op_in_int8_but_the_classifier_head(quick_export):
    from infer_bench.export.tflite_formats import float_ops_inside, tflite_classifier_head

    manifest, _ = quick_export
    for model in QUICK_EXPORT_MODELS:
        static = manifest.folder / manifest.artifacts[(model, "tflite", "static_int8")].path
        content = static.read_bytes()
        head = tflite_classifier_head(content)
        assert float_ops_inside(content, allowed=head) == [], model
        # the head is the last dense layer and its softmax/sigmoid, in float; nothing else is
        assert sorted(float_ops_inside(content)) == (["FULLY_CONNECTED", "LOGISTIC"] if MODELS[model].binary
                                                     else ["FULLY_CONNECTED", "SOFTMAX"]), model
        fp32 = manifest.folder / manifest.artifacts[(model, "tflite", "fp32")].path
        assert "CONV_2D" in float_ops_inside(fp32.read_bytes())  # the check does see float ops


def test_onnx_int8_artifacts_quantize_what_they_say(quick_export):
    import onnx

    manifest, _ = quick_export
    path = manifest.folder / manifest.artifacts[("alexnet_fashion", "onnx", "dynamic_int8")].path
    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    # Dense layers in int8, convolutions left in fp32 (ConvInteger is slower than Conv on CPU).
    assert "DynamicQuantizeLinear" in ops or "DynamicQuantizeMatMul" in ops or "MatMulInteger" in ops, ops
    assert "ConvInteger" not in ops and "Conv" in ops
    path = manifest.folder / manifest.artifacts[("alexnet_fashion", "onnx", "static_int8")].path
    graph = onnx.load(str(path)).graph
    ops = [n.op_type for n in graph.node]
    assert ops.count("QuantizeLinear") > 5 and "Conv" in ops
    # Every convolution and every dense layer but the classifier reads int8 weights; the classifier
    # (last Gemm/MatMul) and the softmax stay float, so the output has no int8 grid.
    producer = {out: n for n in graph.node for out in n.output}
    weighted = [n for n in graph.node if n.op_type in ("Conv", "Gemm", "MatMul")]
    dequantized = [n for n in weighted if any(producer.get(i) is not None
                                              and producer[i].op_type == "DequantizeLinear" for i in n.input[1:2])]
    assert weighted[-1] not in dequantized and len(dequantized) == len(weighted) - 1, [n.name for n in dequantized]
    head = producer[graph.output[0].name]
    assert head.op_type == "Softmax" and all(producer.get(i) is None or producer[i].op_type != "DequantizeLinear"
                                             for i in head.input)


def test_the_seed_is_recorded_reused_when_equal_and_retrained_when_changed(tmp_path):
    import keras

    def weights(folder):
        model = keras.saving.load_model(folder / "simple_cnn" / "simple_cnn.keras", compile=False)
        return model.get_weights()[0]

    def train(seed, out):
        lines = []
        manifest = run_train_export(Plan(models=["simple_cnn"], out=out, quick=True, keras_only=True, seed=seed),
                                    log=lines.append)
        return manifest, lines

    manifest, _ = train(7, tmp_path / "a")
    assert manifest.models["simple_cnn"]["seed"] == 7
    assert json.loads((tmp_path / "a" / "simple_cnn" / "history.json").read_text())["seed"] == 7
    _, lines = train(7, tmp_path / "a")
    assert any("reusing trained model" in line for line in lines)
    seven = weights(tmp_path / "a")
    manifest, lines = train(8, tmp_path / "a")
    assert not any("reusing trained model" in line for line in lines) and manifest.models["simple_cnn"]["seed"] == 8
    assert not np.allclose(weights(tmp_path / "a"), seven, atol=1e-3)  # another initial draw
    train(7, tmp_path / "b")
    # The same seed, the same training (oneDNN's float reductions may differ in the last bits).
    np.testing.assert_allclose(weights(tmp_path / "b"), seven, atol=1e-4)


def test_mixed_bf16_training_saves_a_float32_model_and_an_explicit_precision_retrains(tmp_path):
    import keras

    lines = []
    plan = Plan(models=["simple_cnn"], out=tmp_path, quick=True, keras_only=True, training_precision="mixed_bfloat16")
    manifest = run_train_export(plan, log=lines.append)
    assert manifest.models["simple_cnn"]["training_precision"] == "mixed_bfloat16"
    history = json.loads((tmp_path / "simple_cnn" / "history.json").read_text())
    assert history["training_precision"]["ran"] == "mixed_bfloat16"
    assert any("training in mixed_bfloat16" in line for line in lines)
    # The saved model computes in float32: its exports must not carry bf16 casts.
    model = keras.saving.load_model(tmp_path / "simple_cnn" / "simple_cnn.keras", compile=False)
    assert {layer.dtype_policy.name for layer in model.layers} == {"float32"}
    assert model(np.zeros((1, 28, 28, 1), np.float32)).dtype == "float32"
    assert keras.mixed_precision.global_policy().name == "float32"  # the process's policy is put back
    lines.clear()
    run_train_export(dataclasses.replace(plan, training_precision="auto"), log=lines.append)
    assert any("reusing trained model" in line for line in lines)  # auto takes what is there
    lines.clear()
    manifest = run_train_export(dataclasses.replace(plan, training_precision="float32"), log=lines.append)
    assert not any("reusing trained model" in line for line in lines)
    assert manifest.models["simple_cnn"]["training_precision"] == "float32"


def test_the_validation_share_is_recorded_and_a_model_trained_on_another_is_retrained(tmp_path, data_root):
    from infer_bench.data import VALIDATION_SHARE
    from infer_bench.train_export import training_data, validation_share

    assert validation_share("fashion_mnist") == 0.1 and validation_share("cats_vs_dogs") == VALIDATION_SHARE
    full = training_data("fashion_mnist", data_root)
    assert (len(full.train), len(full.validation)) == (54_000, 6_000)
    old = training_data("fashion_mnist", data_root, share=0.2)  # what a manifest from before the change was trained on
    assert (len(old.train), len(old.validation)) == (48_000, 12_000)

    plan = Plan(models=["simple_cnn"], out=tmp_path, quick=True, keras_only=True)
    manifest = run_train_export(plan, log=lambda _: None)
    assert manifest.models["simple_cnn"]["validation_share"] == 0.1
    lines = []
    run_train_export(plan, log=lines.append)
    assert any("reusing trained model" in line for line in lines)
    # a manifest written before the share was recorded was trained on 80/20: retrained, not reused
    del manifest.models["simple_cnn"]["validation_share"]
    manifest.save()
    lines.clear()
    manifest = run_train_export(plan, log=lines.append)
    assert not any("reusing trained model" in line for line in lines)
    assert manifest.models["simple_cnn"]["validation_share"] == 0.1


def test_tflite_static_int8_keeps_a_convolutional_classifier_head_float(tmp_path, data_root):
    """A MobileNetV3-style head (1x1 "Logits" convolution, Flatten, softmax) exports: its SHAPE op is no float op."""
    import keras

    from infer_bench.data import load_test_set
    from infer_bench.export.keras_formats import export_savedmodel
    from infer_bench.export.tflite_formats import export_tflite, float_ops_inside, tflite_classifier_head

    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(8, 3, activation="relu"),
        keras.layers.GlobalAveragePooling2D(keepdims=True),
        keras.layers.Conv2D(10, 1, name="logits"),
        keras.layers.Flatten(),
        keras.layers.Activation("softmax"),
    ], name="conv_head")
    x, _ = load_test_set("fashion_mnist", data_root, limit=64)
    export_savedmodel(model, tmp_path / "sm")
    export_tflite(tmp_path / "sm", tmp_path / "m.tflite", "static_int8", x)
    content = (tmp_path / "m.tflite").read_bytes()
    head = tflite_classifier_head(content)
    assert float_ops_inside(content, allowed=head) == []
    # the head, walked back from the output, is the softmax, the reshape and the logits convolution
    assert any("logits" in name for name in head) and len(head) >= 3
    assert "CONV_2D" in float_ops_inside(content) and "SOFTMAX" in float_ops_inside(content)


def test_tflite_static_int8_is_the_same_file_whatever_the_converter_calibrates_on(tmp_path, data_root, monkeypatch):
    """The converter's own min/max only mark the tensors; the percentile pass over all images sets every range."""
    import keras

    from infer_bench.data import load_test_set
    from infer_bench.export import tflite_formats
    from infer_bench.export.keras_formats import export_savedmodel

    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(8, 3, activation="relu"),
        keras.layers.BatchNormalization(),
        keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(),
        keras.layers.Dense(16, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ], name="calib_small")
    x, _ = load_test_set("fashion_mnist", data_root, limit=48)
    export_savedmodel(model, tmp_path / "sm")
    files = {}
    for n in (1, len(x)):
        monkeypatch.setattr(tflite_formats, "CONVERTER_CALIBRATION_IMAGES", n)
        tflite_formats.export_tflite(tmp_path / "sm", tmp_path / f"m{n}.tflite", "static_int8", x)
        files[n] = (tmp_path / f"m{n}.tflite").read_bytes()
    assert files[1] == files[len(x)]
