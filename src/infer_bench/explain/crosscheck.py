"""Independent counts that cross-check the cost model's conventions: TensorFlow's profiler and the ONNX graph.

``tf_profiler_flops`` asks TensorFlow's own profiler for a model's float
ops; ``onnx_macs`` counts MACs again from an exported ONNX graph (Conv, Gemm,
MatMul and their integer/QLinear forms) with ONNX's shape inference. Neither
shares code with ``costmodel``, which is what makes them a check.
"""

from __future__ import annotations

import math
import os

from ..errors import ArtifactError, InferBenchError
from .costmodel import static_shape

# ONNX nodes that hold multiply-accumulates, by how their MACs are counted.
ONNX_CONV_OPS = ("Conv", "ConvInteger", "QLinearConv")
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


def onnx_macs(onnx_path_or_model, batch_size: int = 1) -> int:
    """Multiply-accumulates of one call of an ONNX model, counted from its graph alone.

    Every symbolic or unknown leading (batch) dimension of the graph inputs is
    fixed to ``batch_size``, stale shape annotations are dropped, and ONNX's
    shape inference (with data propagation, for Reshape targets computed from
    Shape) gives each node's shapes. Conv-like nodes count ``output elements x
    (input channels / group) x kernel window``, MatMul-like nodes ``output
    elements x K``. Nodes inside subgraphs (If, Loop) are not counted.
    """
    from onnx import shape_inference

    model = _load_onnx(onnx_path_or_model)
    graph = model.graph
    initializers = {init.name: tuple(init.dims) for init in graph.initializer}
    for value in list(graph.input) + list(graph.output):
        if value.name in initializers:
            continue
        dims = value.type.tensor_type.shape.dim
        if dims and (not dims[0].HasField("dim_value") or dims[0].dim_value <= 0):
            dims[0].Clear()
            dims[0].dim_value = batch_size
    del graph.value_info[:]  # annotations with a symbolic batch would clash with the fixed one
    inferred = shape_inference.infer_shapes(model, data_prop=True)

    shapes = dict(initializers)
    for value in list(inferred.graph.input) + list(inferred.graph.value_info) + list(inferred.graph.output):
        tensor_type = value.type.tensor_type
        if tensor_type.HasField("shape"):
            dims = tensor_type.shape.dim
            if all(d.HasField("dim_value") for d in dims):
                shapes.setdefault(value.name, tuple(d.dim_value for d in dims))
    for node in inferred.graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    shapes.setdefault(node.output[0], tuple(attr.t.dims))

    def shape_of(node, name: str) -> tuple[int, ...]:
        if name not in shapes:
            raise InferBenchError(
                f"ONNX shape inference left the shape of {name!r} (input/output of {node.op_type} node "
                f"{node.name!r}) unknown, so its MACs cannot be counted.",
                "export the model with a static input shape (only the batch dimension may be dynamic).",
            )
        return shapes[name]

    total = 0
    for node in inferred.graph.node:
        if node.op_type in ONNX_CONV_OPS:
            # Weight is input 1 (Conv, ConvInteger) or input 3 (QLinearConv: x, x_scale, x_zp, w, ...).
            weight = node.input[3] if node.op_type == "QLinearConv" else node.input[1]
            w = shape_of(node, weight)  # (M, C/group, k1, k2, ...)
            y = shape_of(node, node.output[0])
            total += math.prod(y) * math.prod(w[1:])
        elif node.op_type in ONNX_MATMUL_OPS:
            a = shape_of(node, node.input[0])
            y = shape_of(node, node.output[0])
            if node.op_type == "Gemm":
                trans_a = next((attr.i for attr in node.attribute if attr.name == "transA"), 0)
                k = a[0] if trans_a else a[1]
            else:
                k = a[-1]
            total += math.prod(y) * k
    return total
