"""The cost model against hand-computed layers, the report's three models, and two independent counts.

Every number here is worked out by hand in the comment beside it.
"""

from __future__ import annotations

import numpy as np
import pytest

from infer_bench.explain.costmodel import LayerCost, ModelCost, layer_cost, model_cost, uncounted_sentence
from infer_bench.explain.crosscheck import onnx_macs, tf_profiler_flops
from infer_bench.errors import InferBenchError
from infer_bench.models import MODELS

# How far an independent count (ONNX graph, TensorFlow's profiler) may sit from ours.
CROSS_CHECK_TOLERANCE = 0.02

# MACs of the report's models, layer by layer (output elements x kernel window x input channels).
HAND_MACS = {
    # conv 26*26*32*9 + conv 11*11*64*(9*32) + dense 1600*128 + dense 128*10
    "simple_cnn": 194_688 + 2_230_272 + 204_800 + 1_280,
    # conv 12*12*96*25, 5*5*256*(9*96), 2*2*384*(9*256), 2*2*384*(9*384), 2*2*256*(9*384),
    # dense 256*4096, 4096*4096, 4096*10
    "alexnet_fashion": 345_600 + 5_529_600 + 3_538_944 + 5_308_416 + 3_538_944
    + 1_048_576 + 16_777_216 + 40_960,
    # conv 54*54*96*(121*3), 22*22*256*(25*96), 8*8*384*(9*256), 6*6*384*(9*384), 4*4*256*(9*384),
    # dense 256*4096, 4096*4096, 4096*1
    "alexnet_catsdogs": 101_616_768 + 297_369_600 + 56_623_104 + 47_775_744 + 14_155_776
    + 1_048_576 + 16_777_216 + 4_096,
}
PARAMS = {"simple_cnn": 225_034, "alexnet_fashion": 21_197_898, "alexnet_catsdogs": 21_586_689}


def one_layer(input_shape, layer, batch_size=1) -> LayerCost:
    import keras

    model = keras.Sequential([keras.Input(input_shape), layer])
    cost = model_cost(model, batch_size=batch_size)
    assert len(cost.layers) == 1
    return cost.layers[0]


# --- hand-computed layers -----------------------------------------------------


def test_conv_valid():
    from keras import layers

    cost = one_layer((8, 8, 3), layers.Conv2D(4, 3, activation="relu"))
    assert cost.kind == "Conv2D"
    assert cost.output_shape == (6, 6, 4)
    assert cost.macs == 6 * 6 * 4 * 3 * 3 * 3 == 3888
    assert cost.params == 4 * 27 + 4 == 112
    assert cost.flops == 2 * 3888 + 144  # multiply + add per MAC, one bias add per output element
    assert cost.activation_ops == 144  # ReLU, one per output element, not in flops
    assert cost.activation_bytes == 144 * 4
    # int8: 108 kernel weights at 1 B, 4 biases at 4 B (int32)
    assert cost.weight_bytes == {"fp32": 448, "fp16": 224, "int8": 108 + 16}


def test_conv_strided_same_padding_without_bias():
    from keras import layers

    cost = one_layer((9, 9, 2), layers.Conv2D(5, 3, strides=2, padding="same", use_bias=False))
    assert cost.output_shape == (5, 5, 5)  # ceil(9 / 2)
    assert cost.macs == 5 * 5 * 5 * (3 * 3 * 2) == 2250
    assert cost.flops == 2 * 2250  # no bias, linear activation
    assert cost.activation_ops == 0
    assert cost.params == 90


def test_grouped_conv():
    from keras import layers

    cost = one_layer((8, 8, 4), layers.Conv2D(6, 3, groups=2))
    assert cost.macs == 6 * 6 * 6 * (3 * 3 * 2) == 3888  # each output channel sees 4 / 2 input channels
    assert cost.params == 6 * 18 + 6


@pytest.mark.parametrize(
    "input_shape, pool, expected_shape, ops",
    [
        ((6, 6, 4), dict(pool_size=2), (3, 3, 4), 3 * 3 * 4 * 4),
        ((12, 12, 2), dict(pool_size=3, strides=2), (5, 5, 2), 5 * 5 * 2 * 9),
    ],
)
def test_max_pool_counts_window_ops_per_output_element(input_shape, pool, expected_shape, ops):
    from keras import layers

    cost = one_layer(input_shape, layers.MaxPooling2D(**pool))
    assert cost.output_shape == expected_shape
    assert (cost.macs, cost.flops, cost.params) == (0, ops, 0)


