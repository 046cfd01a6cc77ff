"""Per-layer profiles: aggregation of a hand-made ONNX Runtime trace, node -> layer mapping, one real profile."""

from __future__ import annotations

import numpy as np
import pytest

from infer_bench.errors import InferBenchError
from infer_bench.explain.layermap import NodeLayerMapper, base_name, clean_node_name
from infer_bench.explain.trace import layer_times, node_times

# The layers of a loaded simple_cnn and the node names Keras' ONNX export gave it (from a real export):
# the scope of layer "conv2d" is "conv2d_1", the scope of layer "conv2d_1" is "conv2d_1_2".
SIMPLE_LAYERS = [("conv2d", "Conv2D"), ("max_pooling2d", "MaxPooling2D"), ("conv2d_1", "Conv2D"),
                 ("max_pooling2d_1", "MaxPooling2D"), ("flatten", "Flatten"), ("dense", "Dense"),
                 ("dense_1", "Dense")]
SIMPLE_NODES = [
    "simple_cnn_1/conv2d_1/BiasAdd__6", "simple_cnn_1/conv2d_1/BiasAdd", "simple_cnn_1/conv2d_1/Relu",
    "simple_cnn_1/max_pooling2d_1/MaxPool2d", "simple_cnn_1/conv2d_1_2/BiasAdd", "simple_cnn_1/conv2d_1_2/Relu",
    "simple_cnn_1/max_pooling2d_1_2/MaxPool2d", "Transpose__36", "Shape__38", "Gather__41",
    "simple_cnn_1/flatten_1/Shape__22", "simple_cnn_1/flatten_1/strided_slice",
    "simple_cnn_1/flatten_1/Reshape/shape_Concat__32", "simple_cnn_1/flatten_1/Reshape__33",
    "simple_cnn_1/flatten_1/Reshape", "simple_cnn_1/dense_1/MatMul", "simple_cnn_1/dense_1/BiasAdd",
    "simple_cnn_1/dense_1/Relu", "simple_cnn_1/dense_1_2/MatMul", "simple_cnn_1/dense_1_2/BiasAdd",
    "simple_cnn_1/dense_1_2/Softmax",
]


def _run(ts, dur=100):
    return {"cat": "Session", "name": "model_run", "ts": ts, "dur": dur, "args": {}}


def _node(name, op, ts, dur):
    return {"cat": "Node", "name": f"{name}_kernel_time", "ts": ts, "dur": dur, "args": {"op_name": op}}


def _trace():
    """One warm-up run, then two runs; plus events that must be ignored."""
    conv, relu = "m_1/conv2d_1/BiasAdd", "m_1/conv2d_1/Relu"
    gemm = "fused m_1/dense_1/MatMul/MatMulAddFusion"
    return [
        _run(0), _node(conv, "Conv", 10, 999),  # warm-up run: left out
        _run(1000), _node(conv, "Conv", 1010, 30), _node(relu, "Relu", 1045, 10), _node(gemm, "FusedGemm", 1060, 20),
        _node("ReorderOutput", "ReorderOutput", 1090, 5),
        _run(2000), _node(conv, "Conv", 2010, 50), _node(relu, "Relu", 2065, 10), _node(gemm, "FusedGemm", 2070, 40),
        _node("ReorderOutput", "ReorderOutput", 2095, 5),
        _node(conv, "Conv", 5000, 777),  # outside every run
        {"cat": "Node", "name": "m_1/conv2d_1/BiasAdd_fence_before", "ts": 1011, "dur": 3, "args": {}},
        {"cat": "Session", "name": "SequentialExecutor::Execute", "ts": 1001, "dur": 90, "args": {}},
    ]


def test_hand_made_profile_sums_per_layer():
    mapper = NodeLayerMapper(["m_1/conv2d_1/BiasAdd", "m_1/conv2d_1/Relu", "m_1/dense_1/MatMul",
                              "m_1/dense_1/BiasAdd"], [("conv2d", "Conv2D"), ("dense", "Dense")], "m")
    times = node_times(_trace(), skip_runs=1)
    assert times.runs == 2
    assert times.per_run_totals_us == (65.0, 105.0)
    assert times.model_run_us == (100.0, 100.0)
    by_layer = {t.layer: t for t in layer_times(times, mapper.layer_of)}
    assert [t.layer for t in layer_times(times, mapper.layer_of)] == ["conv2d", "dense", "other (ReorderOutput)"]
    # conv2d: (30 + 10) and (50 + 10) -> mean 50, median 50; dense: 20 and 40; reorder: 5 and 5. Total 170.
    assert by_layer["conv2d"].mean_us == pytest.approx(50.0)
    assert by_layer["conv2d"].p50_us == pytest.approx(50.0)
    assert by_layer["conv2d"].share == pytest.approx(100 / 170)
    assert by_layer["conv2d"].ops == ("Conv", "Relu")
    assert by_layer["dense"].mean_us == pytest.approx(30.0)
    assert by_layer["dense"].share == pytest.approx(60 / 170)
    assert by_layer["dense"].kind == "Dense"
    assert by_layer["other (ReorderOutput)"].mean_us == pytest.approx(5.0)
    assert by_layer["other (ReorderOutput)"].share == pytest.approx(10 / 170)
    assert sum(t.share for t in by_layer.values()) == pytest.approx(1.0)


