"""Each Keras layer's output in a full-integer int8 TFLite model and in its float original, on held-out images.

Both models run in the LiteRT interpreter with every intermediate tensor kept
(``experimental_preserve_all_tensors``, what TensorFlow's ``QuantizationDebugger``
does too; its own calibration would re-quantize with plain min/max ranges, not
the artifact's, so it is not used to build the model). The float side is the
SavedModel converted without quantization. Op outputs are mapped to Keras layers
by their name scope (``explain.layermap``: ``"tiny_1/conv2d_1_2/Relu;..."``); a
layer's output is its last op output in each model, and the int8 one is
dequantized with its own scale and zero point. Weights are read from the two
flatbuffers: each op's constant int8 inputs of two or more dimensions (biases
are int32 and 1-D), dequantized per channel, paired in order and by shape with
the same layer's constant float32 inputs in the float model (so a
BatchNormalization folded into a convolution is folded alike in both).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from ..errors import ArtifactError
from ..explain.layermap import NodeLayerMapper, keras_layers
from .sqnr import LayerTensors, weight_sqnr_db

_EDGE_OPS = ("QUANTIZE", "DEQUANTIZE")


def _interpreter(content: bytes):
    from ai_edge_litert.interpreter import Interpreter

    with warnings.catch_warnings():  # keeping every tensor is the point here
        warnings.filterwarnings("ignore", message=".*experimental_preserve_all_tensors")
        return Interpreter(model_content=content, experimental_preserve_all_tensors=True)


def _op_name(name: str) -> str:
    """A TFLite tensor name as a node name: its first fused part (``"a/b/Relu;a/b/BiasAdd"`` -> ``"a/b/Relu"``)."""
    return name.split(";", 1)[0]


def _layer_outputs(content: bytes, mapper_of, images: np.ndarray, want_int8: bool):
    """{layer: (tensor name, values on every image, scale, zero point)} of each layer's last op output."""
    interpreter = _interpreter(content)
    interpreter.allocate_tensors()
    details = {t["index"]: t for t in interpreter.get_tensor_details()}
    ops = [op for op in interpreter._get_ops_details() if op["op_name"] not in _EDGE_OPS]  # noqa: SLF001
    names = [_op_name(details[op["outputs"][0]]["name"]) for op in ops]
    mapper = mapper_of(names)
    chosen: dict[str, int] = {}
    for op, name in zip(ops, names):
        tensor = details[op["outputs"][0]]
        if want_int8 and tensor["dtype"] != np.int8:
            continue
        layer, _ = mapper.layer_of(name, op["op_name"])
        if layer in mapper.kinds:
            chosen[layer] = op["outputs"][0]
    feed = interpreter.get_input_details()[0]["index"]
    values: dict[int, list] = {i: [] for i in chosen.values()}
    for image in images:  # one image per call: the converted models have a fixed batch of 1
        interpreter.set_tensor(feed, np.ascontiguousarray(image[None], dtype=np.float32))
        interpreter.invoke()
        for i in values:
            values[i].append(interpreter.get_tensor(i).ravel())
    out = {}
    for layer, i in chosen.items():
        scale, zero_point = details[i]["quantization"]
        raw = np.concatenate(values[i]).astype(np.float64)
        out[layer] = (details[i]["name"], (raw - zero_point) * scale if want_int8 else raw, scale, zero_point)
    return out


def float_tflite(savedmodel: Path) -> bytes:
    """The SavedModel converted to float32 TFLite (the reference the int8 model is compared with)."""
    import tensorflow as tf

    return tf.lite.TFLiteConverter.from_saved_model(str(savedmodel)).convert()


