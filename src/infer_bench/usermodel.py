"""A user's own Keras image classifier: load it, say what it is, refuse what is not supported.

Supported: one image input ``(None, H, W, C)`` with known H and W and C of 1
or 3, and one classification output ``(None, K)``: softmax over K >= 2
classes, one sigmoid unit (two classes), or K >= 2 logits. The output kind is
read from the layer that produces the output, looking through shape-only
layers (Flatten, Dropout...) and nested models (a ``keras.applications``
backbone inside a Sequential), and through the graph of a SavedModel.

A SavedModel folder (Keras 3's ``load_model`` does not read them) is wrapped as
``keras.Model(Input, TFSMLayer(folder))``. On TensorFlow 2.21 / Keras 3.15 that wrapper
exports to ONNX (for MobileNetV3Small the same 321 nodes as the original, equal outputs)
and to a SavedModel that TFLite converts; saved as ``.keras`` it loads only outside safe
mode (Keras refuses to deserialize a ``TFSMLayer``: it loads an external SavedModel).
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .errors import ArtifactError, DataError, InferBenchError
from .metrics import predicted_classes

OUTPUT_KINDS = ("softmax", "sigmoid", "logits")
SUPPORTED = ("infer-bench supports models with one image input (None, H, W, C) of known H and W and C of 1 or "
             "3, and one classification output (None, K): softmax over K >= 2 classes, one sigmoid unit, or "
             "K >= 2 logits.")
OUTPUT_FIX = "pass --output softmax|sigmoid|logits to say what the model's output is."

# Layers that pass their input's values through unchanged at inference: the output kind is
# decided by the layer before them.
PASS_THROUGH = frozenset({"Flatten", "Reshape", "Dropout", "SpatialDropout1D", "SpatialDropout2D",
                          "SpatialDropout3D", "GaussianDropout", "GaussianNoise", "AlphaDropout", "Identity",
                          "ActivityRegularization"})
ACTIVATION_KINDS = {"softmax": "softmax", "sigmoid": "sigmoid", "linear": "logits"}
# Layers (and keras.ops operations) whose class alone says what the output is.
LAYER_KINDS = {"Softmax": "softmax", "Sigmoid": "sigmoid"}
# The TensorFlow op that computes a SavedModel's output; Identity, Reshape and calls are looked through.
GRAPH_KINDS = {"Softmax": "softmax", "Sigmoid": "sigmoid", "BiasAdd": "logits", "MatMul": "logits"}
GRAPH_PASS_THROUGH = frozenset({"Identity", "IdentityN", "Reshape", "Squeeze"})
GRAPH_CALLS = frozenset({"StatefulPartitionedCall", "PartitionedCall"})
PREPROCESSING = ("Rescaling", "Normalization")


def check_output_kind(kind: str) -> None:
    """Refuse an output kind that is not one of OUTPUT_KINDS (``--output``)."""
    if kind not in OUTPUT_KINDS:
        raise InferBenchError(f"Unknown output kind {kind!r}.", f"use one of: {', '.join(OUTPUT_KINDS)}.")


def shape_text(shape) -> str:
    """A shape as Keras prints it: (None, 28, 28, 1)."""
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


@dataclass(frozen=True)
class ModelInfo:
    """What a user's model is: its image input, its output and the preprocessing it does itself."""

    name: str
    input_shape: tuple[int, int, int]  # (H, W, C)
    n_outputs: int  # K units of the output
    output_kind: str
    n_classes: int  # K, or 2 for one sigmoid unit
    rescaling: str | None  # e.g. "Rescaling(scale=1/255, offset=0)" when the model rescales its input, else None

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise InferBenchError(f"A model's name must be a non-empty string; got {self.name!r}.",
                                  "name the model (--name).")
        shape = tuple(self.input_shape)
        if len(shape) != 3 or not all(isinstance(d, int) and d > 0 for d in shape) or shape[2] not in (1, 3):
            raise InferBenchError(f"Model {self.name!r}: input shape {shape} is not (H, W, C) with C of 1 or 3.",
                                  SUPPORTED)
        object.__setattr__(self, "input_shape", shape)
        check_output_kind(self.output_kind)
        expected = 2 if self.output_kind == "sigmoid" else self.n_outputs
        if self.n_classes != expected or self.n_classes < 2 or (self.output_kind == "sigmoid" and self.n_outputs != 1):
            raise InferBenchError(
                f"Model {self.name!r}: {self.n_outputs} {self.output_kind} output unit(s) cannot mean "
                f"{self.n_classes} classes.", "one sigmoid unit means 2 classes; K softmax or logit units mean K.")
        if self.rescaling is not None and not isinstance(self.rescaling, str):
            raise InferBenchError(f"Model {self.name!r}: rescaling must be a description or None; "
                                  f"got {self.rescaling!r}.", "describe it as text, e.g. 'Rescaling(scale=1/255)'.")

    def default_scale(self) -> str:
        """The ``--scale`` to use when none is given: "none" if the model rescales its input itself."""
        return "none" if self.rescaling else "1/255"

    def to_dict(self) -> dict:
        """JSON-ready fields."""
        out = asdict(self)
        out["input_shape"] = list(self.input_shape)
        return out

    @classmethod
    def from_dict(cls, d: dict) -> "ModelInfo":
        """Rebuild from ``to_dict``'s output; a missing or extra field is an ArtifactError."""
        fields = set(cls.__dataclass_fields__)
        if not isinstance(d, dict) or set(d) != fields:
            got = sorted(d) if isinstance(d, dict) else type(d).__name__
            raise ArtifactError(f"A model description must have the fields {sorted(fields)}; got {got}.",
                                "re-run `infer-bench export` to write it again.")
        return cls(**{**d, "input_shape": tuple(d["input_shape"])})