def test_without_warm_up_skip_the_first_run_counts():
    times = node_times(_trace(), skip_runs=0)
    assert times.runs == 3
    assert times.per_run_totals_us == (999.0, 65.0, 105.0)


def test_too_few_runs_are_refused():
    with pytest.raises(InferBenchError, match="3 model_run event"):
        node_times(_trace(), skip_runs=3)


def test_names_and_bases():
    assert base_name("conv2d_1_2") == "conv2d"
    assert base_name("batch_normalization") == "batch_normalization"
    assert clean_node_name("fused simple_cnn_1/dense_1/MatMul/MatMulAddFusion_kernel_time") == \
        "simple_cnn_1/dense_1/MatMul/MatMulAddFusion"
    assert clean_node_name("simple_cnn_1/conv2d_1/Relu:0_nchwc_kernel_time") == "simple_cnn_1/conv2d_1/Relu:0_nchwc"


def test_scopes_are_aligned_by_order_not_by_equal_names():
    mapper = NodeLayerMapper(SIMPLE_NODES, SIMPLE_LAYERS, "simple_cnn")
    assert mapper.layer_of("simple_cnn_1/conv2d_1/BiasAdd", "Conv") == ("conv2d", "Conv2D")
    assert mapper.layer_of("simple_cnn_1/conv2d_1_2/Relu:0_nchwc_kernel_time", "Conv") == ("conv2d_1", "Conv2D")
    assert mapper.layer_of("simple_cnn_1/max_pooling2d_1_2/MaxPool2d:0_nchwc", "MaxPool")[0] == "max_pooling2d_1"
    assert mapper.layer_of("simple_cnn_1/flatten_1/Reshape/shape_Concat__32", "Concat") == ("flatten", "Flatten")
    assert mapper.layer_of("fused simple_cnn_1/dense_1/MatMul/MatMulAddFusion_kernel_time", "FusedGemm") == \
        ("dense", "Dense")
    assert mapper.layer_of("simple_cnn_1/dense_1_2/Softmax", "Softmax") == ("dense_1", "Dense")
    assert mapper.layer_of("Transpose__36", "Transpose") == ("other (Transpose)", "Transpose")
    assert mapper.layer_of("ReorderOutput_token_5", "ReorderOutput") == ("other (ReorderOutput)", "ReorderOutput")


def test_a_scope_out_of_order_still_finds_its_only_layer():
    # The flatten's shape nodes first in graph order: the convolutions still align in order,
    # and the flatten scope falls back to the only Flatten layer.
    nodes = ["simple_cnn_1/flatten_1/Shape__22"] + [n for n in SIMPLE_NODES if "flatten" not in n]
    mapper = NodeLayerMapper(nodes, SIMPLE_LAYERS, "simple_cnn")
    assert mapper.layer_of("simple_cnn_1/flatten_1/Shape__22", "Cast")[0] == "flatten"
    assert mapper.layer_of("simple_cnn_1/conv2d_1_2/BiasAdd", "Conv")[0] == "conv2d_1"
    assert mapper.layer_of("simple_cnn_1/dense_1_2/MatMul", "MatMul")[0] == "dense_1"


# --- a real export ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def exported_simple_cnn(tmp_path_factory):
    """An untrained simple_cnn exported with Keras' own ONNX route (called once first: Keras requires it)."""
    from infer_bench.models import simple_cnn

    model = simple_cnn()
    model(np.zeros((1, 28, 28, 1), np.float32))
    path = tmp_path_factory.mktemp("profile") / "simple_cnn.onnx"
    model.export(str(path), format="onnx", verbose=False)
    return model, path


def test_real_node_names_map_onto_the_layers_in_order(exported_simple_cnn):
    import onnx

    model, path = exported_simple_cnn
    mapper = NodeLayerMapper.from_onnx(path, model)
    graph = onnx.load(str(path)).graph
    names = [layer.name for layer in model.layers]
    by_op = {}
    for node in graph.node:
        by_op.setdefault(node.op_type, []).append(mapper.layer_of(node.name, node.op_type)[0])
    assert by_op["Conv"] == [names[0], names[2]]
    assert by_op["MaxPool"] == [names[1], names[3]]
    assert by_op["MatMul"] == [names[5], names[6]]
    assert by_op["Softmax"] == [names[6]]


def test_real_profile_gives_positive_times_per_layer(exported_simple_cnn):
    from infer_bench.explain.profile import profile_onnx_layers

    model, path = exported_simple_cnn
    x = np.random.default_rng(0).random((16, 28, 28, 1), dtype=np.float32)
    profile = profile_onnx_layers(path, model, x, runs=20, threads=1, warmup_calls=2)
    assert profile.runs == 20 and len(profile.wall_calls_ns) == 20
    assert profile.node_total_us > 0 and profile.wall_us > 0 and profile.model_run_us > 0
    kinds = {t.layer: t.kind for t in profile.layers}
    conv = [layer.name for layer in model.layers if type(layer).__name__ == "Conv2D"]
    dense = [layer.name for layer in model.layers if type(layer).__name__ == "Dense"]
    for name in conv + dense:
        assert profile.layer(name).mean_us > 0
    assert {kinds[n] for n in conv} == {"Conv2D"} and {kinds[n] for n in dense} == {"Dense"}
    assert sum(t.share for t in profile.layers) == pytest.approx(1.0)
    assert profile.to_dict()["layers"][0]["mean_us"] == max(t.mean_us for t in profile.layers)
