"""Why int8 is slower or faster (issue 17 item 4): reason codes from hand-made facts, and from real graphs.

The pure part (``explain.int8why``) gets hand-made counts, shares and ratios
whose sentences are known in advance. The graph part reads a tiny real CNN
exported with the package's own ONNX export: its dense-only dynamic int8
(the package's), ONNX Runtime's default dynamic quantization (every Conv
becomes ``ConvInteger``) and its static QDQ int8 (real Fashion-MNIST calibration).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest

from infer_bench.errors import InferBenchError
from infer_bench.explain.int8graph import (classify_onnx_op, classify_tflite_op, onnx_census, profile_shares)
from infer_bench.explain.int8inputs import class_shares, isa_facts, layer_ratios
from infer_bench.explain.int8why import OpCensus, VariantFacts, explain_int8
from infer_bench.explain.text import int8_reason_lines
from infer_bench.present.sections import explain_section
from infer_bench.results.explain import Explanation, ModelExplanation, load_explanation, save_explanation

AVX2 = isa_facts("onnxruntime", "AVX2 (no VNNI)", False, 120.0, 100.0)
VNNI = isa_facts("litert", "AVX512-VNNI", True, 400.0, 100.0)


def _facts(**given) -> VariantFacts:
    fields = dict(runtime="onnxruntime", format="onnx", quantization="dynamic_int8", int8_ms=3.9, fp32_ms=1.0,
                  census=None, isa=AVX2)
    fields.update(given)
    return VariantFacts(**fields)


# --- the pure reasons -------------------------------------------------------------------------


def test_conv_integer_is_named_as_the_cause_of_a_slower_variant():
    census = OpCensus(integer={"ConvInteger": 5, "MatMulInteger": 2}, float_compute={},
                      conversions={"DynamicQuantizeLinear": 7}, source="after ONNX Runtime's graph optimization",
                      conversions_in_file={"DynamicQuantizeLinear": 7})
    why = explain_int8(_facts(census=census, shares={"integer": 0.8, "float": 0.0, "conversion": 0.15, "other": 0.05},
                              share_source="time", generic_share=0.71))
    assert why.verdict == "slower" and why.ratio == pytest.approx(3.9)
    assert why.sentence == ("onnx/dynamic_int8 runs 3.9x slower than fp32 in onnxruntime: its 5 convolutions became "
                            "ConvInteger (71% of its time), which has no fast kernel in ONNX Runtime on this "
                            "AVX2 (no VNNI) CPU.")
    codes = {r.code: r for r in why.reasons}
    assert list(codes) == ["end_to_end", "float_ops", "integer_kernels", "unfused_qdq", "isa"]
    assert codes["integer_kernels"].numbers["conv_integer"] == 5
    assert codes["integer_kernels"].numbers["matmul_integer"] == 2
    assert codes["float_ops"].numbers["count"] == 0 and codes["float_ops"].numbers["compute_ops"] == 7
    assert codes["unfused_qdq"].numbers == {"count": 7, "in_file": 7, "ops": {"DynamicQuantizeLinear": 7},
                                            "share": 0.15, "share_of": "time",
                                            "graph": "after ONNX Runtime's graph optimization"}
    assert codes["isa"].numbers["int8_peak_x_fp32"] == pytest.approx(1.2)
    assert "1.2x its fp32 peak" in codes["isa"].text and "no VNNI or AMX" in codes["isa"].text
    assert json.loads(json.dumps(why.to_dict()))["reasons"][2]["conv_integer"] == 5


def test_a_faster_variant_credits_its_integer_kernels():
    census = OpCensus(integer={"CONV_2D": 2, "FULLY_CONNECTED": 1}, float_compute={},
                      conversions={"QUANTIZE": 1, "DEQUANTIZE": 1}, source="the .tflite graph")
    why = explain_int8(_facts(runtime="litert", format="tflite", quantization="static_int8", int8_ms=0.5, fp32_ms=1.0,
                              census=census, isa=VNNI, shares=class_shares([("integer", 90), ("float", 10)]),
                              share_source="MACs"))
    assert why.verdict == "faster"
    assert why.sentence == ("tflite/static_int8 runs 2.0x faster than fp32 in litert: 3 of its 3 compute ops run "
                            "integer kernels (90% of its MACs).")
    # On an AVX2-only CPU the same facts say so.
    assert explain_int8(_facts(runtime="litert", format="tflite", quantization="static_int8", int8_ms=0.5,
                               fp32_ms=1.0, census=census)).sentence.endswith(
        "run integer kernels even without VNNI on this AVX2 (no VNNI) CPU.")
    # With both profiles, the layer that gained most is named too.
    gained = layer_ratios([{"layer": "conv2d", "mean_us": 10.0}, {"layer": "dense", "mean_us": 40.0}],
                          [{"layer": "conv2d", "mean_us": 9.0}, {"layer": "dense", "mean_us": 10.0}])
    assert explain_int8(_facts(int8_ms=0.5, census=census, layer_ratios=gained)).sentence.endswith(
        "even without VNNI on this AVX2 (no VNNI) CPU; its dense layer runs 4.0x faster in int8.")


def test_about_as_fast_names_the_float_ops_or_else_the_isa():
    census = OpCensus(integer={"MatMulInteger": 1}, float_compute={"FusedConv": 3}, conversions={},
                      source="after ONNX Runtime's graph optimization")
    why = explain_int8(_facts(int8_ms=1.02, census=census, shares={"integer": 0.1, "float": 0.6, "conversion": 0.05,
                                                                   "other": 0.25}, share_source="time"))
    assert why.verdict == "same"
    assert why.sentence == ("onnx/dynamic_int8 runs about as fast as fp32 in onnxruntime (1.02x): 3 of its 4 compute "
                            "ops stayed in float (60% of its time).")
    bare = explain_int8(_facts(int8_ms=0.99))
    assert bare.sentence.endswith("(0.99x): without VNNI or AMX, int8 arithmetic here peaks at only 1.2x the fp32 "
                                  "rate.")
    assert [r.code for r in bare.reasons] == ["end_to_end", "isa"]


def test_slower_without_conv_integer_names_conversions_then_the_worst_layer():
    census = OpCensus(integer={"QLinearConv": 2}, float_compute={}, conversions={"QuantizeLinear": 3,
                                                                                   "DequantizeLinear": 3},
                      source="after ONNX Runtime's graph optimization",
                      conversions_in_file={"QuantizeLinear": 9, "DequantizeLinear": 13})
    why = explain_int8(_facts(quantization="static_int8", int8_ms=1.5, census=census, share_source="time",
                              shares={"integer": 0.5, "float": 0.0, "conversion": 0.3, "other": 0.2}))
    assert why.sentence.endswith(": 6 quantize/dequantize conversions still run and take 30% of its time.")
    qdq = next(r for r in why.reasons if r.code == "unfused_qdq")
    assert qdq.numbers["in_file"] == 22 and "16 fused into integer kernels" in qdq.text
    rows = layer_ratios([{"layer": "conv2d", "mean_us": 10.0}, {"layer": "dense", "mean_us": 5.0},
                         {"layer": "other (Transpose)", "mean_us": 1.0}],
                        [{"layer": "conv2d", "mean_us": 40.0}, {"layer": "dense", "mean_us": 4.0},
                         {"layer": "other (Transpose)", "mean_us": 9.0}])
    assert [(r["layer"], r["ratio"]) for r in rows] == [("conv2d", 4.0), ("dense", 0.8)]
    layered = explain_int8(_facts(quantization="static_int8", int8_ms=1.5, census=census, layer_ratios=rows))
    assert layered.sentence.endswith(": its conv2d layer runs 4.0x slower in int8 than in fp32 on this AVX2 (no VNNI) "
                                     "CPU.")
    # Kernels no slower than fp32's in the profiles: the gap is outside them, whatever the layers say.
    outside = explain_int8(_facts(quantization="static_int8", int8_ms=1.5, census=census, layer_ratios=rows,
                                  kernel_us=(100.0, 90.0)))
    assert outside.sentence.endswith(": yet its kernels take 90 µs per call against fp32's 100 µs in the profiles, "
                                     "so the gap lies outside them (per-call overhead, or a busy machine's noise).")
    assert outside.reasons[-1].numbers["kernel_int8_us"] == 90.0
    assert layered.reasons[-1].code == "layer_ratios" and "conv2d 4.0x slower, dense 1.2x faster" in \
        layered.reasons[-1].text


def test_slower_dynamic_range_kernels_are_named():
    census = OpCensus(integer={"FULLY_CONNECTED (hybrid)": 2, "CONV_2D (hybrid)": 1}, float_compute={"CONV_2D": 1},
                      conversions={}, source="the .tflite graph")
    why = explain_int8(_facts(runtime="litert", format="tflite", int8_ms=1.3, census=census, share_source="MACs",
                              shares=class_shares([("integer", 30), ("float", 70)])))
    assert why.sentence == ("tflite/dynamic_int8 runs 1.3x slower than fp32 in litert: its 3 dynamic-range kernels "
                            "quantize their input on every call, which costs more than the integer arithmetic saves "
                            "on this AVX2 (no VNNI) CPU.")
    assert "1 of 4 compute ops left in float (1 CONV_2D), 70% of its MACs." in why.reasons[1].text


def test_unmeasured_and_bad_facts():
    assert explain_int8(_facts(fp32_ms=None)).sentence == (
        "onnx/dynamic_int8 was not timed against fp32 in onnxruntime here, so there is no verdict.")
    with pytest.raises(InferBenchError, match="int8_ms must be a time > 0"):
        _facts(int8_ms=0.0)
    with pytest.raises(InferBenchError, match="share in 0..1"):
        _facts(shares={"float": 1.5}, share_source="time")
    with pytest.raises(InferBenchError, match="unknown op classes"):
        _facts(shares={"gpu": 0.5}, share_source="time")
    with pytest.raises(InferBenchError, match="share_source"):
        _facts(shares={"float": 0.5}, share_source="seconds")
    with pytest.raises(InferBenchError, match="counts >= 0"):
        OpCensus(integer={"ConvInteger": -1}, float_compute={}, conversions={}, source="x")


def test_op_classes_and_profile_shares():
    assert [classify_onnx_op(op) for op in ("ConvInteger", "QLinearConv", "FusedConv", "DequantizeLinear", "Relu")] \
        == ["integer", "integer", "float", "conversion", "other"]
    assert classify_tflite_op("FULLY_CONNECTED", "float32", "int8") == ("integer", "FULLY_CONNECTED (hybrid)")
    assert classify_tflite_op("CONV_2D", "int8", "int8") == ("integer", "CONV_2D")
    assert classify_tflite_op("CONV_2D", "float32", "float32") == ("float", "CONV_2D")
    assert classify_tflite_op("QUANTIZE", "float32", None) == ("conversion", "QUANTIZE")
    nodes = [{"op": "ConvInteger", "mean_us": 60.0}, {"op": "DynamicQuantizeLinear", "mean_us": 20.0},
             {"op": "Conv", "mean_us": 10.0}, {"op": "Reshape", "mean_us": 10.0}]
    shares, generic = profile_shares(nodes)
    assert shares == pytest.approx({"integer": 0.6, "float": 0.1, "conversion": 0.2, "other": 0.1})
    assert generic == pytest.approx(0.6)
    assert profile_shares([]) == ({}, None)


# --- the record and the report ----------------------------------------------------------------


def _explanation(int8_why: dict) -> Explanation:
    model = ModelExplanation(
        dataset="fashion_mnist", quick=False, flops=2010, macs=1000, params=1010,
        weight_bytes={"fp32": 4040, "fp16": 2020, "int8": 1040}, activation_bytes=40, input_bytes=400, layers=[],
        layer_times=[], profile={}, latency_ms={}, latency_sources={}, int8_latency_ms={}, int8_sources={},
        roofline={}, overhead={}, report={}, int8_why=int8_why)
    return Explanation(created="2026-11-28T12:00:00+01:00", exported="exported", threads=1, bench_results=None,
                       machine={}, report_figures={}, litert_layer_times="not available", models={"tiny": model},
                       pairs=[], text="")


def test_int8_why_is_recorded_shown_and_older_files_still_read(tmp_path):
    census = OpCensus(integer={"ConvInteger": 2}, float_compute={}, conversions={"DynamicQuantizeLinear": 2},
                      source="after ONNX Runtime's graph optimization")
    why = explain_int8(_facts(census=census, shares={"integer": 0.9, "float": 0.0, "conversion": 0.1, "other": 0.0},
                              share_source="time", generic_share=0.9)).to_dict()
    expl = _explanation({"onnxruntime onnx/dynamic_int8": why, "openvino openvino/static_int8": {"skipped": "no"}})
    path = save_explanation(expl, tmp_path)
    assert json.loads(path.read_text())["schema_version"] == 2
    assert load_explanation(path) == expl
    lines = int8_reason_lines(expl.models["tiny"])
    assert lines[0] == f"- onnxruntime onnx/dynamic_int8: {why['sentence']}"
    assert any(line.startswith("    integer_kernels: integer kernels: 2 ConvInteger (90% of its time)")
               for line in lines)
    assert lines[-1] == "- openvino openvino/static_int8: not explained here (no)"
    report = "\n".join(explain_section(expl, path, None, [], {}, tmp_path))
    row = next(line for line in report.splitlines() if "onnx/dynamic_int8" in line)
    cells = [c.strip() for c in row.strip("| ").split("|")]
    assert cells == ["tiny", "onnxruntime onnx/dynamic_int8", "3.9x", "0 of 2 (0% of time)", "2 / 0",
                     "2 (10% of time)", "AVX2 (no VNNI)", why["sentence"]]
    # A version 1 file (no int8_why) reads with none; an unknown version is refused.
    v1 = expl.to_dict()
    v1["schema_version"] = 1
    del v1["models"]["tiny"]["int8_why"]
    (tmp_path / "v1.json").write_text(json.dumps(v1))
    assert load_explanation(tmp_path / "v1.json").models["tiny"].int8_why == {}
    (tmp_path / "v3.json").write_text(json.dumps(dict(v1, schema_version=3)))
    with pytest.raises(InferBenchError, match="schema_version 3"):
        load_explanation(tmp_path / "v3.json")


# --- real graphs ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory, data_root):
    """A tiny real CNN (two convolutions, two dense layers) exported by the package, quantized three ways."""
    import keras
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from infer_bench.data import load_dataset
    from infer_bench.export.onnx_formats import (export_onnx_dynamic_int8, export_onnx_fp32, export_onnx_static_int8,
                                                 preprocessed)

    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(8, 3, activation="relu", name="conv2d"),
        keras.layers.MaxPooling2D(name="max_pooling2d"),
        keras.layers.Conv2D(16, 3, activation="relu", name="conv2d_1"),
        keras.layers.Flatten(name="flatten"),
        keras.layers.Dense(32, activation="relu", name="dense"),
        keras.layers.Dense(10, activation="softmax", name="dense_1"),
    ], name="tiny")
    images = load_dataset("fashion_mnist", data_root, limit=256).x_train[:128].astype(np.float32)
    folder = tmp_path_factory.mktemp("int8why")
    path = {q: folder / f"tiny_{q}.onnx" for q in ("fp32", "dynamic_int8", "ort_default_dynamic", "static_int8")}
    export_onnx_fp32(model, path["fp32"])
    export_onnx_dynamic_int8(path["fp32"], path["dynamic_int8"])
    export_onnx_static_int8(path["fp32"], path["static_int8"], images[:64])
    with tempfile.TemporaryDirectory() as work:  # ONNX Runtime's default: every Conv and MatMul quantized
        quantize_dynamic(str(preprocessed(path["fp32"], Path(work))), str(path["ort_default_dynamic"]),
                         weight_type=QuantType.QInt8)
    return model, path, images


@pytest.fixture(scope="module")
def onnx_why(tiny_onnx):
    """``int8_why`` of the three int8 files, measured (briefly) and profiled here on one thread."""
    from infer_bench.explain.costmodel import model_cost
    from infer_bench.explain.int8facts import model_int8_why
    from infer_bench.explain.profile import profile_onnx_layers
    from infer_bench.explain.runner import measure_p50
    from infer_bench.measure import InputRotation

    model, path, images = tiny_onnx
    rotation = InputRotation(images)
    fp32 = profile_onnx_layers(path["fp32"], model, images, runs=20, threads=1, warmup_calls=2)
    out, lines = {}, []
    for name in ("dynamic_int8", "ort_default_dynamic", "static_int8"):
        quantization = "static_int8" if name == "static_int8" else "dynamic_int8"
        paths = {("onnx", "fp32"): path["fp32"], ("onnx", quantization): path[name]}

        def p50(runtime, fmt, quantization):
            return measure_p50(runtime, paths[(fmt, quantization)], rotation, 1), "measured now"

        found = model_int8_why(paths, p50, model, model_cost(model, 1).to_dict()["layers"], images, fp32,
                               {"peak_gops_int8": 120.0, "peak_gflops_fp32": 100.0}, 1, 0.5, lines.append)
        out[name] = next(iter(found.values()))
    return out, lines


def _codes(why: dict) -> dict:
    return {r["code"]: r for r in why["reasons"]}


def test_reason_codes_on_a_model_with_conv_integer(onnx_why):
    why = onnx_why[0]["ort_default_dynamic"]
    codes = _codes(why)
    assert codes["integer_kernels"]["conv_integer"] == 2  # the tiny model's two Conv2D layers
    assert "2 ConvInteger" in codes["integer_kernels"]["text"]
    assert codes["float_ops"]["ops"].get("Conv", 0) + codes["float_ops"]["ops"].get("FusedConv", 0) == 0
    assert 0 < codes["integer_kernels"]["generic_share"] <= codes["integer_kernels"]["share"] <= 1
    assert codes["end_to_end"]["ratio"] == pytest.approx(why["ratio"]) and why["ratio"] > 0
    if why["verdict"] == "slower":  # a variant slower for ConvInteger must say so
        assert "became ConvInteger" in why["sentence"]
    assert why["sentence"] in "\n".join(onnx_why[1])


def test_the_packages_dynamic_int8_keeps_convolutions_in_float(onnx_why):
    codes = _codes(onnx_why[0]["dynamic_int8"])
    assert codes["integer_kernels"]["conv_integer"] == 0
    assert codes["float_ops"]["count"] == 2 and codes["float_ops"]["compute_ops"] == 4
    assert 0 < codes["float_ops"]["share"] < 1 and codes["float_ops"]["share_of"] == "time"


def test_static_int8_fuses_its_qdq_pairs_and_maps_layers(onnx_why):
    why = onnx_why[0]["static_int8"]
    codes = _codes(why)
    # The second Conv feeds the flatten's Transpose, which the quantizer leaves in float: no QuantizeLinear
    # follows that Conv, so ONNX Runtime cannot fuse it into a QLinearConv and it runs in float.
    # The classifier (the last dense layer) is kept float by the export: one float MatMul by design.
    assert codes["float_ops"]["ops"] == {"Conv": 1, "MatMul": 1} and codes["integer_kernels"]["conv_integer"] == 0
    assert codes["integer_kernels"]["ops"] == {"QLinearConv": 1, "QLinearMatMul": 1}
    qdq = codes["unfused_qdq"]
    assert qdq["in_file"] > qdq["count"] >= 1  # most pairs fused into integer kernels; the edges stay
    layers = {r["layer"] for r in codes["layer_ratios"]["layers"]}
    assert {"conv2d", "conv2d_1"} <= layers <= {"conv2d", "max_pooling2d", "conv2d_1", "flatten", "dense", "dense_1"}
