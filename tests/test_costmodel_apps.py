"""onnx_macs by hand, and the cost model against the MACs of exported graphs: every conv kind, keras.applications.

``model.export(path, format="onnx")`` is Keras 3's own exporter (tf2onnx);
``onnx_macs`` counts the graph it writes without sharing counting code with
``model_cost``. The keras.applications models are built with
``weights=None`` (no download) at 96x96x3 with 10 classes.
"""

from __future__ import annotations

import gc

import numpy as np
import pytest

from infer_bench.errors import ArtifactError
from infer_bench.explain.costmodel import model_cost
from infer_bench.explain.crosscheck import onnx_macs

# How far the ONNX graph's MAC count may sit from ours (issue 15).
CROSS_CHECK_TOLERANCE = 0.02

APPLICATIONS = ["MobileNetV2", "MobileNetV3Small", "EfficientNetB0", "ResNet50", "DenseNet121"]
APP_INPUT = (96, 96, 3)


def export_onnx(model, path):
    """The package's own ONNX export (Keras' exporter, called once first, tf2onnx's copies freed)."""
    from infer_bench.export.onnx_formats import export_onnx_fp32

    export_onnx_fp32(model, path)
    return path


def every_conv_kind():
    """One layer of each convolution kind Keras' exporter converts, with their MACs worked out by hand."""
    import keras
    from keras import layers

    x = keras.Input((20, 20, 3))
    y = layers.Conv2D(8, 3, strides=2, padding="same", name="strided")(x)  # 10*10*8 x 3*3*3 = 21,600
    y = layers.Conv2D(8, 3, dilation_rate=2, padding="same", name="dilated")(y)  # 10*10*8 x 3*3*8 = 57,600
    y = layers.DepthwiseConv2D(3, depth_multiplier=2, name="depthwise")(y)  # 8*8*16 x 3*3 = 9,216
    # 16 channels x 2 = 32 between the steps: depthwise 8*8*32 x 3*3 = 18,432, pointwise 8*8*12 x 32 = 24,576
    y = layers.SeparableConv2D(12, 3, padding="same", depth_multiplier=2, activation="hard_swish",
                               name="separable")(y)
    y = layers.Conv2DTranspose(6, 3, strides=2, name="transpose")(y)  # 8*8*12 inputs x 3*3 x 6 = 41,472 -> 17x17x6
    y = layers.Dense(5, name="dense_4d")(y)  # 17*17*5 x 6 = 8,670
    y = layers.GlobalAveragePooling2D(name="gap")(y)
    y = layers.Dense(3, activation="softmax", name="head")(y)  # 3 x 5 = 15
    return keras.Model(x, y, name="every_conv_kind")


EVERY_CONV_KIND_MACS = {"strided": 21_600, "dilated": 57_600, "depthwise": 9_216,
                        "separable": 18_432 + 24_576, "transpose": 41_472,
                        "dense_4d": 8_670, "gap": 0, "head": 15}


def test_every_conv_kind_matches_the_onnx_graph(tmp_path):
    model = every_conv_kind()
    cost = model_cost(model)
    assert {layer.name: layer.macs for layer in cost.layers} == EVERY_CONV_KIND_MACS
    path = export_onnx(model, tmp_path / "kinds.onnx")
    assert onnx_macs(path) == cost.macs == 181_581
    assert onnx_macs(path, batch_size=2) == model_cost(model, batch_size=2).macs == 2 * 181_581