def test_dense():
    from keras import layers

    cost = one_layer((20,), layers.Dense(7, activation="softmax"))
    assert cost.macs == 20 * 7
    assert cost.params == 20 * 7 + 7
    assert cost.flops == 2 * 140 + 7
    assert cost.activation_ops == 7
    assert cost.weight_bytes["int8"] == 140 + 7 * 4


def test_batchnorm_is_a_scale_and_shift_per_element():
    from keras import layers

    cost = one_layer((6, 6, 4), layers.BatchNormalization())
    assert cost.macs == 0
    assert cost.flops == 2 * 6 * 6 * 4
    assert cost.params == 4 * 4  # gamma, beta, moving mean, moving variance
    assert cost.weight_bytes == {"fp32": 64, "fp16": 32, "int8": 64}  # int8 keeps them float32


@pytest.mark.parametrize("make", ["Flatten", "Dropout"])
def test_reshaping_layers_cost_nothing(make):
    from keras import layers

    layer = layers.Flatten() if make == "Flatten" else layers.Dropout(0.5)
    cost = one_layer((3, 3, 2), layer)
    assert (cost.macs, cost.flops, cost.params, cost.activation_bytes) == (0, 0, 0, 0)


def test_batch_scales_work_not_weights():
    from keras import layers

    one = one_layer((8, 8, 3), layers.Conv2D(4, 3), batch_size=1)
    three = one_layer((8, 8, 3), layers.Conv2D(4, 3), batch_size=3)
    assert (three.macs, three.flops, three.activation_bytes) == (3 * one.macs, 3 * one.flops, 3 * one.activation_bytes)
    assert (three.params, three.weight_bytes) == (one.params, one.weight_bytes)


def test_layer_cost_of_an_unknown_layer_names_the_supported_ones():
    import keras
    from keras import layers

    model = keras.Sequential([keras.Input((4, 3)), layers.LSTM(2, name="lstm")])
    with pytest.raises(InferBenchError, match="layer 'lstm' of type LSTM.*supported layers: .*Conv2DTranspose"):
        layer_cost(model.layers[0])


def test_bad_batch_size_is_refused():
    import keras
    from keras import layers

    with pytest.raises(InferBenchError, match="batch_size must be an int >= 1, got 0"):
        model_cost(keras.Sequential([keras.Input((4,)), layers.Dense(2)]), batch_size=0)


# --- the layers of real CNNs, by hand -------------------------------------------

