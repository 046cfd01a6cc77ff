"""What a Keras model costs to run once: arithmetic, parameters and bytes, per layer and in total.

The numbers come from the layer configs and the model's own input/output
shapes, so any stride or padding is covered without re-deriving it.

Conventions (the tests assert them on hand-computed layers):

* **MACs** (multiply-accumulates) are counted for Conv and Dense only:
  ``output elements x (kernel window x input channels / groups)`` for a
  convolution, ``output elements x input features`` for Dense.
* **FLOPs** = ``2 x MACs`` (one multiply and one add per MAC) plus one add per
  output element for a bias, plus ``pool window`` ops (comparisons or adds)
  per output element of a pooling layer, plus 2 ops per element for an
  inference BatchNormalization (a scale and a shift: its four vectors fold
  into ``x * a + b``). This is the convention of TensorFlow's profiler
  (``tf_profiler_flops`` cross-checks it).
* **Activations** (ReLU, sigmoid, softmax, inside a layer or as their own
  layer) are *not* in FLOPs: they are counted apart as ``activation_ops``,
  one op per output element. Their cost is not multiply-add arithmetic, and
  tools disagree on them (TensorFlow's profiler counts 0 for ReLU and 5 per
  element for softmax); they are well under 1% of every model here.
* **Weight bytes** per precision: fp32 4 B and fp16 2 B per parameter; int8
  1 B per kernel weight (Conv/Dense ``kernel``, ``depthwise_kernel``) while
  biases stay 4 B (int32, as ONNX Runtime's QDQ/QLinear schemes keep them)
  and BatchNormalization's vectors stay 4 B (float32).
* **Activation bytes** are each layer's output at fp32 (4 B per element) for
  the whole batch; 0 for layers that write no new tensor at inference
  (Input, Flatten, Reshape, Dropout): their output is a view of their input.
* **Input bytes**: the model's input at fp32 for the whole batch.

MACs, FLOPs, activation ops and activation bytes scale with ``batch_size``;
parameters and weight bytes do not.

``crosscheck`` counts the same things again, independently (TensorFlow's
profiler, ONNX shape inference), to test these conventions.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from ..catalog import COMPUTE_PRECISIONS
from ..errors import InferBenchError

# The precisions weights are costed at (the catalog's compute precisions).
PRECISIONS = COMPUTE_PRECISIONS

# Bytes per element of a tensor stored at each precision.
BYTES_PER_ELEMENT = {"fp32": 4, "fp16": 2, "int8": 1}

# Under int8, only these weights become 1 byte; every other weight (biases as
# int32, BatchNormalization vectors as float32) stays 4 bytes.
INT8_KERNEL_WEIGHTS = ("kernel", "depthwise_kernel")
INT8_OTHER_WEIGHT_BYTES = 4

ACTIVATION_BYTES_PER_ELEMENT = BYTES_PER_ELEMENT["fp32"]

# FLOPs per output element of an inference BatchNormalization (x * a + b).
BATCHNORM_FLOPS_PER_ELEMENT = 2

# Activation functions that cost nothing; every other one is one op per element.
LINEAR_ACTIVATIONS = ("linear", None)


@dataclass(frozen=True)
class LayerCost:
    """The cost of one layer for one call on ``batch_size`` samples.

    ``output_shape`` leaves out the batch dimension. ``weight_bytes`` maps
    each of PRECISIONS to the bytes of this layer's weights at it.
    """

    name: str
    kind: str  # the Keras class name: "Conv2D", "Dense", "MaxPooling2D", ...
    output_shape: tuple[int, ...]
    macs: int
    flops: int
    params: int
    weight_bytes: dict[str, int]
    activation_bytes: int
    activation_ops: int = 0

    def __post_init__(self):
        for name in ("macs", "flops", "params", "activation_bytes", "activation_ops"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise InferBenchError(f"LayerCost {self.name!r}: {name} must be an int >= 0, got {value!r}.")
        if set(self.weight_bytes) != set(PRECISIONS):
            raise InferBenchError(
                f"LayerCost {self.name!r}: weight_bytes must have one entry per precision "
                f"({', '.join(PRECISIONS)}), got {sorted(self.weight_bytes)}."
            )
        if self.flops < 2 * self.macs:
            raise InferBenchError(
                f"LayerCost {self.name!r}: flops ({self.flops}) must be at least 2 x macs ({2 * self.macs})."
            )

    def to_dict(self) -> dict:
        """JSON-ready: the layer's name, kind, output shape and costs (in field order)."""
        return {**asdict(self), "output_shape": list(self.output_shape)}


class _LayerSum:
    """A read-only ModelCost total: the LayerCost count of the same name summed over the layers."""

    def __init__(self, doc: str):
        self.__doc__ = doc

    def __set_name__(self, owner, name: str):
        self.name = name

    def __get__(self, cost, owner=None) -> int:
        if cost is None:
            return self
        return sum(getattr(layer, self.name) for layer in cost.layers)


