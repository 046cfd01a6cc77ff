"""What a Keras model costs to run once: arithmetic, parameters and bytes, per layer and in total.

The numbers come from the layer configs and the shapes each layer is
actually called with (``kerasgraph.op_calls``), so any stride, padding or
dilation is covered without re-deriving it. ``costrules`` holds one rule
per family of layer kinds.

Conventions (the tests assert them on hand-computed layers):

* **MACs** (multiply-accumulates) are counted for the layers that multiply
  by weights, and only for them:

  - Conv1D/2D/3D (any groups, dilation, strides, padding): ``output elements
    x kernel window x input channels / groups``;
  - DepthwiseConv: ``output elements x kernel window``;
  - SeparableConv: its depthwise step (``output positions x input channels
    x depth_multiplier x kernel window``) plus its pointwise step
    (``output elements x input channels x depth_multiplier``);
  - Conv*Transpose: ``input elements x kernel window x output channels``
    (each input element is scattered over a window of every output channel);
  - Dense: ``output elements x input features``.

  These are the nodes ``crosscheck.onnx_macs`` counts in the exported graph
  (Conv, ConvTranspose, MatMul, Gemm).
* **FLOPs** = ``2 x MACs`` (one multiply and one add per MAC) plus one add per
  output element for a bias, plus, per output element unless said otherwise:
  ``pool window`` ops (comparisons or adds) for a pooling layer; one op per
  *input* element for global pooling; 2 for an inference BatchNormalization
  (a scale and a shift: its four vectors fold into ``x * a + b``); 2 for
  Normalization (``(x - mean) / std``); 1 for Rescaling (2 with a non-zero
  offset); ``n - 1`` for Add/Subtract/Multiply/Maximum/Minimum of ``n``
  tensors and ``n`` for Average; 1 for ``keras.ops`` arithmetic in a
  functional graph (MobileNetV3's hard-sigmoid, ``ReLU6(x + 3) * (1/6)``,
  has an Add and a Multiply). Concatenate, ZeroPadding and Cropping compute
  nothing. For Conv and Dense this is the convention of TensorFlow's
  profiler (``tf_profiler_flops`` cross-checks it).
* **Activations** (ReLU, ReLU6, sigmoid, swish, hard-swish, softmax, ...:
  inside a layer, as their own layer, or as a ``keras.ops`` call) are *not*
  in FLOPs: they are counted apart as ``activation_ops``, one op per output
  element (0 for a linear one). Their cost is not multiply-add arithmetic, and
  tools disagree on them (TensorFlow's profiler counts 0 for ReLU and 5 per
  element for softmax); they are a few percent of a model's FLOPs at most.
* **Weight bytes** per precision: fp32 4 B and fp16 2 B per parameter; int8
  1 B per kernel weight (``kernel``, ``depthwise_kernel``,
  ``pointwise_kernel``) while biases stay 4 B (int32, as ONNX Runtime's
  QDQ/QLinear schemes keep them) and BatchNormalization's and
  Normalization's vectors stay 4 B (float32).
* **Activation bytes** are each layer's output at fp32 (4 B per element) for
  the whole batch; 0 for layers that write no new tensor at inference
  (Input, Flatten, Reshape, Dropout, augmentation layers): their output is a
  view of their input.
* **Input bytes**: the model's input at fp32 for the whole batch.

**Nested models** (a ``keras.applications`` backbone inside a Sequential)
are walked: their layers are costed one by one and named ``outer/inner``.
**A layer called several times** (shared weights) does its work at every
call: its entry sums the work of its ``calls``, while its parameters count
once (a variable shared by two layers counts once too).

**A layer with no rule** (an LSTM, a subclassed layer, a Resizing layer) is
never costed as zero in silence: it goes into ``ModelCost.uncounted`` with
its name, kind, parameters and share of the model's parameters, and
``uncounted_sentence`` says so in words. Its parameters and weight bytes are
in the totals (they are known); its MACs, FLOPs and activation bytes are not.

MACs, FLOPs, activation ops and activation bytes scale with ``batch_size``;
parameters and weight bytes do not.

``crosscheck`` counts the same things again, independently (TensorFlow's
profiler, ONNX shape inference), to test these conventions.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from ..errors import InferBenchError
# BYTES_PER_ELEMENT and PRECISIONS are imported from here by the rest of explain (ceilings).
from .costrules import (ACTIVATION_BYTES_PER_ELEMENT, BYTES_PER_ELEMENT, PRECISIONS, call_work, find_rule,  # noqa: F401
                        layer_rules, supported_kinds, weight_costs)
from .kerasgraph import op_calls, static_shape


def _check_weight_bytes(owner: str, weight_bytes: dict) -> None:
    if set(weight_bytes) != set(PRECISIONS):
        raise InferBenchError(
            f"{owner}: weight_bytes must have one entry per precision ({', '.join(PRECISIONS)}), "
            f"got {sorted(weight_bytes)}.",
            "build it with weight_bytes from the cost model's weight_costs.",
        )


@dataclass(frozen=True)
class LayerCost:
    """The cost of one layer on ``batch_size`` samples, summed over its ``calls`` (usually 1).

    ``output_shape`` (of its first call) leaves out the batch dimension.
    ``weight_bytes`` maps each of PRECISIONS to the bytes of this layer's
    weights at it.
    """

    name: str
    kind: str  # the Keras class name: "Conv2D", "Dense", "MaxPooling2D", ... ("ops.Add" for a keras.ops call)
    output_shape: tuple[int, ...]
    macs: int
    flops: int
    params: int
    weight_bytes: dict[str, int]
    activation_bytes: int
    activation_ops: int = 0
    calls: int = 1

    def __post_init__(self):
        for name in ("macs", "flops", "params", "activation_bytes", "activation_ops"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise InferBenchError(f"LayerCost {self.name!r}: {name} must be an int >= 0, got {value!r}.",
                                      "count it with the cost model's rules (costrules).")
        if not isinstance(self.calls, int) or self.calls < 1:
            raise InferBenchError(f"LayerCost {self.name!r}: calls must be an int >= 1, got {self.calls!r}.",
                                  "cost only layers the model calls.")
        _check_weight_bytes(f"LayerCost {self.name!r}", self.weight_bytes)
        if self.flops < 2 * self.macs:
            raise InferBenchError(
                f"LayerCost {self.name!r}: flops ({self.flops}) must be at least 2 x macs ({2 * self.macs}).",
                "count one multiply and one add per MAC.",
            )

    def to_dict(self) -> dict:
        """JSON-ready: the layer's name, kind, output shape and costs (in field order)."""
        return {**asdict(self), "output_shape": list(self.output_shape)}