# (input shape, layer, output shape, macs, flops, params, activation ops, activation bytes), each worked out by hand.
LAYER_CASES = {
    # dilation 2 makes the 3x3 window span 5: 9 - 4 = 5; 5*5*4 outputs x 3*3*2 window; 4*18 + 4 params
    "dilated conv": ((9, 9, 2), lambda L: L.Conv2D(4, 3, dilation_rate=2),
                     (5, 5, 4), 1800, 2 * 1800 + 100, 76, 0, 400),
    # same padding, stride 2: 4x4 positions x 6 channels (3 x multiplier 2), one 3x3 window each; 54 + 6 params
    "depthwise": ((8, 8, 3), lambda L: L.DepthwiseConv2D(3, depth_multiplier=2, strides=2, padding="same"),
                  (4, 4, 6), 864, 2 * 864 + 96, 60, 0, 384),
    # depthwise 6*6*4*9 = 1296, pointwise 6*6*5*4 = 720; 36 + 20 + 5 params; relu on 180 outputs
    "separable": ((6, 6, 4), lambda L: L.SeparableConv2D(5, 3, padding="same", activation="relu"),
                  (6, 6, 5), 2016, 2 * 2016 + 180, 61, 180, 720),
    # (4 - 1) * 2 + 3 = 9; each of 4*4*2 inputs scattered over 3x3 x 3 channels; 3*3*3*2 + 3 params
    "transpose conv": ((4, 4, 2), lambda L: L.Conv2DTranspose(3, 3, strides=2),
                       (9, 9, 3), 864, 2 * 864 + 243, 57, 0, 972),
    # Dense on the last axis of a 3-D tensor: 4*4*5 outputs x 3 features
    "dense on an image": ((4, 4, 3), lambda L: L.Dense(5, use_bias=False), (4, 4, 5), 240, 480, 15, 0, 320),
    # hard-swish, swish, sigmoid, ReLU6: one activation op per element, no FLOPs
    "hard-swish": ((5, 5, 2), lambda L: L.Activation("hard_swish"), (5, 5, 2), 0, 0, 0, 50, 200),
    "swish": ((5, 5, 2), lambda L: L.Activation("swish"), (5, 5, 2), 0, 0, 0, 50, 200),
    "relu6": ((5, 5, 2), lambda L: L.ReLU(6.0), (5, 5, 2), 0, 0, 0, 50, 200),
    "sigmoid conv": ((3, 3, 1), lambda L: L.Conv2D(2, 1, activation="sigmoid"), (3, 3, 2), 18, 36 + 18, 4, 18, 72),
    "linear": ((5, 5, 2), lambda L: L.Activation("linear"), (5, 5, 2), 0, 0, 0, 0, 200),
    # global pooling: one op per input element (5*5*4)
    "global average pooling": ((5, 5, 4), lambda L: L.GlobalAveragePooling2D(), (4,), 0, 100, 0, 0, 16),
    "global max pooling": ((5, 5, 4), lambda L: L.GlobalMaxPooling2D(keepdims=True), (1, 1, 4), 0, 100, 0, 0, 16),
    # average pooling 2x2 over a 6x6 input: 3*3*4 outputs x 4 adds
    "average pooling": ((6, 6, 4), lambda L: L.AveragePooling2D(2), (3, 3, 4), 0, 144, 0, 0, 144),
    # padding computes nothing but writes a (4 + 2) x (4 + 4) x 3 tensor
    "zero padding": ((4, 4, 3), lambda L: L.ZeroPadding2D((1, 2)), (6, 8, 3), 0, 0, 0, 0, 576),
    # x / 127.5 - 1: a multiply and an add per element; x / 255: a multiply
    "rescaling with offset": ((4, 4, 3), lambda L: L.Rescaling(1 / 127.5, offset=-1), (4, 4, 3), 0, 96, 0, 0, 192),
    "rescaling": ((4, 4, 3), lambda L: L.Rescaling(1 / 255), (4, 4, 3), 0, 48, 0, 0, 192),
    "normalization": ((4, 4, 3), lambda L: L.Normalization(mean=[1.0, 2.0, 3.0], variance=[1.0, 4.0, 9.0]),
                      (4, 4, 3), 0, 96, 0, 0, 192),
    "reshape": ((4, 4, 3), lambda L: L.Reshape((16, 3)), (16, 3), 0, 0, 0, 0, 0),
}


@pytest.mark.parametrize("case", list(LAYER_CASES))
def test_layer_kinds_by_hand(case):
    from keras import layers

    input_shape, make, shape, macs, flops, params, acts, act_bytes = LAYER_CASES[case]
    cost = one_layer(input_shape, make(layers))
    assert cost.output_shape == shape
    assert (cost.macs, cost.flops, cost.params, cost.activation_ops, cost.activation_bytes) == (
        macs, flops, params, acts, act_bytes)


def test_separable_and_depthwise_kernels_are_int8():
    from keras import layers

    cost = one_layer((6, 6, 4), layers.SeparableConv2D(5, 3, padding="same"))
    assert cost.weight_bytes == {"fp32": 61 * 4, "fp16": 61 * 2, "int8": 36 + 20 + 5 * 4}  # bias stays int32


def test_merge_layers_count_per_output_element():
    import keras
    from keras import layers

    x = keras.Input((4, 4, 3))
    conv = layers.Conv2D(3, 1, use_bias=False, name="conv")(x)  # 48 outputs x 3 channels = 144 MACs
    added = layers.Add(name="add")([x, conv])  # one add per output element: 48
    averaged = layers.Average(name="avg")([x, conv, added])  # 2 adds + 1 multiply per element: 144
    scaled = layers.Multiply(name="mul")([averaged, layers.GlobalAveragePooling2D(keepdims=True, name="gap")(x)])
    joined = layers.Concatenate(name="cat")([x, scaled])  # a copy: no FLOPs, 4*4*6 elements written
    cost = model_cost(keras.Model(x, joined))
    flops = {layer.name: layer.flops for layer in cost.layers}
    assert flops == {"conv": 288, "add": 48, "avg": 144, "gap": 48, "mul": 48, "cat": 0}
    assert cost.layer("cat").activation_bytes == 4 * 4 * 6 * 4
    assert cost.macs == 144