def tflite_layer_tensors(float_content: bytes, int8_path: Path, keras_model, images: np.ndarray) -> list[LayerTensors]:
    """The output of every int8 Keras layer of ``int8_path`` and of the float model, on ``images``."""
    layers = keras_layers(keras_model)

    def mapper_of(names):
        return NodeLayerMapper(names, layers, keras_model.name)

    quant = _layer_outputs(Path(int8_path).read_bytes(), mapper_of, images, want_int8=True)
    if not quant:
        raise ArtifactError(f"{Path(int8_path).name} has no int8 layer output that maps to a Keras layer.",
                            "pass the static_int8 .tflite file exported from this Keras model.")
    floats = _layer_outputs(float_content, mapper_of, images, want_int8=False)
    return [LayerTensors(layer, name, floats[layer][1], values, float(scale), int(zp))
            for layer, (name, values, scale, zp) in quant.items()
            if layer in floats and floats[layer][1].shape == values.shape and scale > 0]


def tflite_layer_scopes(float_content: bytes, keras_model) -> dict[str, str]:
    """{Keras layer: its name scope in the TFLite graph}, e.g. {"conv2d_1": "tiny_1/conv2d_1_2"}."""
    interpreter = _interpreter(float_content)
    details = {t["index"]: t["name"] for t in interpreter.get_tensor_details()}
    names = [_op_name(details[op["outputs"][0]]) for op in interpreter._get_ops_details()]  # noqa: SLF001
    mapper = NodeLayerMapper(names, keras_layers(keras_model), keras_model.name)
    return {layer: "/".join(scope) for scope, layer in mapper.scope_to_layer.items()}


def _constant_inputs(content: bytes, mapper_of, want_int8: bool) -> dict[str, list[np.ndarray]]:
    """{Keras layer: the constant weights its ops read, in op order} (int8 ones dequantized)."""
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(content, 0))
    graph = model.subgraphs[0]
    codes = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    ops = []
    for op in graph.operators:
        code = model.operatorCodes[op.opcodeIndex]
        kind = codes.get(max(code.builtinCode, code.deprecatedBuiltinCode), "")
        if kind not in _EDGE_OPS and len(op.outputs):
            ops.append((op, kind, _op_name(graph.tensors[op.outputs[0]].name.decode())))
    mapper = mapper_of([name for _, _, name in ops])
    wanted = schema.TensorType.INT8 if want_int8 else schema.TensorType.FLOAT32
    out: dict[str, list[np.ndarray]] = {}
    for op, kind, name in ops:
        layer, _ = mapper.layer_of(name, kind)
        if layer not in mapper.kinds:
            continue
        for i in op.inputs:
            tensor = graph.tensors[i] if i >= 0 else None
            data = None if tensor is None else model.buffers[tensor.buffer].data
            if tensor is None or tensor.type != wanted or data is None or len(data) == 0 or len(tensor.shape) < 2:
                continue
            values = np.frombuffer(bytes(np.asarray(data, dtype=np.uint8)), dtype=np.int8 if want_int8 else np.float32)
            values = values.reshape(tuple(tensor.shape)).astype(np.float64)
            if want_int8:
                q = tensor.quantization
                scale, zero = np.asarray(q.scale, dtype=np.float64), np.asarray(q.zeroPoint, dtype=np.float64)
                shape = [1] * values.ndim
                shape[q.quantizedDimension if scale.size > 1 else 0] = scale.size
                values = (values - zero.reshape(shape)) * scale.reshape(shape)
            out.setdefault(layer, []).append(values)
    return out


def tflite_layer_weights(float_content: bytes, int8_path: Path, keras_model) -> dict[str, float]:
    """{Keras layer: SQNR of its int8 weights against the float model's} for the layers with int8 weights."""
    layers = keras_layers(keras_model)

    def mapper_of(names):
        return NodeLayerMapper(names, layers, keras_model.name)

    quant = _constant_inputs(Path(int8_path).read_bytes(), mapper_of, want_int8=True)
    floats = _constant_inputs(float_content, mapper_of, want_int8=False)
    out = {}
    for layer, weights in quant.items():
        pool = list(floats.get(layer, []))
        pairs = []
        for q in weights:  # the first float weight of the same shape, in op order
            match = next((k for k, f in enumerate(pool) if f.shape == q.shape), None)
            if match is not None:
                pairs.append((pool.pop(match), q))
        if pairs:
            out[layer] = weight_sqnr_db(pairs)
    return out