@dataclass(frozen=True)
class ModelCost:
    """The per-layer costs of a model for one call on ``batch_size`` samples; totals are derived."""

    model: str
    batch_size: int
    input_shape: tuple[int, ...]  # without the batch dimension
    layers: tuple[LayerCost, ...] = field(default_factory=tuple)

    def __post_init__(self):
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise InferBenchError(f"ModelCost {self.model!r}: batch_size must be an int >= 1, got {self.batch_size!r}.")
        object.__setattr__(self, "layers", tuple(self.layers))
        object.__setattr__(self, "input_shape", tuple(self.input_shape))

    # Totals over the layers (see the module's conventions).
    macs = _LayerSum("multiply-accumulates")
    flops = _LayerSum("FLOPs: 2 x MACs plus bias, pooling and BatchNormalization ops")
    params = _LayerSum("parameters")
    activation_bytes = _LayerSum("bytes of every layer's output (fp32, whole batch)")
    activation_ops = _LayerSum("activation-function ops (counted apart from FLOPs)")

    @property
    def weight_bytes(self) -> dict[str, int]:
        """Bytes of all weights at each precision."""
        return {p: sum(layer.weight_bytes[p] for layer in self.layers) for p in PRECISIONS}

    @property
    def input_bytes(self) -> int:
        """Bytes of the model's input (fp32, whole batch)."""
        return math.prod(self.input_shape) * ACTIVATION_BYTES_PER_ELEMENT * self.batch_size

    def layer(self, name: str) -> LayerCost:
        """The LayerCost named ``name``; an unknown name lists the valid ones."""
        for layer in self.layers:
            if layer.name == name:
                return layer
        valid = ", ".join(layer.name for layer in self.layers)
        raise InferBenchError(f"Model {self.model!r} has no layer {name!r}.", f"use one of: {valid}.")

    def to_dict(self) -> dict:
        """JSON-ready totals and layers."""
        return {
            "model": self.model,
            "batch_size": self.batch_size,
            "input_shape": list(self.input_shape),
            "flops": self.flops,
            "macs": self.macs,
            "params": self.params,
            "weight_bytes": self.weight_bytes,
            "activation_bytes": self.activation_bytes,
            "activation_ops": self.activation_ops,
            "input_bytes": self.input_bytes,
            "layers": [layer.to_dict() for layer in self.layers],
        }


# --- Keras layers -------------------------------------------------------------


def static_shape(tensor_shape, what: str) -> tuple[int, ...]:
    """A Keras shape without its batch dimension, every other dimension known."""
    dims = tuple(tensor_shape)[1:]
    if any(d is None for d in dims):
        raise InferBenchError(
            f"The cost model needs static shapes; {what} has shape {tuple(tensor_shape)}.",
            "give the model's Input a fixed shape (only the batch dimension may be None).",
        )
    return tuple(int(d) for d in dims)


def _channels(layer, shape: tuple[int, ...]) -> int:
    """The channel count of a layer's input or output ``shape`` (channels_last or channels_first)."""
    return shape[0] if getattr(layer, "data_format", "channels_last") == "channels_first" else shape[-1]


def _activation_name(layer) -> str | None:
    fn = getattr(layer, "activation", None)
    return None if fn is None else getattr(fn, "__name__", type(fn).__name__)


def _conv(layer, in_shape, out_shape):
    """MACs of a (grouped) convolution: output elements x kernel window x input channels per group."""
    window = math.prod(layer.kernel_size) * _channels(layer, in_shape) // layer.groups
    return math.prod(out_shape) * window, True


def _depthwise_conv(layer, in_shape, out_shape):
    """MACs of a depthwise convolution: each output element sees one input channel's window."""
    return math.prod(out_shape) * math.prod(layer.kernel_size), True


def _dense(layer, in_shape, out_shape):
    """MACs of Dense: every output element is a dot product over the input features."""
    return math.prod(out_shape) * in_shape[-1], True


def _no_macs(layer, in_shape, out_shape):
    return 0, False


def _pool_ops(layer, in_shape, out_shape) -> int:
    return math.prod(out_shape) * math.prod(layer.pool_size)


def _global_pool_ops(layer, in_shape, out_shape) -> int:
    return math.prod(in_shape)


def _batchnorm_ops(layer, in_shape, out_shape) -> int:
    return math.prod(out_shape) * BATCHNORM_FLOPS_PER_ELEMENT