def test_keras_ops_in_a_functional_graph():
    """MobileNetV3's hard-sigmoid, ReLU6(x + 3) * (1/6): the Add and Multiply are FLOPs, ReLU6 an activation."""
    import keras
    from keras import layers

    x = keras.Input((2, 2, 5))
    y = layers.ReLU(6.0, name="relu6")(x + 3.0) * (1.0 / 6.0)
    cost = model_cost(keras.Model(x, y))
    assert [layer.kind for layer in cost.layers] == ["ops.Add", "ReLU", "ops.Multiply"]
    assert (cost.flops, cost.activation_ops, cost.activation_bytes) == (20 + 20, 20, 3 * 20 * 4)


def test_nested_model_is_walked_and_named_outer_inner():
    """A backbone built for any image size, inside a Sequential at 6x6: its layers are costed at 6x6."""
    import keras
    from keras import layers

    backbone = keras.Sequential([keras.Input((None, None, 2)), layers.Conv2D(4, 3, name="c")], name="backbone")
    model = keras.Sequential([keras.Input((6, 6, 2)), backbone, layers.Flatten(name="flat"),
                              layers.Dense(3, name="fc")])
    cost = model_cost(model)
    assert [layer.name for layer in cost.layers] == ["backbone/c", "flat", "fc"]
    assert cost.layer("backbone/c").output_shape == (4, 4, 4)
    assert cost.macs == 4 * 4 * 4 * (9 * 2) + 64 * 3 == 1344
    assert cost.params == (4 * 18 + 4) + (64 * 3 + 3) == model.count_params()


def test_a_layer_called_twice_works_twice_and_counts_its_weights_once():
    import keras
    from keras import layers

    x = keras.Input((8,))
    shared = layers.Dense(8, name="shared")
    cost = model_cost(keras.Model(x, shared(shared(x))), batch_size=2)
    (layer,) = cost.layers
    assert (layer.calls, layer.macs, layer.flops) == (2, 2 * 2 * 64, 2 * 2 * (128 + 8))
    assert layer.params == 8 * 8 + 8


def test_an_unknown_layer_is_listed_with_its_parameter_share():
    import keras
    from keras import layers

    class Scale(layers.Layer):
        def build(self, input_shape):
            self.gain = self.add_weight(shape=(input_shape[-1],), name="gain")

        def call(self, x):
            return x * self.gain

    x = keras.Input((4, 4, 3))
    model = keras.Model(x, Scale(name="scale")(layers.Conv2D(3, 1, name="conv")(x)))
    cost = model_cost(model)
    assert [layer.name for layer in cost.layers] == ["conv"]
    (missing,) = cost.uncounted
    assert (missing.name, missing.kind, missing.params) == ("scale", "Scale", 3)
    assert missing.param_share == 3 / (12 + 3)  # conv: 3*3 kernel + 3 bias
    assert cost.params == 15 == model.count_params()  # parameters are known even where work is not
    assert cost.macs == 48 * 3
    data = cost.to_dict()["uncounted"]
    assert uncounted_sentence(data) == (
        "The cost model has no rule for 1 layer(s), so their work is left out of the MAC, FLOP and byte "
        "counts: scale (Scale, 20.0% of the parameters).")
    assert uncounted_sentence(model_cost(keras.Sequential([keras.Input((3,)), layers.Dense(2)])).to_dict()[
        "uncounted"]) is None


# --- the report's models --------------------------------------------------------


@pytest.fixture(scope="module")
def built():
    """The three report models, untrained, built once."""
    return {name: spec.build() for name, spec in MODELS.items()}


