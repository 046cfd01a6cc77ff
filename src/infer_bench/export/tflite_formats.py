"""TFLite exports, converted from the SavedModel (the converter's supported route for Keras 3).

All variants keep float32 inputs and outputs so every artifact is fed the same
way; ``static_int8`` runs every op in int8 but the classifier head (checked
after conversion: any other float op left inside the graph fails the export
rather than passing silently).

The classifier head (the last FULLY_CONNECTED and what follows it to the
output, e.g. LOGISTIC) stays float, as in the ONNX static int8 file
(``onnx_formats.classifier_head``): an int8 LOGISTIC puts the probability on a
1/256 grid and an int8 logit rounds near-boundary rows to exactly p = 0.5. On
the seed-1 Cats vs Dogs AlexNet (2026-12-03) 10 of the 1,000 test images came
out at exactly 0.5, and agreement with Keras was 98.4%; with the head float,
no ties and 99.1%. Only the logistic in float is not enough (the logit's own
int8 grid still gives the ties). The head is under 1% of the multiply-adds.

``static_int8`` is calibrated in three steps, because the converter's own
calibration only takes each activation's min/max (see ``calibration.py`` for
why that is not good enough):

1. the converter calibrates only (``_experimental_calibrate_only``): a float
   model carrying each tensor's min/max;
2. the calibration images are run through that model with every intermediate
   tensor kept, and each recorded range is replaced by its percentile range
   (computed from each tensor's tails only: ``calibration.TailPercentile``);
3. ``mlir_quantize`` quantizes with those ranges.

Steps 1 and 3 are the converter's two halves, the same private calls that
TensorFlow's own ``QuantizationDebugger`` makes; they are pinned with
tensorflow==2.21.0.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from ..errors import ArtifactError
from ..fsutil import write_bytes_atomic
from .calibration import CALIBRATION_PERCENTILE, TailPercentile


def _converter(savedmodel: Path):
    import tensorflow as tf

    return tf, tf.lite.TFLiteConverter.from_saved_model(str(savedmodel))


def export_tflite(savedmodel: Path, path: Path, quantization: str, calibration: np.ndarray | None = None,
                  float_scopes: tuple[str, ...] = ()) -> None:
    """Convert ``savedmodel`` to a ``.tflite`` file at the given quantization.

    ``float_scopes`` (static_int8 only): layer scopes (``quant.repair``) whose ops stay in float
    (``mlir_quantize(denylisted_nodes=...)``); one that matches no op is refused.
    """
    tf, conv = _converter(savedmodel)
    if quantization == "static_int8":
        if calibration is None:
            raise ValueError("static_int8 needs calibration images")
        content = _static_int8(conv, calibration, float_scopes=float_scopes)
    elif float_scopes:
        raise ValueError("only static_int8 keeps layers in float")
    else:
        if quantization == "fp16":
            conv.optimizations = [tf.lite.Optimize.DEFAULT]
            conv.target_spec.supported_types = [tf.float16]
        elif quantization == "dynamic_int8":
            conv.optimizations = [tf.lite.Optimize.DEFAULT]  # no representative data: dynamic range
        elif quantization != "fp32":
            raise ValueError(f"unknown TFLite quantization {quantization!r}")
        content = conv.convert()
    write_bytes_atomic(path, content)


# Images the converter's own calibration pass sees. Its min/max only mark which tensors get a
# range: every one is then replaced by the percentile range over *all* the calibration images
# (``_with_percentile_ranges``), so one image gives the same file, byte for byte (the Cats vs
# Dogs AlexNet's, 2026-12-03: 17.2 s with 256 images through the converter, 9.3 s with one;
# tests/test_train_export.py checks the bytes on a small model).
CONVERTER_CALIBRATION_IMAGES = 1


def _static_int8(conv, calibration: np.ndarray, percentile: float = CALIBRATION_PERCENTILE,
                 float_scopes: tuple[str, ...] = ()) -> bytes:
    """Full-integer int8 model whose activation ranges are percentile-clipped (module docstring);
    the ops of ``float_scopes`` are left in float."""
    import tensorflow as tf
    from tensorflow.lite.python import convert

    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    feed = calibration[:CONVERTER_CALIBRATION_IMAGES]
    conv.representative_dataset = lambda: ([feed[i:i + 1]] for i in range(len(feed)))
    conv._experimental_calibrate_only = True  # noqa: SLF001 (see the module docstring)
    calibrated = _with_percentile_ranges(conv.convert(), calibration, percentile)
    head = tflite_classifier_head(calibrated)
    denied = list(dict.fromkeys(_outputs_in_scopes(calibrated, float_scopes) + head))
    quantized = convert.mlir_quantize(calibrated, fully_quantize=False,  # float32 in/out, int8 inside
                                      denylisted_nodes=denied or None)
    float_ops = float_ops_inside(quantized, allowed=head)
    if float_ops and not float_scopes:  # kept in float on purpose: the repair asked for it
        raise ArtifactError(f"TFLite static_int8 conversion left float ops inside the graph: {', '.join(float_ops)}.",
                            "this model has an op the int8 converter cannot quantize; drop static_int8 for it.")
    return quantized


# TFLite's ops with weights, the classifier head's first op walking back from the output.
TFLITE_WEIGHTED_OPS = ("FULLY_CONNECTED", "CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV", "BATCH_MATMUL")


def _operators(model):
    """(op name, [input tensor indices], [output tensor indices], op type) of each operator of the first subgraph."""
    from tensorflow.lite.python import schema_py_generated as schema

    codes = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    graph = model.subgraphs[0]
    for op in graph.operators:
        code = model.operatorCodes[op.opcodeIndex]
        name = graph.tensors[op.outputs[0]].name
        yield (name.decode() if isinstance(name, bytes) else name, [i for i in op.inputs if i >= 0],
               list(op.outputs), codes.get(max(code.builtinCode, code.deprecatedBuiltinCode), str(code.builtinCode)))


def tflite_classifier_head(tflite_model: bytes) -> list[str]:
    """Output tensor names (what ``denylisted_nodes`` takes) of the ops from the last weighted op to the output."""
    from types import SimpleNamespace

    from .onnx_formats import classifier_head

    model = _model_object(tflite_model)
    nodes = [SimpleNamespace(name=name, op_type=kind, input=[str(i) for i in inputs], output=[str(o) for o in outputs])
             for name, inputs, outputs, kind in _operators(model)]
    return classifier_head(nodes, [str(o) for o in model.subgraphs[0].outputs], TFLITE_WEIGHTED_OPS)


def _with_percentile_ranges(calibrated: bytes, calibration: np.ndarray, percentile: float) -> bytes:
    """The calibrated model with each recorded min/max replaced by its percentile range."""
    import flatbuffers
    from ai_edge_litert.interpreter import Interpreter

    model = _model_object(calibrated)
    graph = model.subgraphs[0]
    # Tensors the calibrator recorded a range for: activations (weights have none).
    ranged = [i for i, t in enumerate(graph.tensors)
              if t.quantization is not None and t.quantization.min is not None and len(t.quantization.min) == 1]
    with warnings.catch_warnings():  # keeping every tensor is the point here, not a debugging leftover
        warnings.filterwarnings("ignore", message=".*experimental_preserve_all_tensors")
        interpreter = Interpreter(model_content=calibrated, experimental_preserve_all_tensors=True)
    interpreter.allocate_tensors()
    feed = interpreter.get_input_details()[0]["index"]
    tails: dict[int, TailPercentile] = {}  # only each tensor's tails are kept, not its values
    for image in calibration:
        interpreter.set_tensor(feed, image[None])
        interpreter.invoke()
        for i in ranged:
            value = interpreter.get_tensor(i)
            if i not in tails:
                tails[i] = TailPercentile(len(calibration) * value.size, percentile)
            tails[i].add(value)
    for i in ranged:
        lo, hi = tails.pop(i).range()
        graph.tensors[i].quantization.min, graph.tensors[i].quantization.max = [lo], [hi]
    builder = flatbuffers.Builder(len(calibrated) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _outputs_in_scopes(tflite_model: bytes, scopes) -> list[str]:
    """Output tensor names of the ops under the layer ``scopes`` (what ``denylisted_nodes`` takes)."""
    if not scopes:
        return []
    graph = _model_object(tflite_model).subgraphs[0]
    names = [graph.tensors[op.outputs[0]].name for op in graph.operators]
    names = [n.decode() if isinstance(n, bytes) else n for n in names]
    prefixes = {scope: scope.rstrip("/") + "/" for scope in scopes}
    missing = [s for s, p in prefixes.items() if not any(n.startswith(p) for n in names)]
    if missing:
        raise ArtifactError(f"No TFLite op is in the layer scope(s) {', '.join(missing)}.",
                            "name layers by the scopes `infer-bench check` reports for this model.")
    return [n for n in names if n.startswith(tuple(prefixes.values()))]


def _model_object(tflite_model: bytes):
    """The .tflite flatbuffer as TensorFlow's editable object tree (schema ``ModelT``)."""
    from tensorflow.lite.python import schema_py_generated as schema

    return schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(tflite_model, 0))


# Ops that convert at the float edges or read only a tensor's shape: a float tensor through them
# is no float arithmetic. SHAPE appears where a float head is reshaped with a dynamic batch
# (MobileNetV3's 1x1 "Logits" convolution, then Flatten: SHAPE -> STRIDED_SLICE -> PACK -> RESHAPE).
SHAPE_ONLY_OPS = ("QUANTIZE", "DEQUANTIZE", "SHAPE")


def float_ops_inside(tflite_model: bytes, allowed=()) -> list[str]:
    """Ops other than the edge QUANTIZE/DEQUANTIZE that read or write float32 tensors.

    ``allowed``: output tensor names of ops kept in float on purpose (the classifier head), not listed.
    """
    from tensorflow.lite.python import schema_py_generated as schema

    model = _model_object(tflite_model)
    graph = model.subgraphs[0]
    allowed = set(allowed)
    found = []
    for name, inputs, outputs, kind in _operators(model):
        if kind in SHAPE_ONLY_OPS or name in allowed:
            continue
        if any(graph.tensors[i].type == schema.TensorType.FLOAT32 for i in [*inputs, *outputs]):
            found.append(kind)
    return found
