"""The cost model's rules: for each kind of Keras layer or ``keras.ops`` operation, how its work is counted.

``call_work`` gives one call's MACs, FLOPs, activation ops and activation
bytes from its rule; ``weight_costs`` a layer's parameters and weight bytes
by precision. One ``Rule`` row per family of kinds (the conventions are stated in
``costmodel``'s docstring). Every rule function takes ``(op, in_shapes,
out_shape)``, shapes without the batch dimension, and returns a count for
one sample. Layers match by class (subclasses included), in table order;
operations that are not layers (``x + 3.0`` on a symbolic tensor) match by
class name in ``OP_RULES``. A kind with no row is not guessed at: the cost
model lists it as uncounted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..catalog import COMPUTE_PRECISIONS
from ..errors import InferBenchError

# The precisions weights are costed at (the catalog's compute precisions).
PRECISIONS = COMPUTE_PRECISIONS

# Bytes per element of a tensor stored at each precision.
BYTES_PER_ELEMENT = {"fp32": 4, "fp16": 2, "int8": 1}

# Under int8, only these weights become 1 byte; every other weight (biases as
# int32, normalization vectors as float32) stays 4 bytes.
INT8_KERNEL_WEIGHTS = ("kernel", "depthwise_kernel", "pointwise_kernel")
INT8_OTHER_WEIGHT_BYTES = 4

ACTIVATION_BYTES_PER_ELEMENT = BYTES_PER_ELEMENT["fp32"]

# FLOPs per output element of an inference BatchNormalization (x * a + b: its four vectors fold into a and b).
BATCHNORM_FLOPS_PER_ELEMENT = 2
# FLOPs per output element of Normalization ((x - mean) / std, with std computed once per channel).
NORMALIZATION_FLOPS_PER_ELEMENT = 2

# Activation functions that cost nothing; every other one is one op per element.
LINEAR_ACTIVATIONS = ("linear", None)


def _window(op) -> int:
    return math.prod(op.kernel_size)


def _channel_axis(op) -> int:
    return 0 if getattr(op, "data_format", "channels_last") == "channels_first" else -1


def _in_channels(op, in_shapes) -> int:
    return in_shapes[0][_channel_axis(op)]


def conv_macs(op, in_shapes, out_shape) -> int:
    """(Grouped, dilated, strided) convolution: output elements x kernel window x input channels per group."""
    return math.prod(out_shape) * _window(op) * _in_channels(op, in_shapes) // op.groups


def depthwise_macs(op, in_shapes, out_shape) -> int:
    """Depthwise convolution: each output element sees one input channel's window."""
    return math.prod(out_shape) * _window(op)


def separable_macs(op, in_shapes, out_shape) -> int:
    """Separable convolution: the depthwise step (window per intermediate element) plus the 1x1 pointwise step.

    The intermediate tensor has the output's positions and ``input channels x
    depth_multiplier`` channels; the pointwise step reads all of them for
    every output element.
    """
    positions = math.prod(out_shape) // out_shape[_channel_axis(op)]
    middle = _in_channels(op, in_shapes) * op.depth_multiplier
    return positions * middle * _window(op) + math.prod(out_shape) * middle


def transpose_conv_macs(op, in_shapes, out_shape) -> int:
    """Transposed convolution: every input element is scattered over a kernel window of every output channel."""
    out_channels = out_shape[_channel_axis(op)]
    return math.prod(in_shapes[0]) * _window(op) * out_channels


def dense_macs(op, in_shapes, out_shape) -> int:
    """Dense (on the last axis): every output element is a dot product over the input features."""
    return math.prod(out_shape) * in_shapes[0][-1]


def pool_ops(op, in_shapes, out_shape) -> int:
    """Pooling: one comparison or add per window element, per output element."""
    return math.prod(out_shape) * math.prod(op.pool_size)


def global_pool_ops(op, in_shapes, out_shape) -> int:
    """Global pooling: one comparison or add per input element."""
    return math.prod(in_shapes[0])


def batchnorm_ops(op, in_shapes, out_shape) -> int:
    """Inference BatchNormalization: a scale and a shift per element."""
    return math.prod(out_shape) * BATCHNORM_FLOPS_PER_ELEMENT