@pytest.mark.parametrize("name", list(MODELS))
def test_model_totals(built, name):
    cost = model_cost(built[name])
    assert cost.macs == HAND_MACS[name]
    assert cost.params == PARAMS[name] == built[name].count_params()
    assert cost.weight_bytes["fp32"] == 4 * PARAMS[name]
    assert cost.weight_bytes["fp16"] == 2 * PARAMS[name]
    assert PARAMS[name] < cost.weight_bytes["int8"] < 1.01 * PARAMS[name]  # nearly all weights are kernels
    assert cost.macs * 2 < cost.flops < cost.macs * 2 * 1.02  # bias, pooling and BN are under 2%
    assert cost.input_bytes == 4 * int(np.prod(MODELS[name].input_shape))


def test_simple_cnn_flops_by_hand(built):
    cost = model_cost(built["simple_cnn"])
    bias_adds = 26 * 26 * 32 + 11 * 11 * 64 + 128 + 10
    pool_ops = 13 * 13 * 32 * 4 + 5 * 5 * 64 * 4
    assert cost.flops == 2 * HAND_MACS["simple_cnn"] + bias_adds + pool_ops == 5_319_626
    assert cost.activation_ops == bias_adds  # every layer with a bias also has an activation here
    # layer outputs at fp32; Flatten writes nothing new
    assert cost.activation_bytes == 4 * (26 * 26 * 32 + 13 * 13 * 32 + 11 * 11 * 64 + 5 * 5 * 64 + 128 + 10)


def test_to_dict_has_the_json_keys(built):
    data = model_cost(built["simple_cnn"], batch_size=2).to_dict()
    assert {"flops", "macs", "params", "weight_bytes", "activation_bytes", "input_bytes", "layers"} <= set(data)
    assert set(data["weight_bytes"]) == {"fp32", "fp16", "int8"}
    assert data["macs"] == 2 * HAND_MACS["simple_cnn"]
    assert data["input_bytes"] == 2 * 28 * 28 * 4
    assert [layer["kind"] for layer in data["layers"]][:2] == ["Conv2D", "MaxPooling2D"]
    assert data["layers"][0]["output_shape"] == [26, 26, 32]


def test_tf_profiler_agrees_on_flops(built):
    """TensorFlow's profiler adds only softmax (5 per element); it leaves out ReLU, as we do."""
    model = built["simple_cnn"]
    ours = model_cost(model).flops
    theirs = tf_profiler_flops(model)
    assert abs(theirs - ours) <= CROSS_CHECK_TOLERANCE * ours
    assert theirs - ours == 5 * 10


# --- ONNX cross-check -----------------------------------------------------------


def export_onnx(model, path):
    from infer_bench.export.onnx_formats import export_onnx_fp32

    export_onnx_fp32(model, path)  # the package's own exporter: what train-export's ONNX files come from
    return path


@pytest.mark.parametrize("name", ["simple_cnn", pytest.param("alexnet_fashion", marks=pytest.mark.slow)])
def test_onnx_graph_agrees_on_macs(built, name, tmp_path):
    path = export_onnx(built[name], tmp_path / f"{name}.onnx")
    ours = model_cost(built[name]).macs
    theirs = onnx_macs(path)
    assert abs(theirs - ours) <= CROSS_CHECK_TOLERANCE * ours
    assert onnx_macs(path, batch_size=4) == 4 * theirs
    if name == "simple_cnn":  # the int8 graph (ConvInteger, MatMulInteger) does the same work
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantize_dynamic(str(path), str(tmp_path / "int8.onnx"), weight_type=QuantType.QInt8)
        assert onnx_macs(tmp_path / "int8.onnx") == theirs


def test_model_cost_from_layer_costs():
    """ModelCost's totals are sums of its layers; bad values are refused where they are built."""
    fc = LayerCost("fc", "Dense", (5,), macs=20, flops=45, params=25,
                   weight_bytes={"fp32": 100, "fp16": 50, "int8": 40}, activation_bytes=20, activation_ops=5)
    cost = ModelCost("tiny", 1, (4,), [fc, fc])
    assert (cost.macs, cost.flops, cost.params, cost.activation_bytes) == (40, 90, 50, 40)
    assert cost.weight_bytes == {"fp32": 200, "fp16": 100, "int8": 80}
    with pytest.raises(InferBenchError, match="macs must be an int >= 0, got -1"):
        LayerCost("bad", "Dense", (1,), macs=-1, flops=0, params=0,
                  weight_bytes={"fp32": 0, "fp16": 0, "int8": 0}, activation_bytes=0)