def load_user_model(path, unsafe: bool = False):
    """Load a ``.keras`` file or a SavedModel folder as a Keras model (not compiled: it is for inference).

    Keras safe mode stays on unless ``unsafe``: it refuses Python code stored in
    the file (a Lambda layer's bytecode).
    """
    path = Path(path)
    if not path.exists():
        raise ArtifactError(f"There is no model at {str(path)!r}.",
                            "pass the path of a .keras file or of a SavedModel folder.")
    if path.is_dir():
        return _load_savedmodel(path)
    if path.name == "saved_model.pb":
        raise ArtifactError(f"{str(path)!r} is one file of a SavedModel.", f"pass its folder, {str(path.parent)!r}.")
    if path.suffix != ".keras":
        raise ArtifactError(f"{str(path)!r} is not a .keras file or a SavedModel folder.",
                            "save the model with model.save('NAME.keras') (a legacy .h5 file: load it with "
                            "keras.saving.load_model and save it again as .keras).")
    _require_keras_archive(path)
    return _load_keras_file(path, unsafe)


def _require_keras_archive(path: Path) -> None:
    """A .keras file is a zip archive holding config.json; refuse anything else before Keras reads it."""
    not_a_model = f"{str(path)!r} is not a Keras model file"
    fix = "pass a file written by model.save('NAME.keras')."
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as f:
            head = f.read(16)
        raise ArtifactError(f"{not_a_model}: a .keras file is a zip archive, and this one starts with {head!r}.", fix)
    with zipfile.ZipFile(path) as archive:
        if "config.json" not in archive.namelist():
            raise ArtifactError(f"{not_a_model}: it is a zip archive without the config.json a .keras file "
                                f"holds (it has {sorted(archive.namelist())[:5]}).", fix)


def _load_keras_file(path: Path, unsafe: bool):
    import keras

    try:
        model = keras.saving.load_model(path, safe_mode=not unsafe, compile=False)
    except Exception as exc:  # Keras raises ValueError, TypeError, KeyError, JSON and h5py errors
        raise _load_error(path, exc) from exc
    if not isinstance(model, keras.Model):
        raise ArtifactError(f"{str(path)!r} holds a {type(model).__name__} layer, not a model.",
                            "save the whole model (a keras.Model with a keras.Input), not one layer.")
    return model