def normalization_ops(op, in_shapes, out_shape) -> int:
    """Normalization: a subtraction and a division per element."""
    return math.prod(out_shape) * NORMALIZATION_FLOPS_PER_ELEMENT


def rescaling_ops(op, in_shapes, out_shape) -> int:
    """Rescaling: one multiply per element, plus one add when the offset is not zero."""
    has_offset = bool(np.any(np.asarray(op.offset) != 0))
    return math.prod(out_shape) * (1 + has_offset)


def merge_ops(op, in_shapes, out_shape) -> int:
    """Add, Subtract, Multiply, Maximum, Minimum of n tensors: n - 1 ops per output element."""
    return math.prod(out_shape) * (len(in_shapes) - 1)


def average_ops(op, in_shapes, out_shape) -> int:
    """Average of n tensors: n - 1 adds and one multiply per output element."""
    return math.prod(out_shape) * len(in_shapes)


def elementwise_ops(op, in_shapes, out_shape) -> int:
    """A keras.ops arithmetic operation (``x + 3.0``, ``x * y``): one op per output element."""
    return math.prod(out_shape)


def reduce_ops(op, in_shapes, out_shape) -> int:
    """A keras.ops reduction (mean, sum, max): one op per input element."""
    return math.prod(in_shapes[0])


def no_count(op, in_shapes, out_shape) -> int:
    return 0


@dataclass(frozen=True)
class Rule:
    """How one family of kinds is counted.

    ``kinds``: Keras layer classes, or ``keras.ops`` class names (in OP_RULES).
    ``macs``/``extra_flops``: per-sample counts (see the module docstring).
    ``bias``: a ``use_bias`` layer adds one FLOP per output element.
    ``writes_tensor``: False for views (Flatten, Reshape, Dropout at inference):
    no activation bytes. ``activation``: the whole kind is an activation
    function (one activation op per output element, unless linear).
    """

    kinds: tuple
    macs: Callable = no_count
    extra_flops: Callable = no_count
    bias: bool = False
    writes_tensor: bool = True
    activation: bool = False

    def __post_init__(self):
        if not self.kinds:
            raise InferBenchError("A cost Rule needs at least one kind.", "list the classes it counts.")
        if self.bias and self.macs is no_count:
            raise InferBenchError(f"Rule for {self.kinds}: a bias needs a MAC rule.", "give the rule its macs.")

    def kind_names(self) -> list[str]:
        """The names of the kinds this rule counts."""
        return [k if isinstance(k, str) else k.__name__ for k in self.kinds]


def layer_rules() -> tuple[Rule, ...]:
    """The rules for Keras layers, in match order."""
    from keras import layers as L

    return (
        Rule((L.Conv1D, L.Conv2D, L.Conv3D), conv_macs, bias=True),
        Rule((L.DepthwiseConv1D, L.DepthwiseConv2D), depthwise_macs, bias=True),
        Rule((L.SeparableConv1D, L.SeparableConv2D), separable_macs, bias=True),
        Rule((L.Conv1DTranspose, L.Conv2DTranspose, L.Conv3DTranspose), transpose_conv_macs, bias=True),
        Rule((L.Dense,), dense_macs, bias=True),
        Rule((L.MaxPooling1D, L.MaxPooling2D, L.MaxPooling3D,
              L.AveragePooling1D, L.AveragePooling2D, L.AveragePooling3D), extra_flops=pool_ops),
        Rule((L.GlobalMaxPooling1D, L.GlobalMaxPooling2D, L.GlobalMaxPooling3D,
              L.GlobalAveragePooling1D, L.GlobalAveragePooling2D, L.GlobalAveragePooling3D),
             extra_flops=global_pool_ops),
        Rule((L.BatchNormalization,), extra_flops=batchnorm_ops),
        Rule((L.Average,), extra_flops=average_ops),
        Rule((L.Add, L.Subtract, L.Multiply, L.Maximum, L.Minimum), extra_flops=merge_ops),
        Rule((L.Rescaling,), extra_flops=rescaling_ops),
        Rule((L.Normalization,), extra_flops=normalization_ops),
        Rule((L.Activation, L.ReLU, L.Softmax, L.LeakyReLU, L.ELU, L.PReLU), activation=True),
        # Copies that compute nothing but write a new tensor.
        Rule((L.Concatenate, L.ZeroPadding1D, L.ZeroPadding2D, L.ZeroPadding3D,
              L.Cropping1D, L.Cropping2D, L.Cropping3D, L.Permute)),
        # Views, and layers that are the identity at inference (noise, dropout, augmentation).
        Rule((L.InputLayer, L.Flatten, L.Reshape, L.Identity, L.ActivityRegularization,
              L.Dropout, L.SpatialDropout1D, L.SpatialDropout2D, L.SpatialDropout3D,
              L.GaussianNoise, L.GaussianDropout, L.AlphaDropout,
              L.RandomFlip, L.RandomRotation, L.RandomZoom, L.RandomTranslation, L.RandomContrast,
              L.RandomBrightness), writes_tensor=False),
    )


