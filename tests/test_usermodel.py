"""A user's Keras model: loaded from .keras or a SavedModel folder, described, or refused with a clear message.

Tiny real models are built here and saved; they are run on real Fashion-MNIST
test images, and class names come from the real data (its labels, the
Cats vs Dogs folders).
"""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from infer_bench.errors import ArtifactError, DataError, InferBenchError
from infer_bench.idx import IMAGES_MAGIC, LABELS_MAGIC, read_idx
from infer_bench.usermodel import (OUTPUT_KINDS, ModelInfo, check_classes, inspect_model, load_user_model,
                                   predicted_classes_for, probabilities)

keras = pytest.importorskip("keras")
L = keras.layers
ROWS = 32


@pytest.fixture(scope="module")
def fashion(data_root):
    """32 real Fashion-MNIST test images (N, 28, 28, 1), raw 0..255 floats, and the dataset's class names."""
    folder = data_root / "fashion-mnist"
    x = read_idx(folder / "t10k-images-idx3-ubyte.gz", IMAGES_MAGIC)[:ROWS].astype(np.float32)[..., None]
    labels = read_idx(folder / "t10k-labels-idx1-ubyte.gz", LABELS_MAGIC)
    return x, [str(c) for c in np.unique(labels)]


@pytest.fixture(scope="module")
def catsdogs_classes(data_root):
    return sorted(p.name for p in (data_root / "cats-vs-dogs" / "train").iterdir() if p.is_dir())


def cnn(*head, input_shape=(28, 28, 1), rescale=False):
    """A small CNN ending in ``head``, optionally starting with Rescaling(1/255)."""
    body = [L.Rescaling(1 / 255)] if rescale else []
    return keras.Sequential([keras.Input(input_shape), *body, L.Conv2D(4, 3, activation="relu"),
                             L.GlobalAveragePooling2D(), *head])


def saved_and_loaded(model, tmp_path, name="model.keras", unsafe=False):
    path = tmp_path / name
    model.save(path)
    return load_user_model(path, unsafe=unsafe)


