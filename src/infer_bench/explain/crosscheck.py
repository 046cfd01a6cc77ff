"""Independent counts that cross-check the cost model's conventions: TensorFlow's profiler and the ONNX graph.

``tf_profiler_flops`` asks TensorFlow's own profiler for a model's float
ops; ``onnx_macs`` counts MACs again from an exported ONNX graph (Conv with
any group, ConvTranspose, Gemm, MatMul and their integer/QLinear forms) with
ONNX's shape inference. Neither shares counting code with ``costmodel``,
which is what makes them a check: the tests hold ``model_cost`` to within 2%
of ``onnx_macs`` on ``keras.applications`` models (MobileNetV2,
MobileNetV3Small, EfficientNetB0, ResNet50, DenseNet121), and on every
convolution kind Keras has.
"""

from __future__ import annotations

import math
import os

from ..errors import ArtifactError, InferBenchError
from .kerasgraph import static_shape

# ONNX nodes that hold multiply-accumulates, by how their MACs are counted.
ONNX_CONV_OPS = ("Conv", "ConvInteger", "QLinearConv")
ONNX_CONV_TRANSPOSE_OPS = ("ConvTranspose",)
ONNX_MATMUL_OPS = ("MatMul", "MatMulInteger", "QLinearMatMul", "Gemm")


def tf_profiler_flops(keras_model, batch_size: int = 1) -> int:
    """TensorFlow's own float-op count for one inference call (an independent FLOPs check).

    Traces ``model(x, training=False)`` for a fixed batch, freezes the
    variables into constants, and runs ``tf.compat.v1.profiler`` with
    ``ProfileOptionBuilder.float_operation()`` on that graph. The profiler
    counts Conv2D and MatMul as 2 x MACs, BiasAdd/Add/Mul once per element,
    MaxPool as window x output elements, Softmax as 5 per element, and ReLU
    and Sigmoid as 0.
    """
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    shape = [batch_size, *static_shape(keras_model.inputs[0].shape, "the model's input")]
    fn = tf.function(lambda x: keras_model(x, training=False))
    frozen = convert_variables_to_constants_v2(fn.get_concrete_function(tf.TensorSpec(shape, tf.float32)))
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    info = tf.compat.v1.profiler.profile(
        graph=frozen.graph, run_meta=tf.compat.v1.RunMetadata(), cmd="op", options=options
    )
    return int(info.total_float_ops)


def _load_onnx(onnx_path_or_model):
    import onnx

    if isinstance(onnx_path_or_model, onnx.ModelProto):
        model = onnx.ModelProto()
        model.CopyFrom(onnx_path_or_model)
        return model
    path = os.fspath(onnx_path_or_model)
    if not os.path.isfile(path):
        raise ArtifactError(f"No ONNX file at {path!r}.", "export the model first, or pass the right path.")
    return onnx.load(path)


def _fix_batch(model, batch_size: int) -> None:
    """Fix every symbolic or unknown leading (batch) dimension of the graph's inputs and outputs to ``batch_size``."""
    graph = model.graph
    initializers = {init.name for init in graph.initializer}
    for value in list(graph.input) + list(graph.output):
        if value.name in initializers:
            continue
        dims = value.type.tensor_type.shape.dim
        if dims and (not dims[0].HasField("dim_value") or dims[0].dim_value <= 0):
            dims[0].Clear()
            dims[0].dim_value = batch_size
    del graph.value_info[:]  # annotations with a symbolic batch would clash with the fixed one


def _refuse_unconverted_ops(model) -> None:
    """Refuse a graph holding standard-domain nodes ONNX does not define (TensorFlow ops the exporter left)."""
    import onnx

    unknown = [n for n in model.graph.node
               if n.domain in ("", "ai.onnx") and not onnx.defs.has(n.op_type, n.domain)]
    if unknown:
        listed = ", ".join(f"{n.op_type} ({n.name})" for n in unknown[:5])
        raise ArtifactError(
            f"The ONNX graph holds {len(unknown)} node(s) ONNX does not define, TensorFlow ops its exporter "
            f"could not convert: {listed}. No ONNX runtime can run it, and its MACs cannot be counted.",
            "re-export without the layers behind them (Keras' exporter cannot convert a Conv2D with "
            "groups > 1, for one).",
        )


