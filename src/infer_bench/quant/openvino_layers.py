"""Each Keras layer's output in an OpenVINO (NNCF) int8 IR and in its float original, on held-out images.

NNCF quantizes the fp32 ONNX model as OpenVINO reads it, and keeps its op
names: an activation is quantized by a ``FakeQuantize`` node (``<op>/fq_output_0``)
right after the op that produced it, and a weight is stored as int8 constants
dequantized by ``Convert`` -> (``Subtract`` zero point) -> ``Multiply`` scale
(``<op>/fq_weights_1``) in front of the op that reads it. So, per Keras layer
(op names mapped by ``explain.layermap``, as for ONNX):

- its output: the float model's op output, against the int8 model's output of
  the ``FakeQuantize`` after the same op (the value on the int8 grid the next
  layer reads), with that grid's step and zero point (``levels`` steps from
  ``input_low`` to ``input_high``);
- its weights: the float model's constant input of the op against the int8
  constant dequantized.

Both models are read and run by OpenVINO itself (intermediate outputs turned
into the outputs of a new ``ov.Model`` over the same parameters).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..catalog import OPENVINO_MARKER
from ..errors import ArtifactError
from ..explain.layermap import NodeLayerMapper, keras_layers
from .sqnr import LayerTensors, weight_sqnr_db

BATCH = 64
_FQ = "FakeQuantize"
_WEIGHT_SUFFIX = "/fq_weights_1"


def _xml(path: Path) -> Path:
    path = Path(path)
    return path / OPENVINO_MARKER if path.is_dir() else path


def _constant(node) -> np.ndarray | None:
    return node.get_data() if node.get_type_name() == "Constant" else None


def _grid(fq) -> tuple[float, int, int, int] | None:
    """(step, zero point, 0, levels - 1) of a per-tensor FakeQuantize whose output range is its input range."""
    bounds = [_constant(fq.input_value(i).get_node()) for i in range(1, 5)]
    if any(b is None or b.size != 1 for b in bounds):
        return None
    low, high, out_low, out_high = (float(b.ravel()[0]) for b in bounds)
    levels = int(fq.get_attributes().get("levels", 256))
    if high <= low or not np.isclose(low, out_low) or not np.isclose(high, out_high):
        return None
    step = (high - low) / (levels - 1)
    return step, int(round(-low / step)), 0, levels - 1


def _dequantized_weight(multiply) -> np.ndarray | None:
    """The int8 weight behind a ``.../fq_weights_1`` Multiply, dequantized (None: another pattern)."""
    scale = _constant(multiply.input_value(1).get_node())
    node = multiply.input_value(0).get_node()
    zero = 0.0
    if node.get_type_name() == "Subtract":
        zp = node.input_value(1).get_node()
        zp = zp.input_value(0).get_node() if zp.get_type_name() == "Convert" else zp
        zero = _constant(zp)
        node = node.input_value(0).get_node()
    if scale is None or zero is None or node.get_type_name() != "Convert":
        return None
    raw = _constant(node.input_value(0).get_node())
    if raw is None or raw.dtype not in (np.int8, np.uint8):
        return None
    return (raw.astype(np.float64) - np.asarray(zero, dtype=np.float64)) * np.asarray(scale, dtype=np.float64)


def _run(core, model, outputs, images: np.ndarray) -> list[np.ndarray]:
    """The values of ``outputs`` (op outputs of ``model``) on ``images``, one flat float64 array each."""
    import openvino as ov

    probe = ov.Model(outputs, model.get_parameters(), "layers")
    compiled = core.compile_model(probe, "CPU")
    parts: list[list[np.ndarray]] = [[] for _ in outputs]
    for i in range(0, len(images), BATCH):
        result = compiled(np.ascontiguousarray(images[i:i + BATCH], dtype=np.float32))
        for k in range(len(outputs)):
            parts[k].append(np.asarray(result[k], dtype=np.float64).ravel())
    return [np.concatenate(p) for p in parts]


def openvino_layers(fp32_onnx: Path, int8_ir: Path, keras_model,
                    images: np.ndarray) -> tuple[list[LayerTensors], dict[str, float]]:
    """Every quantized Keras layer's output in the int8 IR and the float model on ``images``, and its weight SQNR."""
    import openvino as ov

    core = ov.Core()
    quant = core.read_model(str(_xml(int8_ir)))
    floats = core.read_model(str(fp32_onnx))
    ops = quant.get_ordered_ops()
    if not any(op.get_type_name() == _FQ for op in ops):
        raise ArtifactError(f"{Path(int8_ir).name} has no FakeQuantize node: it is not an NNCF int8 IR.",
                            "pass the static_int8 OpenVINO IR folder.")
    float_ops = {op.get_friendly_name(): op for op in floats.get_ordered_ops()}
    mapper = NodeLayerMapper(list(float_ops), keras_layers(keras_model), keras_model.name)
    chosen: dict[str, tuple] = {}  # per layer, its last quantized output in graph order wins
    weights: dict[str, list] = {}
    for op in ops:
        name = op.get_friendly_name()
        if op.get_type_name() == _FQ:
            source = op.input_value(0).get_node()
            grid = _grid(op)
            src_name = source.get_friendly_name()
            if grid is None or src_name not in float_ops or source.get_type_name() == "Constant":
                continue
            layer, _ = mapper.layer_of(src_name, source.get_type_name())
            if layer in mapper.kinds:
                chosen[layer] = (src_name, op, grid)
        elif op.get_type_name() == "Multiply" and name.endswith(_WEIGHT_SUFFIX):
            reader = float_ops.get(name[: -len(_WEIGHT_SUFFIX)])
            values = _dequantized_weight(op)
            original = None if reader is None or reader.get_input_size() < 2 else _constant(
                reader.input_value(1).get_node())
            if values is None or original is None or original.shape != values.shape:
                continue
            layer, _ = mapper.layer_of(reader.get_friendly_name(), reader.get_type_name())
            if layer in mapper.kinds:
                weights.setdefault(layer, []).append((original, values))
    layers = list(chosen)
    float_values = _run(core, floats, [float_ops[chosen[k][0]].output(0) for k in layers], images)
    quant_values = _run(core, quant, [chosen[k][1].output(0) for k in layers], images)
    tensors = [LayerTensors(layer, chosen[layer][0], f, q, *chosen[layer][2])
               for layer, f, q in zip(layers, float_values, quant_values) if f.shape == q.shape]
    return tensors, {layer: weight_sqnr_db(pairs) for layer, pairs in weights.items()}


def openvino_layer_scopes(fp32_onnx: Path, keras_model) -> dict[str, str]:
    """{Keras layer: its op-name scope in the model OpenVINO reads}, what NNCF's ``ignored_scope`` patterns name."""
    import openvino as ov

    names = [op.get_friendly_name() for op in ov.Core().read_model(str(fp32_onnx)).get_ordered_ops()]
    mapper = NodeLayerMapper(names, keras_layers(keras_model), keras_model.name)
    return {layer: "/".join(scope) for scope, layer in mapper.scope_to_layer.items()}