# keras.ops operations in a functional graph that are not layers, by class name.
OP_RULES = (
    Rule(("Add", "Subtract", "Multiply", "Divide", "TrueDivide", "Maximum", "Minimum", "Power", "Square",
          "Sqrt", "Negative", "Abs", "Exp", "Clip"), extra_flops=elementwise_ops),
    Rule(("Mean", "Sum", "Max", "Min"), extra_flops=reduce_ops),
    Rule(("Relu", "Relu6", "Sigmoid", "HardSigmoid", "Silu", "HardSilu", "Softmax", "LogSoftmax", "Gelu", "Elu",
          "Selu", "LeakyRelu", "Softplus", "Tanh"), activation=True),
    Rule(("Concatenate", "Transpose", "Pad")),
    Rule(("Reshape", "ExpandDims", "Squeeze", "Flatten"), writes_tensor=False),
)


def find_rule(op, rules: tuple[Rule, ...]) -> Rule | None:
    """The rule that counts ``op`` (a layer by class, any other operation by class name), or None."""
    import keras

    if isinstance(op, keras.layers.Layer):
        return next((r for r in rules if isinstance(op, r.kinds)), None)
    name = type(op).__name__
    return next((r for r in OP_RULES if name in r.kinds), None)


def supported_kinds(rules: tuple[Rule, ...]) -> str:
    """Every layer class name the rules count, sorted, comma-separated."""
    return ", ".join(sorted(name for rule in rules for name in rule.kind_names()))


def activation_name(op) -> str | None:
    """The name of ``op``'s activation function (None when it has none)."""
    fn = getattr(op, "activation", None)
    return None if fn is None else getattr(fn, "__name__", type(fn).__name__)


def weight_costs(op, seen: set | None = None) -> tuple[int, dict[str, int]]:
    """(parameters, weight bytes by precision) of ``op``'s weights not already in ``seen`` (ids; updated)."""
    params = 0
    weight_bytes = dict.fromkeys(PRECISIONS, 0)
    for weight in getattr(op, "weights", ()):
        if seen is not None:
            if id(weight) in seen:
                continue  # shared with a layer already counted
            seen.add(id(weight))
        n = math.prod(weight.shape)
        params += n
        weight_bytes["fp32"] += n * BYTES_PER_ELEMENT["fp32"]
        weight_bytes["fp16"] += n * BYTES_PER_ELEMENT["fp16"]
        is_kernel = weight.name.rsplit("/", 1)[-1] in INT8_KERNEL_WEIGHTS
        weight_bytes["int8"] += n * (BYTES_PER_ELEMENT["int8"] if is_kernel else INT8_OTHER_WEIGHT_BYTES)
    return params, weight_bytes


def call_work(op, rule: Rule, in_shapes, out_shapes) -> dict[str, int]:
    """The work of one call of ``op`` on one sample: macs, flops, activation_ops, activation_bytes."""
    out_shape = out_shapes[0]
    out_elements = math.prod(out_shape)
    macs = rule.macs(op, in_shapes, out_shape)
    bias_adds = out_elements if rule.bias and getattr(op, "use_bias", False) else 0
    flops = 2 * macs + bias_adds + rule.extra_flops(op, in_shapes, out_shape)
    activation = activation_name(op)
    nonlinear = activation != "linear" if rule.activation else activation not in LINEAR_ACTIVATIONS
    written = sum(math.prod(shape) for shape in out_shapes) if rule.writes_tensor else 0
    return {"macs": macs, "flops": flops, "activation_ops": out_elements if nonlinear else 0,
            "activation_bytes": written * ACTIVATION_BYTES_PER_ELEMENT}