def test_onnx_macs_on_hand_built_graph():
    """Grouped Conv, Gemm with transA, and MatMul on a symbolic batch, counted by hand."""
    from onnx import TensorProto, helper, numpy_helper

    f = TensorProto.FLOAT
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["y"], group=2),
        helper.make_node("Gemm", ["a", "b"], ["g"], transA=1),
        helper.make_node("MatMul", ["m", "k"], ["z"]),
    ]
    graph = helper.make_graph(
        nodes, "hand",
        [helper.make_tensor_value_info("x", f, [1, 4, 8, 8]),
         helper.make_tensor_value_info("a", f, [5, 3]),
         helper.make_tensor_value_info("m", f, ["batch", 10])],
        [helper.make_tensor_value_info(n, f, None) for n in ("y", "g", "z")],
        initializer=[numpy_helper.from_array(np.zeros((6, 2, 3, 3), np.float32), "w"),
                     numpy_helper.from_array(np.zeros((5, 7), np.float32), "b"),
                     numpy_helper.from_array(np.zeros((10, 4), np.float32), "k")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    conv = 6 * 6 * 6 * (2 * 3 * 3)  # y is 1x6x6x6; each output sees 2 channels x 3x3
    gemm = 3 * 7 * 5  # A^T is 3x5, so K = 5
    assert onnx_macs(model) == conv + gemm + 1 * 4 * 10
    assert onnx_macs(model, batch_size=3) == conv + gemm + 3 * 4 * 10  # only the symbolic batch takes it


def test_onnx_macs_missing_file(tmp_path):
    with pytest.raises(ArtifactError, match="No ONNX file"):
        onnx_macs(tmp_path / "nope.onnx")


def test_onnx_macs_counts_conv_transpose_by_hand():
    """ConvTranspose: input elements x (output channels / group) x kernel window."""
    from onnx import TensorProto, helper, numpy_helper

    node = helper.make_node("ConvTranspose", ["x", "w"], ["y"], strides=[2, 2], group=2)
    graph = helper.make_graph(
        [node], "hand",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4, 5, 5])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        initializer=[numpy_helper.from_array(np.zeros((4, 3, 3, 3), np.float32), "w")],  # (C, M/group, kh, kw)
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    assert onnx_macs(model) == 4 * 5 * 5 * (3 * 3 * 3) == 2_700
    assert onnx_macs(model, batch_size=3) == 3 * 2_700


def test_onnx_macs_refuses_unconverted_tensorflow_ops():
    """A node ONNX does not define (what tf2onnx leaves for an op it cannot convert) is named, not skipped."""
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("StatefulPartitionedCall", ["x"], ["y"], name="model/conv2d_1/call")], "left",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(ArtifactError, match=r"StatefulPartitionedCall \(model/conv2d_1/call\).*Fix: re-export"):
        onnx_macs(model)


@pytest.mark.slow
@pytest.mark.parametrize("name", APPLICATIONS)
def test_keras_applications_match_the_onnx_graph(name, tmp_path):
    """model_cost's MACs within 2% of the exported graph's, every layer counted, every parameter found."""
    import keras

    model = getattr(keras.applications, name)(weights=None, input_shape=APP_INPUT, classes=10)
    try:
        cost = model_cost(model)
        assert cost.uncounted == ()
        assert cost.params == model.count_params()
        assert cost.flops > 2 * cost.macs
        theirs = onnx_macs(export_onnx(model, tmp_path / f"{name}.onnx"))
        assert abs(cost.macs - theirs) <= CROSS_CHECK_TOLERANCE * theirs
    finally:  # five large graphs in one process: free each before the next
        del model
        keras.backend.clear_session()
        gc.collect()


def test_backbone_inside_a_sequential():
    """A MobileNetV3Small backbone built for any size, inside a Sequential at 96x96: walked, named, costed at 96x96.

    Its MACs are those of the same backbone built at 96x96 (which the ONNX
    check above holds to the exported graph) plus the head.
    """
    import keras
    from keras import layers

    backbone = keras.applications.MobileNetV3Small(include_top=False, weights=None, input_shape=None)
    model = keras.Sequential([keras.Input(APP_INPUT), backbone, layers.GlobalAveragePooling2D(name="pool"),
                              layers.Dense(10, name="fc")], name="classifier")
    cost = model_cost(model)
    alone = model_cost(keras.applications.MobileNetV3Small(include_top=False, weights=None, input_shape=APP_INPUT))
    inner, head = cost.layers[:-2], cost.layers[-2:]
    assert all(layer.name.startswith(f"{backbone.name}/") for layer in inner)
    assert [(layer.kind, layer.output_shape, layer.macs) for layer in inner] == [
        (layer.kind, layer.output_shape, layer.macs) for layer in alone.layers]
    assert [layer.name for layer in head] == ["pool", "fc"]
    assert cost.layer("fc").macs == 576 * 10  # the backbone ends with 576 channels
    assert cost.macs == alone.macs + 576 * 10
    assert cost.params == model.count_params() == alone.params + 576 * 10 + 10