def _rules():
    """(Keras classes, MAC rule, extra-FLOP rule, writes a new tensor, activation layer) in match order."""
    from keras import layers as L

    no_ops = None
    return (
        ((L.Conv1D, L.Conv2D, L.Conv3D), _conv, no_ops, True, False),
        ((L.DepthwiseConv1D, L.DepthwiseConv2D), _depthwise_conv, no_ops, True, False),
        ((L.Dense,), _dense, no_ops, True, False),
        ((L.MaxPooling1D, L.MaxPooling2D, L.MaxPooling3D,
          L.AveragePooling1D, L.AveragePooling2D, L.AveragePooling3D), _no_macs, _pool_ops, True, False),
        ((L.GlobalMaxPooling1D, L.GlobalMaxPooling2D, L.GlobalMaxPooling3D,
          L.GlobalAveragePooling1D, L.GlobalAveragePooling2D, L.GlobalAveragePooling3D),
         _no_macs, _global_pool_ops, True, False),
        ((L.BatchNormalization,), _no_macs, _batchnorm_ops, True, False),
        ((L.Activation, L.ReLU, L.Softmax, L.LeakyReLU, L.ELU, L.PReLU), _no_macs, no_ops, True, True),
        ((L.InputLayer, L.Flatten, L.Reshape, L.Dropout, L.SpatialDropout1D, L.SpatialDropout2D,
          L.SpatialDropout3D, L.GaussianNoise, L.GaussianDropout, L.AlphaDropout), _no_macs, no_ops, False, False),
    )


def _supported_kinds(rules) -> str:
    return ", ".join(sorted(cls.__name__ for classes, *_ in rules for cls in classes))


def layer_cost(layer, batch_size: int = 1, rules=None) -> LayerCost:
    """The cost of one built Keras layer for a call on ``batch_size`` samples (see the module's conventions)."""
    rules = rules or _rules()
    for classes, macs_rule, ops_rule, writes_tensor, is_activation in rules:
        if isinstance(layer, classes):
            break
    else:
        raise InferBenchError(
            f"The cost model does not know layer {layer.name!r} of type {type(layer).__name__}.",
            f"add a rule for it in infer_bench/explain/costmodel.py, or use supported layers: "
            f"{_supported_kinds(rules)}.",
        )
    if type(layer).__name__ == "InputLayer":
        out_shape = static_shape(layer.output.shape, f"input layer {layer.name!r}")
        in_shape = out_shape
    else:
        in_shape = static_shape(layer.input.shape, f"the input of layer {layer.name!r}")
        out_shape = static_shape(layer.output.shape, f"the output of layer {layer.name!r}")
    out_elements = math.prod(out_shape)

    macs, has_bias_slot = macs_rule(layer, in_shape, out_shape)
    bias_adds = out_elements if has_bias_slot and getattr(layer, "use_bias", False) else 0
    other_ops = ops_rule(layer, in_shape, out_shape) if ops_rule else 0
    flops = 2 * macs + bias_adds + other_ops

    activation = _activation_name(layer)
    acts = out_elements if is_activation or activation not in LINEAR_ACTIVATIONS else 0

    params = 0
    weight_bytes = dict.fromkeys(PRECISIONS, 0)
    for weight in layer.weights:
        n = math.prod(weight.shape)
        params += n
        weight_bytes["fp32"] += n * BYTES_PER_ELEMENT["fp32"]
        weight_bytes["fp16"] += n * BYTES_PER_ELEMENT["fp16"]
        is_kernel = weight.name.rsplit("/", 1)[-1] in INT8_KERNEL_WEIGHTS
        weight_bytes["int8"] += n * (BYTES_PER_ELEMENT["int8"] if is_kernel else INT8_OTHER_WEIGHT_BYTES)

    return LayerCost(
        name=layer.name,
        kind=type(layer).__name__,
        output_shape=out_shape,
        macs=macs * batch_size,
        flops=flops * batch_size,
        params=params,
        weight_bytes=weight_bytes,
        activation_bytes=(out_elements * ACTIVATION_BYTES_PER_ELEMENT * batch_size) if writes_tensor else 0,
        activation_ops=acts * batch_size,
    )


def model_cost(keras_model, batch_size: int = 1) -> ModelCost:
    """Per-layer and total cost of one call of a built Keras model on ``batch_size`` samples.

    Nested models are costed layer by layer. A layer type without a rule
    raises InferBenchError naming the supported ones.
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise InferBenchError(f"batch_size must be an int >= 1, got {batch_size!r}.")
    import keras

    if not keras_model.built or not getattr(keras_model, "inputs", None):
        raise InferBenchError(
            f"Model {keras_model.name!r} has no known input shape.",
            "build it with a keras.Input (or call it once) before costing it.",
        )
    if len(keras_model.inputs) != 1:
        raise InferBenchError(
            f"The cost model handles one-input models; {keras_model.name!r} has {len(keras_model.inputs)}."
        )
    rules = _rules()

    def flatten(model):
        for layer in model.layers:
            if isinstance(layer, keras.Model):
                yield from flatten(layer)
            else:
                yield layer

    layers = tuple(layer_cost(layer, batch_size, rules) for layer in flatten(keras_model))
    input_shape = static_shape(keras_model.inputs[0].shape, f"the input of model {keras_model.name!r}")
    return ModelCost(keras_model.name, batch_size, input_shape, layers)