def _load_error(path: Path, exc: Exception) -> ArtifactError:
    """Keras' loading error, said as the problem and its fix."""
    text = str(exc)
    if "safe_mode" in text:
        what = re.search(r"deserialization of a `(\w+)`", text)
        return ArtifactError(
            f"{str(path)!r} holds a {what.group(1) if what else 'layer'} that Keras safe mode refuses to load: it "
            "would run code stored with the model (a Lambda's Python bytecode, a TFSMLayer's external "
            "SavedModel). Nothing was loaded.",
            "pass --unsafe-keras if you trust the file (you wrote it, or trust its source).")
    missing = re.search(r"Could not locate (?:class|function) '([^']+)'", text)
    if missing:
        return ArtifactError(
            f"{str(path)!r} uses the custom object {missing.group(1)!r}, whose Python code is not in the file "
            "and not known to infer-bench (--unsafe-keras does not help: the code is missing, not refused).",
            "export the model as a SavedModel folder (model.export('DIR')) where its code is available, and pass "
            "that folder; or rebuild it from built-in Keras layers.")
    return ArtifactError(f"Keras could not load {str(path)!r}: {type(exc).__name__}: {text[:300]}",
                         "re-save the model with model.save('NAME.keras') using Keras 3.")


def _load_savedmodel(folder: Path):
    """Wrap a SavedModel's ``serving_default`` signature as a one-input, one-output Keras model."""
    if not (folder / "saved_model.pb").exists():
        raise ArtifactError(f"{str(folder)!r} is a folder without saved_model.pb: not a SavedModel.",
                            "pass a .keras file, or a folder written by model.export('DIR').")
    import keras

    try:
        layer = keras.layers.TFSMLayer(str(folder), call_endpoint="serving_default")
    except Exception as exc:  # a missing signature (ValueError) or a damaged file (TensorFlow errors)
        raise ArtifactError(f"TensorFlow could not load the SavedModel {str(folder)!r} with a serving_default "
                            f"signature: {type(exc).__name__}: {str(exc)[:300]}",
                            "export it with Keras' model.export('DIR'), which writes serving_default.") from exc
    inputs = layer.call_endpoint_fn.structured_input_signature[1]
    outputs = layer.call_endpoint_fn.structured_outputs
    if len(inputs) != 1:
        raise ArtifactError(f"The SavedModel {str(folder)!r} has {len(inputs)} inputs ({', '.join(inputs)}).",
                            SUPPORTED)
    if not isinstance(outputs, dict) or len(outputs) != 1:
        names = ", ".join(outputs) if isinstance(outputs, dict) else type(outputs).__name__
        raise ArtifactError(f"The SavedModel {str(folder)!r} has several outputs ({names}).", SUPPORTED)
    (input_name, spec), = inputs.items()
    image = keras.Input(shape=tuple(spec.shape[1:]), dtype=spec.dtype.name, name=input_name)
    (output,) = layer(image).values()
    return keras.Model(image, output, name=re.sub(r"\W", "_", folder.resolve().name) or "savedmodel")



def _image_input(model) -> tuple[int, int, int]:
    """(H, W, C) of the model's one image input, or an error saying what was found."""
    try:
        inputs = list(model.inputs)
    except (AttributeError, ValueError):  # a Sequential built without keras.Input has no inputs yet
        inputs = []
    if len(inputs) != 1:
        found = ", ".join(shape_text(t.shape) for t in inputs) or "no defined input"
        raise InferBenchError(f"Model {model.name!r} has {len(inputs)} inputs ({found}).",
                              f"{SUPPORTED} Build it with one keras.Input(shape=(H, W, C)).")
    shape = tuple(inputs[0].shape)
    if len(shape) != 4 or shape[1] is None or shape[2] is None or shape[3] not in (1, 3):
        raise InferBenchError(f"Model {model.name!r} has the input {shape_text(shape)}: not an image input with "
                              "known height and width and 1 or 3 channels.",
                              f"{SUPPORTED} Give keras.Input a fixed (H, W, C) shape.")
    return int(shape[1]), int(shape[2]), int(shape[3])