@dataclass(frozen=True)
class UncountedLayer:
    """A layer the cost model has no rule for: its work is unknown, its parameters are not.

    ``param_share`` is its share of the whole model's parameters (0 to 1).
    """

    name: str
    kind: str
    params: int
    weight_bytes: dict[str, int]
    param_share: float

    def __post_init__(self):
        if not isinstance(self.params, int) or self.params < 0:
            raise InferBenchError(f"UncountedLayer {self.name!r}: params must be an int >= 0, got {self.params!r}.",
                                  "count its weights' elements.")
        if not 0.0 <= self.param_share <= 1.0:
            raise InferBenchError(
                f"UncountedLayer {self.name!r}: param_share must be between 0 and 1, got {self.param_share!r}.",
                "divide its parameters by the whole model's.")
        _check_weight_bytes(f"UncountedLayer {self.name!r}", self.weight_bytes)

    def to_dict(self) -> dict:
        """JSON-ready: name, kind, parameters, weight bytes and parameter share."""
        return asdict(self)


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
    """The per-layer costs of a model for one call on ``batch_size`` samples; totals are derived.

    ``uncounted`` lists the layers with no cost rule: their parameters and
    weight bytes are in the totals, their work is not.
    """

    model: str
    batch_size: int
    input_shape: tuple[int, ...]  # without the batch dimension
    layers: tuple[LayerCost, ...] = field(default_factory=tuple)
    uncounted: tuple[UncountedLayer, ...] = field(default_factory=tuple)

    def __post_init__(self):
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise InferBenchError(f"ModelCost {self.model!r}: batch_size must be an int >= 1, got {self.batch_size!r}.",
                                  "cost a call on at least one sample.")
        object.__setattr__(self, "layers", tuple(self.layers))
        object.__setattr__(self, "uncounted", tuple(self.uncounted))
        object.__setattr__(self, "input_shape", tuple(self.input_shape))

    # Totals over the counted layers (see the module's conventions).
    macs = _LayerSum("multiply-accumulates")
    flops = _LayerSum("FLOPs: 2 x MACs plus bias, pooling, normalization and elementwise ops")
    activation_bytes = _LayerSum("bytes of every layer's output (fp32, whole batch)")
    activation_ops = _LayerSum("activation-function ops (counted apart from FLOPs)")

    @property
    def params(self) -> int:
        """Parameters of the whole model, uncounted layers included."""
        return sum(entry.params for entry in self.layers + self.uncounted)

    @property
    def weight_bytes(self) -> dict[str, int]:
        """Bytes of all weights at each precision, uncounted layers included."""
        return {p: sum(entry.weight_bytes[p] for entry in self.layers + self.uncounted) for p in PRECISIONS}

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
        """JSON-ready totals, layers and uncounted layers."""
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
            "uncounted": [entry.to_dict() for entry in self.uncounted],
        }