def _static_shapes(model) -> dict[str, tuple[int, ...]]:
    """Every fully known tensor shape of an inferred graph: values, outputs and Constant nodes."""
    graph = model.graph
    shapes = {}
    for value in list(graph.input) + list(graph.value_info) + list(graph.output):
        tensor_type = value.type.tensor_type
        if tensor_type.HasField("shape"):
            dims = tensor_type.shape.dim
            if all(d.HasField("dim_value") for d in dims):
                shapes.setdefault(value.name, tuple(d.dim_value for d in dims))
    for node in graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    shapes.setdefault(node.output[0], tuple(attr.t.dims))
    return shapes


def _needed(node) -> tuple[str, ...]:
    """The tensors whose shapes count ``node``'s MACs (none for a node without MACs)."""
    if node.op_type in ONNX_CONV_OPS:
        # Weight is input 1 (Conv, ConvInteger) or input 3 (QLinearConv: x, x_scale, x_zp, w, ...).
        return (node.input[3] if node.op_type == "QLinearConv" else node.input[1]), node.output[0]
    if node.op_type in ONNX_CONV_TRANSPOSE_OPS:
        return node.input[0], node.input[1]
    if node.op_type in ONNX_MATMUL_OPS:
        return node.input[0], node.output[0]
    return ()


def _node_macs(node, first: tuple[int, ...], second: tuple[int, ...]) -> int:
    """MACs of one node from the shapes of its ``_needed`` tensors."""
    if node.op_type in ONNX_CONV_OPS:  # weight (M, C/group, k1, ...), output
        return math.prod(second) * math.prod(first[1:])
    if node.op_type in ONNX_CONV_TRANSPOSE_OPS:  # input, weight (C, M/group, k1, ...)
        return math.prod(first) * math.prod(second[1:])
    if node.op_type == "Gemm":  # A, output
        trans_a = next((attr.i for attr in node.attribute if attr.name == "transA"), 0)
        return math.prod(second) * (first[0] if trans_a else first[1])
    return math.prod(second) * first[-1]  # MatMul: A, output


def onnx_macs(onnx_path_or_model, batch_size: int = 1) -> int:
    """Multiply-accumulates of one call of an ONNX model, counted from its graph alone.

    Every symbolic or unknown leading (batch) dimension of the graph inputs is
    fixed to ``batch_size``, stale shape annotations are dropped, and ONNX's
    shape inference (with data propagation, for Reshape targets computed from
    Shape) gives each node's shapes; where it leaves one unknown (a Dense on
    a 4-D tensor exports as a Tensordot whose Reshape target goes through
    ReduceProd), ONNX Runtime's symbolic shape inference fills it in.
    Conv-like nodes count ``output elements x (input channels / group) x
    kernel window`` (a depthwise convolution is a Conv whose group is its
    channel count), ConvTranspose ``input elements x (output channels /
    group) x kernel window`` (its weight is ``(C, M/group, k1, k2, ...)``),
    MatMul-like nodes ``output elements x K``. Nodes inside subgraphs (If,
    Loop) are not counted. A graph with nodes ONNX does not define raises
    ArtifactError.
    """
    from onnx import shape_inference

    model = _load_onnx(onnx_path_or_model)
    _refuse_unconverted_ops(model)
    _fix_batch(model, batch_size)
    shapes = {init.name: tuple(init.dims) for init in model.graph.initializer}
    shapes.update(_static_shapes(shape_inference.infer_shapes(model, data_prop=True)))
    needed = [(node, _needed(node)) for node in model.graph.node if _needed(node)]
    if any(name not in shapes for _, names in needed for name in names):
        from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference

        for name, shape in _static_shapes(SymbolicShapeInference.infer_shapes(model, auto_merge=True)).items():
            shapes.setdefault(name, shape)

    total = 0
    for node, names in needed:
        missing = [name for name in names if name not in shapes]
        if missing:
            raise InferBenchError(
                f"Shape inference left the shape of {missing[0]!r} (input/output of {node.op_type} node "
                f"{node.name!r}) unknown, so its MACs cannot be counted.",
                "export the model with a static input shape (only the batch dimension may be dynamic).",
            )
        total += _node_macs(node, *(shapes[name] for name in names))
    return total