def _class_output(model) -> int:
    """K, the units of the model's one classification output (None, K)."""
    outputs = list(model.outputs)
    if len(outputs) != 1:
        raise InferBenchError(f"Model {model.name!r} has {len(outputs)} outputs "
                              f"({', '.join(shape_text(t.shape) for t in outputs)}).", SUPPORTED)
    shape = tuple(outputs[0].shape)
    if len(shape) != 2 or shape[1] is None:
        raise InferBenchError(f"Model {model.name!r} has the output {shape_text(shape)}: not a classification "
                              "output (None, K).", SUPPORTED)
    return int(shape[1])


def _producer(tensor):
    """The layer (or op) that computed a symbolic Keras tensor."""
    history = getattr(tensor, "_keras_history", None)  # Keras 3's record of the op that made the tensor
    return history.operation if history is not None else None


def _graph_output_op(fn) -> str:
    """The type of the TensorFlow op that computes a concrete function's first output.

    Looks through Identity/Reshape ops and into the functions the graph calls
    (a Keras SavedModel's signature is one StatefulPartitionedCall).
    """
    graph = fn.graph.as_graph_def()
    library = {f.signature.name: f for f in graph.library.function}
    nodes, ref = {n.name: n for n in graph.node}, fn.outputs[0].name
    while True:
        parts = ref.split(":")  # "node", "node:index", or inside a function "node:output_name:index"
        node = nodes.get(parts[0])
        if node is None:
            return "an input of the graph"
        if node.op in GRAPH_CALLS:
            called = library[node.attr["f"].func.name]
            nodes = {n.name: n for n in called.node_def}
            ref = called.ret[called.signature.output_arg[int(parts[-1]) if len(parts) > 1 else 0].name]
        elif node.op in GRAPH_PASS_THROUGH:
            ref = node.input[0]
        else:
            return node.op


def detect_output_kind(model) -> tuple[str | None, str]:
    """The output kind read from the layer that produces the output, and a description of that layer.

    The kind is None when that layer does not tell (a Lambda, a ReLU, a custom layer).
    """
    import keras

    layer = _producer(model.outputs[0])
    while True:
        kind_name = type(layer).__name__
        activation = getattr(getattr(layer, "activation", None), "__name__", None)
        if isinstance(layer, keras.Model):
            layer = _producer(layer.outputs[0])
        elif kind_name in PASS_THROUGH or (kind_name == "Activation" and activation == "linear"):
            layer = _producer(layer.input)
        elif kind_name in LAYER_KINDS:
            return LAYER_KINDS[kind_name], f"the {kind_name} layer {layer.name!r}"
        elif kind_name == "TFSMLayer":
            op = _graph_output_op(layer.call_endpoint_fn)
            return GRAPH_KINDS.get(op), f"a SavedModel whose output is computed by a {op} op"
        elif activation is not None:
            found = f"the {kind_name} layer {layer.name!r} with activation {activation!r}"
            return ACTIVATION_KINDS.get(activation), found
        else:
            return None, f"the {kind_name} layer {getattr(layer, 'name', '')!r}"


def _output_kind(model, k: int, output: str | None) -> str:
    """The declared or detected output kind, validated against K."""
    if output is not None:
        check_output_kind(output)
    detected, found = detect_output_kind(model)
    if output is None and detected is None:
        raise InferBenchError(f"Cannot tell what the output of model {model.name!r} is: it comes from {found}.",
                              OUTPUT_FIX)
    if output is not None and detected is not None and output != detected:
        raise InferBenchError(f"--output {output} contradicts model {model.name!r}: its output comes from {found}, "
                              f"i.e. {detected}.", f"pass --output {detected}, or omit --output.")
    kind = output or detected
    if kind == "sigmoid" and k != 1:
        raise InferBenchError(f"Model {model.name!r} has {k} sigmoid outputs: a multi-label output (each class "
                              "on its own), not one class per image.",
                              f"{SUPPORTED} If each image has exactly one class, end the model with "
                              f"Dense({k}, activation='softmax').")
    if kind != "sigmoid" and k < 2:
        raise InferBenchError(f"Model {model.name!r} has {k} {kind} output unit: a classifier needs K >= 2 "
                              f"{kind} units (a softmax over one unit is always 1).",
                              "end a binary classifier with Dense(1, activation='sigmoid'), or with 2 units.")
    return kind


