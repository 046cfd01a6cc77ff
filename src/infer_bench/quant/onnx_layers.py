"""Each Keras layer's output in a QDQ int8 ONNX model and in its float original, on held-out images.

ONNX Runtime's own debugging tools do the running
(``onnxruntime.quantization.qdq_loss_debug``): ``modify_model_output_intermediate_tensors``
makes every intermediate tensor an output, ``collect_activations`` runs a model on
the images. The float side is the fp32 file after the same pre-processing the
quantizer ran on (``export.onnx_formats.preprocessed``), so tensor names match the
QDQ model's: a quantized activation ``T`` is read at ``T`` in the float model and
at the output of its ``DequantizeLinear`` in the QDQ model, with the scale and zero
point of its ``QuantizeLinear``. Each tensor's producer is mapped back to its Keras
layer (``explain.layermap``); a layer's output is its last quantized tensor in
graph order. Weights: ``create_weight_matching`` (the same module) pairs every
int8 weight of the QDQ model, dequantized, with its float original; each is
credited to the Keras layer of the node that reads it.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from ..errors import ArtifactError
from ..explain.layermap import NodeLayerMapper, keras_layers
from ..export.onnx_formats import preprocessed
from .sqnr import LayerTensors, weight_sqnr_db

BATCH = 64
_QRANGE = {2: (0, 255), 3: (-128, 127)}  # onnx TensorProto UINT8, INT8
_INPUT_SUFFIX = "_QuantizeLinear_Input"  # the quantizer's rename of a graph output's float tensor


def _activations(model_path: Path, workdir: Path, tag: str, input_name: str, images: np.ndarray) -> dict:
    """Every float tensor of ``model_path`` on ``images``: {name: flat float64 array}."""
    from onnxruntime.quantization import CalibrationDataReader
    from onnxruntime.quantization.qdq_loss_debug import (collect_activations,
                                                         modify_model_output_intermediate_tensors)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self._batches = iter(images[i:i + BATCH] for i in range(0, len(images), BATCH))

        def get_next(self):
            nxt = next(self._batches, None)
            return None if nxt is None else {input_name: np.ascontiguousarray(nxt, dtype=np.float32)}

    augmented = workdir / f"{tag}_augmented.onnx"
    modify_model_output_intermediate_tensors(str(model_path), str(augmented))
    return {name: np.concatenate([np.ravel(a) for a in parts]).astype(np.float64)
            for name, parts in collect_activations(str(augmented), Reader()).items()}


def _quantized_activations(graph) -> list[tuple[str, str, str, str, str]]:
    """(float tensor, dequantized tensor, scale, zero point, producer node) of every quantized activation."""
    initializers = {i.name for i in graph.initializer}
    producer = {out: node.name for node in graph.node for out in node.output}
    dequant = {node.input[0]: node.output[0] for node in graph.node if node.op_type == "DequantizeLinear"}
    found = []
    for node in graph.node:
        if node.op_type != "QuantizeLinear" or node.input[0] in initializers or node.input[0] not in producer:
            continue
        if node.output[0] in dequant:
            found.append((node.input[0], dequant[node.output[0]], node.input[1], node.input[2],
                          producer[node.input[0]]))
    return found


def onnx_layer_tensors(fp32_path: Path, qdq_path: Path, keras_model, images: np.ndarray) -> list[LayerTensors]:
    """The output of every quantized Keras layer of ``qdq_path`` and of ``fp32_path`` on ``images``."""
    return onnx_layers(fp32_path, qdq_path, keras_model, images)[0]


def _layer_weights(graph, float_path: Path, qdq_path: Path, mapper) -> dict[str, float]:
    """{Keras layer: SQNR of its int8 weights} (biases, quantized to int32, left out)."""
    from onnxruntime.quantization.qdq_loss_debug import create_weight_matching

    init = {i.name: i for i in graph.initializer}
    readers = {}  # a tensor -> the first node reading it
    for node in graph.node:
        for name in node.input:
            readers.setdefault(name, node)
    pairs: dict[str, list] = {}
    matched = create_weight_matching(str(float_path), str(qdq_path))
    for node in graph.node:
        quantized = node.input[0] if node.op_type == "DequantizeLinear" and node.input else ""
        weight = quantized.removesuffix("_quantized")
        if quantized not in init or init[quantized].data_type not in _QRANGE or weight not in matched:
            continue
        reader = readers.get(node.output[0])
        layer = None if reader is None else mapper.layer_of(reader.name, reader.op_type)[0]
        if layer in mapper.kinds:
            pairs.setdefault(layer, []).append((matched[weight]["float"], matched[weight]["dequantized"]))
    return {layer: weight_sqnr_db(p) for layer, p in pairs.items()}


def onnx_layers(fp32_path: Path, qdq_path: Path, keras_model,
                images: np.ndarray) -> tuple[list[LayerTensors], dict[str, float]]:
    """Every quantized Keras layer's output on ``images`` (``onnx_layer_tensors``) and its weight SQNR."""
    import onnx
    from onnx import numpy_helper

    qdq = onnx.load(str(qdq_path))
    graph = qdq.graph
    init = {i.name: i for i in graph.initializer}
    if not any(n.op_type == "QuantizeLinear" for n in graph.node):
        raise ArtifactError(f"{Path(qdq_path).name} has no QuantizeLinear node: it is not a QDQ int8 model.",
                            "pass the static_int8 ONNX file (QDQ format).")
    ops = {n.name: n.op_type for n in graph.node}
    input_name = graph.input[0].name
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        float_path = preprocessed(Path(fp32_path), work)
        # Scopes are aligned with the Keras layers on the float graph's node order: the QDQ graph
        # lists its weights' DequantizeLinear nodes early, out of layer order, which breaks the
        # alignment of two layers with the same base name (dense, dense_1). QDQ nodes keep the scopes.
        mapper = NodeLayerMapper([n.name for n in onnx.load(str(float_path)).graph.node], keras_layers(keras_model),
                                 keras_model.name)
        float_acts = _activations(float_path, work, "float", input_name, images)
        quant_acts = _activations(Path(qdq_path), work, "qdq", input_name, images)
        weights = _layer_weights(graph, float_path, Path(qdq_path), mapper)
    last: dict[str, LayerTensors] = {}  # per layer, its last quantized tensor in graph order wins
    for tensor, dq, scale, zp, node in _quantized_activations(graph):
        layer, _ = mapper.layer_of(node, ops[node])
        float_name = tensor.removesuffix(_INPUT_SUFFIX)
        if layer not in mapper.kinds or float_name not in float_acts or dq not in quant_acts:
            continue
        zp_init = init[zp]
        qmin, qmax = _QRANGE.get(zp_init.data_type, (-128, 127))
        last[layer] = LayerTensors(layer, tensor, float_acts[float_name], quant_acts[dq],
                                   float(numpy_helper.to_array(init[scale])), int(numpy_helper.to_array(zp_init)),
                                   qmin, qmax)
    return list(last.values()), weights


def onnx_layer_scopes(fp32_path: Path, keras_model) -> dict[str, str]:
    """{Keras layer: its node scope in the (pre-processed) fp32 graph}, e.g. {"conv2d_1": "tiny_1/conv2d_1_2"}."""
    import onnx

    with tempfile.TemporaryDirectory() as work:
        names = [n.name for n in onnx.load(str(preprocessed(Path(fp32_path), Path(work)))).graph.node]
    mapper = NodeLayerMapper(names, keras_layers(keras_model), keras_model.name)
    return {layer: "/".join(scope) for scope, layer in mapper.scope_to_layer.items()}