def uncounted_sentence(uncounted) -> str | None:
    """One sentence naming the layers left out of the work counts (``ModelCost.to_dict()["uncounted"]``).

    None when every layer was counted.
    """
    if not uncounted:
        return None
    listed = ", ".join(f"{u['name']} ({u['kind']}, {100 * u['param_share']:.1f}% of the parameters)"
                       for u in uncounted)
    return (f"The cost model has no rule for {len(uncounted)} layer(s), so their work is left out of the "
            f"MAC, FLOP and byte counts: {listed}.")


# --- Keras layers -------------------------------------------------------------


def _kind(op) -> str:
    import keras

    name = type(op).__name__
    return name if isinstance(op, keras.layers.Layer) else f"ops.{name}"


def _scaled(work: dict[str, int], batch_size: int) -> dict[str, int]:
    return {key: value * batch_size for key, value in work.items()}


def layer_cost(layer, batch_size: int = 1, rules=None) -> LayerCost:
    """The cost of one built Keras layer, called once, on ``batch_size`` samples (see the module's conventions).

    A layer type without a rule raises InferBenchError naming the supported
    ones (``model_cost`` lists such layers in ``uncounted`` instead).
    """
    rules = rules or layer_rules()
    rule = find_rule(layer, rules)
    if rule is None:
        raise InferBenchError(
            f"The cost model does not know layer {layer.name!r} of type {type(layer).__name__}.",
            f"add a rule for it in infer_bench/explain/costrules.py, or use supported layers: "
            f"{supported_kinds(rules)}.",
        )
    if type(layer).__name__ == "InputLayer":
        out_shape = static_shape(layer.output.shape, f"input layer {layer.name!r}")
        in_shape = out_shape
    else:
        in_shape = static_shape(layer.input.shape, f"the input of layer {layer.name!r}")
        out_shape = static_shape(layer.output.shape, f"the output of layer {layer.name!r}")
    params, weight_bytes = weight_costs(layer)
    work = _scaled(call_work(layer, rule, (in_shape,), (out_shape,)), batch_size)
    return LayerCost(name=layer.name, kind=type(layer).__name__, output_shape=out_shape, params=params,
                     weight_bytes=weight_bytes, **work)


def _unique_name(name: str, op, owners: dict) -> str:
    """``name``, or ``name#2``, ``name#3``... when another operation already has it (ops may share names)."""
    unique, n = name, 1
    while owners.setdefault(unique, id(op)) != id(op):
        n += 1
        unique = f"{name}#{n}"
    return unique


def model_cost(keras_model, batch_size: int = 1) -> ModelCost:
    """Per-layer and total cost of one call of a built Keras model on ``batch_size`` samples.

    Walks every call of every operation (nested models named ``outer/inner``);
    a layer type without a rule is listed in ``ModelCost.uncounted`` with its
    share of the parameters.
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise InferBenchError(f"batch_size must be an int >= 1, got {batch_size!r}.",
                              "cost a call on at least one sample.")
    if not keras_model.built or not getattr(keras_model, "inputs", None):
        raise InferBenchError(
            f"Model {keras_model.name!r} has no known input shape.",
            "build it with a keras.Input (or call it once) before costing it.",
        )
    if len(keras_model.inputs) != 1:
        raise InferBenchError(
            f"The cost model handles one-input models; {keras_model.name!r} has {len(keras_model.inputs)}.",
            "cost a model with a single image input.",
        )
    rules = layer_rules()
    seen_weights: set = set()
    owners: dict = {}
    counted: dict[tuple, dict] = {}  # (name, op id) -> the layer's entry, in order of first call
    uncounted: dict[tuple, dict] = {}
    for call in op_calls(keras_model):
        key = (call.name, id(call.op))
        rule = find_rule(call.op, rules)
        table = counted if rule is not None else uncounted
        if key not in table:
            params, weight_bytes = weight_costs(call.op, seen_weights)
            table[key] = {"name": _unique_name(call.name, call.op, owners), "kind": _kind(call.op),
                          "params": params, "weight_bytes": weight_bytes}
        if rule is None:
            continue
        entry = counted[key]
        work = _scaled(call_work(call.op, rule, call.in_shapes, call.out_shapes), batch_size)
        if "calls" not in entry:
            entry.update(output_shape=call.out_shapes[0], calls=0, **dict.fromkeys(work, 0))
        entry["calls"] += 1
        for name, value in work.items():
            entry[name] += value

    layers = tuple(LayerCost(**entry) for entry in counted.values())
    total_params = sum(e["params"] for e in counted.values()) + sum(e["params"] for e in uncounted.values())
    missing = tuple(UncountedLayer(param_share=e["params"] / total_params if total_params else 0.0, **e)
                    for e in uncounted.values())
    input_shape = static_shape(keras_model.inputs[0].shape, f"the input of model {keras_model.name!r}")
    return ModelCost(keras_model.name, batch_size, input_shape, layers, missing)