def same_outputs(a, b, x):
    np.testing.assert_allclose(a.predict(x, verbose=0), b.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- output kinds and rescaling


@pytest.mark.parametrize("head, kind, k, n_classes", [
    ((L.Dense(10, activation="softmax"),), "softmax", 10, 10),
    ((L.Dense(1, activation="sigmoid"),), "sigmoid", 1, 2),
    ((L.Dense(10),), "logits", 10, 10),
    ((L.Dense(10), L.Activation("softmax"), L.Dropout(0.2)), "softmax", 10, 10),
    ((L.Dense(10), L.Softmax()), "softmax", 10, 10),
    ((L.Dense(1), L.Activation("sigmoid"), L.Flatten()), "sigmoid", 1, 2),
], ids=["softmax", "sigmoid", "logits", "activation_then_dropout", "softmax_layer", "sigmoid_activation"])
def test_output_kind_is_read_from_the_saved_model(head, kind, k, n_classes, tmp_path, fashion):
    original = cnn(*head)
    model = saved_and_loaded(original, tmp_path)
    info = inspect_model(model)
    assert (info.input_shape, info.n_outputs, info.output_kind, info.n_classes) == ((28, 28, 1), k, kind, n_classes)
    assert info.rescaling is None and info.default_scale() == "1/255"
    same_outputs(original, model, fashion[0] / 255)


def test_rescaling_layer_is_reported_and_defaults_the_scale_to_none(tmp_path, fashion):
    model = saved_and_loaded(cnn(L.Dense(10, activation="softmax"), rescale=True), tmp_path)
    info = inspect_model(model)
    assert info.rescaling == "Rescaling(scale=1/255, offset=0)" and info.default_scale() == "none"
    assert predicted_classes_for(model.predict(fashion[0], verbose=0), info.output_kind).shape == (ROWS,)


def test_nested_keras_applications_backbone(tmp_path, fashion):
    backbone = keras.applications.MobileNetV3Small(input_shape=(32, 32, 3), weights=None, classes=3)
    model = saved_and_loaded(keras.Sequential([keras.Input((32, 32, 3)), backbone]), tmp_path)
    info = inspect_model(model)
    # Its head ends Conv2D(linear) -> Flatten -> Activation(softmax); its own first layer rescales to [-1, 1].
    assert (info.input_shape, info.output_kind, info.n_classes) == ((32, 32, 3), "softmax", 3)
    assert info.rescaling == "Rescaling(scale=1/127.5, offset=-1)" and info.default_scale() == "none"


def test_backbone_without_top_then_own_head():
    backbone = keras.applications.MobileNetV3Small(input_shape=(32, 32, 3), weights=None, include_top=False,
                                                   pooling="avg", include_preprocessing=False)
    info = inspect_model(keras.Sequential([keras.Input((32, 32, 3)), backbone, L.Dense(5)]))
    assert (info.output_kind, info.n_classes, info.rescaling) == ("logits", 5, None)


# ---------------------------------------------------------------- --output


def test_declared_output_is_checked_against_the_activation():
    with pytest.raises(InferBenchError, match="--output logits contradicts .*activation 'softmax'.*pass --output "
                                              "softmax"):
        inspect_model(cnn(L.Dense(10, activation="softmax")), output="logits")
    assert inspect_model(cnn(L.Dense(10, activation="softmax")), output="softmax").output_kind == "softmax"
    with pytest.raises(InferBenchError, match="Unknown output kind 'probs'.*softmax, sigmoid, logits"):
        inspect_model(cnn(L.Dense(10)), output="probs")


def test_undetectable_output_needs_output_and_accepts_it():
    model = cnn(L.Dense(10, activation="relu"))
    with pytest.raises(InferBenchError, match="Cannot tell .*Dense layer .* activation 'relu'.*--output"):
        inspect_model(model)
    assert inspect_model(model, output="logits").output_kind == "logits"


# ---------------------------------------------------------------- refusals


def two_inputs():
    a, b = keras.Input((28, 28, 1)), keras.Input((28, 28, 1))
    return keras.Model([a, b], L.Dense(3, activation="softmax")(L.Flatten()(L.Add()([a, b]))))


def two_outputs():
    image = keras.Input((28, 28, 1))
    flat = L.Flatten()(image)
    return keras.Model(image, [L.Dense(3, activation="softmax")(flat), L.Dense(2, activation="softmax")(flat)])


@pytest.mark.parametrize("build, found", [
    (two_inputs, r"has 2 inputs \(\(None, 28, 28, 1\), \(None, 28, 28, 1\)\)"),
    (lambda: keras.Sequential([keras.Input((28, 28)), L.Flatten(), L.Dense(3, activation="softmax")]),
     r"input \(None, 28, 28\): not an image input"),
    (lambda: cnn(L.Dense(3, activation="softmax"), input_shape=(28, 28, 2)), r"input \(None, 28, 28, 2\)"),
    (lambda: cnn(L.Dense(3, activation="softmax"), input_shape=(None, None, 3)), r"input \(None, None, None, 3\)"),
    (two_outputs, r"has 2 outputs \(\(None, 3\), \(None, 2\)\)"),
    (lambda: keras.Sequential([keras.Input((28, 28, 1)), L.Conv2D(3, 1, activation="softmax")]),
     r"output \(None, 28, 28, 3\): not a classification output"),
    (lambda: cnn(L.Dense(4, activation="sigmoid")), "4 sigmoid outputs: a multi-label output"),
    (lambda: cnn(L.Dense(1, activation="softmax")), "1 softmax output unit: a classifier needs K >= 2"),
    (lambda: cnn(L.Dense(1)), "1 logits output unit"),
], ids=["two_inputs", "rank3_input", "two_channels", "unknown_hw", "two_outputs", "segmentation", "multi_label",
        "softmax_one_unit", "one_logit"])
def test_unsupported_models_are_refused_saying_what_was_found(build, found):
    with pytest.raises(InferBenchError, match=found) as err:
        inspect_model(build())
    assert "Fix:" in str(err.value)


def test_class_count_must_fit_the_output(fashion, catsdogs_classes):
    ten = inspect_model(cnn(L.Dense(10, activation="softmax")))
    check_classes(ten, fashion[1])
    with pytest.raises(DataError, match=r"The data has 2 classes \(cats, dogs\) but model .* has 10 softmax units "
                                        r"\(10 classes\)"):
        check_classes(ten, catsdogs_classes)
    one_sigmoid = inspect_model(cnn(L.Dense(1, activation="sigmoid")))
    check_classes(one_sigmoid, catsdogs_classes)
    with pytest.raises(DataError, match=r"The data has 10 classes .* one sigmoid unit \(2 classes\).*10 units"):
        check_classes(one_sigmoid, fashion[1])


# ---------------------------------------------------------------- loading


def test_lambda_layer_needs_unsafe(tmp_path, fashion):
    original = cnn(L.Dense(10), L.Lambda(lambda t: t * 2.0), L.Activation("softmax"))
    original.save(tmp_path / "lambda.keras")
    with pytest.raises(ArtifactError, match="holds a Lambda that Keras safe mode refuses.*--unsafe-keras if you "
                                            "trust the file"):
        load_user_model(tmp_path / "lambda.keras")
    model = load_user_model(tmp_path / "lambda.keras", unsafe=True)
    assert inspect_model(model).output_kind == "softmax"
    same_outputs(original, model, fashion[0] / 255)


def test_unknown_custom_layer_is_explained(tmp_path):
    class Doubler(L.Layer):  # registered while saving, unknown when loading (as in a fresh process)
        def call(self, x):
            return x * 2.0

    registered = keras.saving.register_keras_serializable(package="test_usermodel")(Doubler)
    cnn(registered(), L.Dense(3, activation="softmax")).save(tmp_path / "custom.keras")
    keras.saving.get_custom_objects().pop("test_usermodel>Doubler")
    for unsafe in (False, True):
        with pytest.raises(ArtifactError, match="custom object 'Doubler'.*does not help.*SavedModel folder"):
            load_user_model(tmp_path / "custom.keras", unsafe=unsafe)


def test_files_that_are_not_models(tmp_path):
    text = tmp_path / "notes.keras"
    text.write_text("these are notes, not a model")
    no_config = tmp_path / "weights_only.keras"
    with zipfile.ZipFile(no_config, "w") as archive:
        archive.writestr("metadata.json", json.dumps({"keras_version": "3.15.1"}))
    layer = L.Dense(3)
    layer.build((None, 4))
    keras.saving.save_model(layer, tmp_path / "layer.keras")
    (tmp_path / "empty_folder").mkdir()
    (tmp_path / "model.onnx").write_bytes(b"\x08\x07")
    cases = [
        (tmp_path / "missing.keras", "There is no model at"),
        (text, r"not a Keras model file: a \.keras file is a zip archive, and this one starts with b'these"),
        (no_config, r"zip archive without the config\.json"),
        (tmp_path / "layer.keras", "holds a Dense layer, not a model"),
        (tmp_path / "empty_folder", "without saved_model.pb: not a SavedModel"),
        (tmp_path / "model.onnx", r"not a \.keras file or a SavedModel folder"),
    ]
    for path, problem in cases:
        with pytest.raises(ArtifactError, match=problem) as err:
            load_user_model(path)
        assert "Fix:" in str(err.value)


def test_savedmodel_folder_is_wrapped_and_exports(tmp_path, fashion):
    import onnxruntime as ort

    x = fashion[0] / 255
    for head, kind in (((L.Dense(10, activation="softmax"),), "softmax"), ((L.Dense(10),), "logits")):
        original = cnn(*head)
        folder = tmp_path / f"savedmodel_{kind}"
        original.export(str(folder), format="tf_saved_model", verbose=False)
        model = load_user_model(folder)
        info = inspect_model(model)  # the kind is read from the SavedModel's graph (a Softmax / BiasAdd op)
        assert (info.name, info.input_shape, info.output_kind, info.n_classes) == (folder.name, (28, 28, 1), kind, 10)
        same_outputs(original, model, x)
    with pytest.raises(ArtifactError, match="one file of a SavedModel"):
        load_user_model(folder / "saved_model.pb")
    # What the coordinator does next: Keras' ONNX export of the wrapper gives the same outputs.
    model.export(str(tmp_path / "wrapped.onnx"), format="onnx", verbose=False)
    session = ort.InferenceSession(str(tmp_path / "wrapped.onnx"), providers=["CPUExecutionProvider"])
    onnx_out = session.run(None, {session.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(onnx_out, model.predict(x, verbose=0), rtol=1e-4, atol=1e-5)


def test_savedmodel_wrapper_reexports_for_tflite(tmp_path, fashion):
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

    original = cnn(L.Dense(1, activation="sigmoid"))
    original.export(str(tmp_path / "source"), format="tf_saved_model", verbose=False)
    model = load_user_model(tmp_path / "source")
    assert inspect_model(model).output_kind == "sigmoid"
    model.export(str(tmp_path / "again"), format="tf_saved_model", verbose=False)
    interpreter = Interpreter(model_content=tf.lite.TFLiteConverter.from_saved_model(str(tmp_path / "again")).convert())
    x = fashion[0][:1] / 255
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    out = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    np.testing.assert_allclose(out, original.predict(x, verbose=0), rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------- ModelInfo and outputs


def test_model_info_round_trips_and_validates():
    info = inspect_model(cnn(L.Dense(10, activation="softmax"), rescale=True))
    again = ModelInfo.from_dict(json.loads(json.dumps(info.to_dict())))
    assert again == info and isinstance(again.input_shape, tuple)
    with pytest.raises(ArtifactError, match="must have the fields"):
        ModelInfo.from_dict({k: v for k, v in info.to_dict().items() if k != "output_kind"})
    bad = [dict(input_shape=(28, 28, 2)), dict(output_kind="probs"), dict(n_classes=3),
           dict(output_kind="sigmoid"), dict(name=""), dict(rescaling=1 / 255)]
    for change in bad:
        with pytest.raises(InferBenchError):
            ModelInfo(**{**info.to_dict(), "input_shape": info.input_shape, **change})


def test_probabilities_and_predicted_classes_for_each_kind(fashion):
    x = fashion[0] / 255
    logits_model = cnn(L.Dense(10))
    softmax_model = keras.Sequential([logits_model, L.Activation("softmax")])  # the same weights, then softmax
    logits, softmax = logits_model.predict(x, verbose=0), softmax_model.predict(x, verbose=0)
    np.testing.assert_allclose(probabilities(logits, "logits"), softmax, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(probabilities(softmax, "softmax"), softmax, rtol=1e-6)
    assert np.array_equal(predicted_classes_for(logits, "logits"), predicted_classes_for(softmax, "softmax"))
    sigmoid = cnn(L.Dense(1, activation="sigmoid")).predict(x, verbose=0)
    two = probabilities(sigmoid, "sigmoid")
    assert two.shape == (ROWS, 2) and np.allclose(two.sum(axis=1), 1.0)
    assert np.array_equal(predicted_classes_for(sigmoid, "sigmoid"), np.argmax(two, axis=1))
    assert set(OUTPUT_KINDS) == {"softmax", "sigmoid", "logits"}
    with pytest.raises(InferBenchError, match="Unknown output kind"):
        probabilities(softmax, "probs")