def _fraction(value) -> str:
    """1/255 for 0.00392..., plain numbers otherwise (scales read better as fractions)."""
    if isinstance(value, (list, tuple, np.ndarray)):
        return "[" + ", ".join(_fraction(v) for v in np.ravel(value)) + "]"
    value = float(value)
    if value != 0 and abs(value) < 1 and abs(1 / value - round(2 / value) / 2) < 1e-6:
        return f"{'-' if value < 0 else ''}1/{abs(round(2 / value) / 2):g}"
    return f"{value:g}"


def _describe_preprocessing(layer) -> str:
    if type(layer).__name__ == "Rescaling":
        return f"Rescaling(scale={_fraction(layer.scale)}, offset={_fraction(layer.offset)})"
    mean, variance = (np.asarray(getattr(layer, a), dtype=float) for a in ("mean", "variance"))
    return f"Normalization(mean={_fraction(mean)}, variance={_fraction(variance)})"


def detect_rescaling(model) -> str | None:
    """The Rescaling/Normalization layers the model starts with, described, or None."""
    import keras

    layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    if layers and isinstance(layers[0], keras.Model):
        return detect_rescaling(layers[0])  # a backbone first: its own first layers
    leading = []
    for layer in layers:
        if type(layer).__name__ not in PREPROCESSING:
            break
        leading.append(_describe_preprocessing(layer))
    return " + ".join(leading) or None


def inspect_model(model, output: str | None = None) -> ModelInfo:
    """Say what ``model`` is, or refuse it with what was found and what is supported.

    ``output`` declares the output kind (one of OUTPUT_KINDS); it is checked
    against the last layer's activation where that can be read.
    """
    h, w, c = _image_input(model)
    k = _class_output(model)
    kind = _output_kind(model, k, output)
    return ModelInfo(name=model.name, input_shape=(h, w, c), n_outputs=k, output_kind=kind,
                     n_classes=2 if kind == "sigmoid" else k, rescaling=detect_rescaling(model))


def check_classes(info: ModelInfo, class_names) -> None:
    """Refuse data whose class count does not fit the model's output, before any work starts."""
    names = list(class_names)
    if len(names) == info.n_classes:
        return
    shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
    output = ("one sigmoid unit (2 classes)" if info.output_kind == "sigmoid"
              else f"{info.n_outputs} {info.output_kind} units ({info.n_classes} classes)")
    raise DataError(f"The data has {len(names)} classes ({shown}) but model {info.name!r} has {output}.",
                    f"give the model data with {info.n_classes} class folders, or a model whose output has "
                    f"{len(names)} classes ({'one sigmoid unit' if len(names) == 2 else f'{len(names)} units'}).")



def probabilities(outputs, output_kind: str) -> np.ndarray:
    """Class probabilities (N, n_classes) from raw outputs: softmax kept, logits softmaxed, sigmoid as [1-p, p]."""
    check_output_kind(output_kind)
    out = np.asarray(outputs, dtype=np.float64).reshape(len(outputs), -1)
    if output_kind == "softmax":
        return out
    if output_kind == "sigmoid":
        return np.concatenate([1.0 - out[:, :1], out[:, :1]], axis=1)
    shifted = np.exp(out - out.max(axis=1, keepdims=True))  # minus the row max: no overflow
    return shifted / shifted.sum(axis=1, keepdims=True)


def predicted_classes_for(outputs, output_kind: str) -> np.ndarray:
    """The class per row: argmax for softmax and logits, the side of 0.5 for one sigmoid unit."""
    check_output_kind(output_kind)
    return predicted_classes(np.asarray(outputs), binary=output_kind == "sigmoid")
