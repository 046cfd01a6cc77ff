"""The openvino runtime, bf16 as an execution precision, and the NNCF int8 IR artifact.

One tiny real CNN, trained for two epochs on 2,000 real Fashion-MNIST images,
exported once per session to .keras, ONNX and TFLite. This machine (an AMD
EPYC: AVX2, no AVX512-BF16, no AMX) runs bf16 nowhere, so the tests show the
skip path on the real CPU and the AMX-side decisions on hand-made
capabilities; a run is only ever labelled with the precision OpenVINO
executed, read back from the compiled model.
"""

from __future__ import annotations

import os
from types import SimpleNamespace

import numpy as np
import pytest

from infer_bench.bench import BenchPlan, plan_cases, run_bench
from infer_bench.catalog import OPENVINO_MARKER, artifact_format, artifact_quantization
from infer_bench.check import run_check
from infer_bench.data import load_dataset
from infer_bench.errors import ArtifactError, DataError, InferBenchError
from infer_bench.export import ARTIFACTS, artifact_filename
from infer_bench.export.openvino_formats import export_openvino_static_int8
from infer_bench.fsutil import sha256_of, size_of
from infer_bench.results import ResultsWriter
from infer_bench.runtimes import LoadOptions, PrecisionUnavailable, get_runtime, run_precisions, runtimes_for_format
from infer_bench.runtimes import openvino_rt as ovrt

EPYC_CAPABILITIES = ("FP32", "INT8", "BIN", "EXPORT_IMPORT")  # what OpenVINO reports on this machine
XEON_AMX_CAPABILITIES = ("BF16", "WINOGRAD", "FP32", "FP16", "INT8", "BIN", "EXPORT_IMPORT")  # Sapphire Rapids
FP32_ATOL = 1e-4
CHECK_ROWS = 300


@pytest.fixture(scope="session")
def tiny(tmp_path_factory, data_root):
    """A small CNN trained on real Fashion-MNIST, its .keras / ONNX / TFLite files and real test images."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    data = load_dataset("fashion_mnist", data_root, limit=2000)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(8, 3, activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(16, 3, activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Flatten(),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(data.x_train, data.y_train, epochs=2, batch_size=64, verbose=0)
    d = tmp_path_factory.mktemp("ov")
    paths = SimpleNamespace(keras=d / "tiny.keras", onnx=d / "tiny.onnx", tflite=d / "tiny.tflite",
                            saved=d / "saved", ir=d / artifact_filename("tiny", "openvino", "static_int8"))
    model.save(paths.keras)
    model.export(str(paths.onnx), format="onnx", verbose=False)
    model.export(str(paths.saved), format="tf_saved_model", verbose=False)
    paths.tflite.write_bytes(tf.lite.TFLiteConverter.from_saved_model(str(paths.saved)).convert())
    converter = tf.lite.TFLiteConverter.from_saved_model(str(paths.saved))
    converter.optimizations = [tf.lite.Optimize.DEFAULT]  # dynamic range: int8 dense weights, float compute
    paths.tflite_dynamic = d / "tiny_dynamic_int8.tflite"
    paths.tflite_dynamic.write_bytes(converter.convert())
    export_openvino_static_int8(paths.onnx, paths.ir, data.x_train[:128])
    x = data.x_test[:64]
    return SimpleNamespace(paths=paths, x=x, y=data.y_test[:64], expected=model.predict(x, verbose=0),
                           data_root=data_root)


# --- decisions, on hand-made capabilities ---------------------------------------------------


def test_bf16_needs_the_bf16_capability():
    assert ovrt.capability_reason("bf16", XEON_AMX_CAPABILITIES) is None
    reason = ovrt.capability_reason("bf16", EPYC_CAPABILITIES)
    assert "bf16 not supported here" in reason and "no BF16 capability" in reason
    assert "FP32, INT8, BIN, EXPORT_IMPORT" in reason and "AMX" in reason
    assert ovrt.capability_reason("fp16", EPYC_CAPABILITIES) is not None
    assert ovrt.capability_reason("fp16", XEON_AMX_CAPABILITIES) is None
    for always in ("fp32", "static_int8", "dynamic_int8"):
        assert ovrt.capability_reason(always, ()) is None


def test_the_executed_precision_is_the_lowest_a_compute_node_ran_in():
    assert ovrt.lowest_precision({"fp32": 3}, "fp32") == "fp32"
    assert ovrt.lowest_precision({"bf16": 5, "fp32": 1}, "bf16") == "bf16"
    assert ovrt.lowest_precision({"int8": 4, "fp32": 1}, "fp32") == "int8"  # an int8 network with a float head
    assert ovrt.lowest_precision({}, "bf16") == "bf16"  # no compute node: the hint read back
    assert ovrt.element_precision("u8") == ovrt.element_precision("i8") == "int8"
    assert ovrt.element_precision("bf16") == "bf16" and ovrt.element_precision("f32") == "fp32"


def test_a_label_must_match_what_executed():
    assert ovrt.precision_mismatch("fp32", "fp32") is None
    assert ovrt.precision_mismatch("static_int8", "int8") is None
    assert "executed bf16 when asked for fp32" in ovrt.precision_mismatch("fp32", "bf16")  # the AMX default trap
    assert "executed fp32 when asked for bf16" in ovrt.precision_mismatch("bf16", "fp32")
    assert "executed fp32 when asked for dynamic_int8" in ovrt.precision_mismatch("dynamic_int8", "fp32")


def test_the_runtime_row_offers_bf16_for_fp32_artifacts_only():
    rt = get_runtime("openvino")
    assert runtimes_for_format("openvino") == ["openvino"]
    assert "openvino" in runtimes_for_format("onnx") and "openvino" in runtimes_for_format("tflite")
    assert run_precisions(rt, "fp32") == ("fp32", "bf16")
    assert run_precisions(rt, "static_int8") == ("static_int8",)
    assert run_precisions(get_runtime("onnxruntime"), "fp32") == ("fp32",)


def test_load_options_refuse_unknown_precisions_and_hints():
    with pytest.raises(ValueError, match="not a known precision"):
        LoadOptions(precision="fp8")
    with pytest.raises(InferBenchError, match="use one of: latency, throughput"):
        LoadOptions(performance_hint="fast")


# --- real compiles ------------------------------------------------------------------------------


def _check_outputs(session, tiny, atol):
    for n in (5, 1, 5):  # a dynamic batch: a new size, then back to one seen
        out = session.run(tiny.x[:n])
        assert out.dtype == np.float32 and out.shape == (n, 10)
        np.testing.assert_allclose(out, tiny.expected[:n], atol=atol, rtol=0)


@pytest.mark.parametrize("kind", ["onnx", "tflite"])
def test_fp32_runs_in_f32_and_says_so(tiny, kind):
    session = get_runtime("openvino").load(getattr(tiny.paths, kind), LoadOptions(threads=1, precision="fp32"))
    try:
        assert session.executed_precision == "fp32"
        assert session.execution["inference_precision_hint"] == "f32"
        assert set(session.execution["compute_nodes_by_precision"]) == {"fp32"}
        assert session.execution["performance_hint"] == "LATENCY" and session.execution["streams"] == 1
        assert session.threads == 1 and session.providers == ("OpenVINO CPU",)
        assert session.input_shape == (None, 28, 28, 1)  # TFLite's fixed batch made dynamic
        _check_outputs(session, tiny, FP32_ATOL)
    finally:
        session.close()


def test_the_throughput_hint_is_passed_and_read_back(tiny):
    session = get_runtime("openvino").load(tiny.paths.onnx, LoadOptions(threads=1, performance_hint="throughput"))
    try:
        assert session.execution["performance_hint"] == "THROUGHPUT" and session.executed_precision == "fp32"
        _check_outputs(session, tiny, FP32_ATOL)
    finally:
        session.close()


def test_the_label_follows_the_precision_openvino_executed(tiny):
    """OpenVINO ignores a bf16 hint on a CPU without native bf16 and picks bf16 by itself on an AMX
    one; either way, what ``read_execution`` reports is what the compiled model holds and ran."""
    for config in ({}, {"INFERENCE_PRECISION_HINT": "bf16"}):
        compiled = ovrt._core().compile_model(str(tiny.paths.onnx), "CPU", config)
        executed, execution = ovrt.read_execution(compiled)
        held = ovrt.element_precision(compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name())
        assert executed == held == execution["executed_precision"]
        ran = {n["precision"] for n in ovrt.runtime_nodes(compiled)}
        assert ran == {executed}
        if "BF16" not in ovrt.cpu_capabilities():  # this EPYC: the bf16 hint did not make a bf16 run
            assert executed == "fp32"


def test_int8_weights_decompressed_to_f32_are_not_an_int8_run(tiny):
    """TFLite dynamic-range int8: OpenVINO keeps the dense weights int8 (its runtimePrecision says
    "i8") but decompresses them into an f32 kernel, so an OpenVINO "dynamic_int8" label would lie."""
    compiled = ovrt.compile_model(ovrt._core().read_model(str(tiny.paths.tflite_dynamic)), "fp32", 1)
    dense = [n for n in ovrt.runtime_nodes(compiled) if n["layer"] == "FullyConnected"]
    assert dense and all(n["runtime_precision"] == "i8" and n["precision"] == "fp32" for n in dense)
    with pytest.raises(PrecisionUnavailable, match="executed fp32 when asked for dynamic_int8"):
        get_runtime("openvino").load(tiny.paths.tflite_dynamic, LoadOptions(precision="dynamic_int8"))


def test_bf16_is_refused_before_compiling_on_this_cpu(tiny, monkeypatch):
    monkeypatch.setattr(ovrt, "cpu_capabilities", lambda: EPYC_CAPABILITIES)
    with pytest.raises(PrecisionUnavailable, match="bf16 not supported here"):
        get_runtime("openvino").load(tiny.paths.onnx, LoadOptions(precision="bf16"))


def test_a_bf16_request_that_runs_f32_is_never_labelled_bf16(tiny, monkeypatch):
    if "BF16" in ovrt.cpu_capabilities():
        pytest.skip("this CPU runs bf16 natively: the request would be honoured")
    # Pretend the plugin reported BF16: the compile then silently runs f32, and the load says so.
    monkeypatch.setattr(ovrt, "cpu_capabilities", lambda: XEON_AMX_CAPABILITIES)
    with pytest.raises(PrecisionUnavailable, match="executed fp32 when asked for bf16"):
        get_runtime("openvino").load(tiny.paths.onnx, LoadOptions(precision="bf16"))


# --- the NNCF artifact ------------------------------------------------------------------------------


def test_nncf_ir_is_one_folder_checksummed_whole_and_runs_in_int8(tiny):
    ir = tiny.paths.ir
    assert sorted(p.name for p in ir.iterdir()) == ["model.bin", "model.xml"]
    assert artifact_format(ir) == "openvino" and artifact_format(ir / OPENVINO_MARKER) == "openvino"
    assert artifact_quantization(ir) == "static_int8"
    assert size_of(ir) == sum(p.stat().st_size for p in ir.iterdir())
    session = get_runtime("openvino").load(ir, LoadOptions(threads=1, precision="static_int8"))
    try:
        assert session.executed_precision == "int8"
        assert session.execution["compute_nodes_by_precision"].get("int8", 0) >= 3  # 2 convs + the dense layer
        out = session.run(tiny.x)
    finally:
        session.close()
    agreement = float(np.mean(out.argmax(1) == tiny.expected.argmax(1)))
    assert agreement >= 0.95, agreement


def test_int8_activation_ranges_reach_every_calibration_image_not_their_mean(tiny, tmp_path):
    """NNCF's default range is the mean of each image's max; ours is the max over all images.

    Calibration images dimmed by factors from 0.1 to 1.0: the input's FakeQuantize must
    reach the brightest image's max (the mean of the images' maxima is about half of it).
    """
    import openvino as ov

    images = tiny.x[:32] * np.linspace(0.1, 1.0, 32, dtype=np.float32)[:, None, None, None]
    ir = tmp_path / artifact_filename("dim", "openvino", "static_int8")
    export_openvino_static_int8(tiny.paths.onnx, ir, images)
    model = ov.Core().read_model(str(ir / OPENVINO_MARKER))
    on_input = [op for op in model.get_ordered_ops() if op.get_type_name() == "FakeQuantize"
                and op.input_value(0).get_node().get_type_name() == "Parameter"]
    assert len(on_input) == 1
    high = float(np.max(on_input[0].input_value(2).get_node().get_data()))
    brightest, mean_max = float(images.max()), float(images.reshape(len(images), -1).max(1).mean())
    assert high >= 0.99 * brightest > 1.5 * mean_max, (high, brightest, mean_max)


def test_the_ir_checksum_covers_the_weights(tiny, tmp_path):
    import shutil

    copy = tmp_path / "ir"
    shutil.copytree(tiny.paths.ir, copy)
    before = sha256_of(copy)
    data = bytearray((copy / "model.bin").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / "model.bin").write_bytes(bytes(data))
    assert sha256_of(copy) != before


def test_a_failed_export_leaves_nothing(tiny, tmp_path):
    target = tmp_path / artifact_filename("m", "openvino", "static_int8")
    with pytest.raises(Exception):
        export_openvino_static_int8(tmp_path / "missing.onnx", target, tiny.x[:4])
    assert list(tmp_path.iterdir()) == []  # no final folder, no temporary one
    with pytest.raises(DataError, match="No calibration images"):
        export_openvino_static_int8(tiny.paths.onnx, target, tiny.x[:0])


def test_the_export_table_has_the_openvino_row_after_its_onnx_source():
    kinds = [(k.format, k.quantization) for k in ARTIFACTS]
    assert kinds.index(("openvino", "static_int8")) > kinds.index(("onnx", "fp32"))
    assert artifact_filename("m", "openvino", "static_int8") == "m_static_int8_openvino"


# --- bench and check ------------------------------------------------------------------------------


def _bench(tiny, tmp_path, **kw):
    plan = BenchPlan(artifacts=[tiny.paths.onnx], runtimes=["openvino"], batch_sizes=[1, 4], min_time_s=0.02,
                     threads=1, data_dir=str(tiny.data_root), results_dir=tmp_path, **kw)
    writer = ResultsWriter(tmp_path, {})
    return plan, run_bench(plan, {}, writer, log=lambda m: None)


def test_bench_measures_fp32_and_skips_bf16_with_the_reason(tiny, tmp_path):
    plan, results = _bench(tiny, tmp_path)
    assert [c.quantization for c in plan_cases(plan, log=lambda m: None)] == ["fp32", "bf16"]
    fp32 = [r for r in results if r.quantization == "fp32"]
    bf16 = [r for r in results if r.quantization == "bf16"]
    assert [r.batch_size for r in fp32] == [1, 4] and not any(r.skipped for r in fp32)
    assert all(r.runtime == "openvino" and r.extra["execution"]["executed_precision"] == "fp32" for r in fp32)
    if "BF16" in ovrt.cpu_capabilities():
        assert all(r.extra["execution"]["executed_precision"] == "bf16" for r in bf16)
    else:
        assert [r.batch_size for r in bf16] == [1, 4] and all(r.skipped for r in bf16)
        assert all("bf16 not supported here" in r.skipped_reason for r in bf16)


def test_bench_filter_bf16_selects_the_variant_of_the_fp32_file(tiny, tmp_path, monkeypatch):
    if "BF16" in ovrt.cpu_capabilities():
        pytest.skip("this CPU runs bf16 natively")
    monkeypatch.setattr(ovrt, "cpu_capabilities", lambda: XEON_AMX_CAPABILITIES)
    plan, results = _bench(tiny, tmp_path, quantizations=["bf16"])
    # The capability check passes, the compile runs f32: skipped, never a "bf16" measurement.
    assert {r.quantization for r in results} == {"bf16"} and all(r.skipped for r in results)
    assert all("executed fp32 when asked for bf16" in r.skipped_reason for r in results)


def test_a_cuda_case_of_openvino_is_skipped_never_run_on_cpu(tiny, tmp_path):
    _, results = _bench(tiny, tmp_path, devices=["cuda"])
    assert results and all(r.skipped and r.device == "cuda" for r in results)
    assert all(r.skipped_reason == "CUDA unavailable: openvino runs on cpu only" for r in results)


def test_check_covers_the_ir_and_says_why_bf16_is_not_checked(tiny):
    lines: list[str] = []
    report = run_check(None, data_dir=str(tiny.data_root), extra_artifacts=[tiny.paths.onnx, tiny.paths.ir],
                       reference=tiny.paths.keras, limit=CHECK_ROWS, log=lines.append, random_rows=32)
    by_label = {(e.format, e.quantization): e for e in report.entries}
    assert by_label[("openvino", "static_int8")].runtime == "openvino"
    assert by_label[("openvino", "static_int8")].rows == CHECK_ROWS
    if "BF16" in ovrt.cpu_capabilities():
        assert by_label[("onnx", "bf16")].runtime == "openvino"
    else:
        assert ("onnx", "bf16") not in by_label
        assert any(line.startswith("bf16 variants via openvino: skipped, bf16 not supported here") for line in lines)


def test_check_of_a_bf16_variant_that_runs_f32_fails_with_the_reason(tiny, monkeypatch):
    if "BF16" in ovrt.cpu_capabilities():
        pytest.skip("this CPU runs bf16 natively")
    monkeypatch.setattr(ovrt, "cpu_capabilities", lambda: XEON_AMX_CAPABILITIES)
    report = run_check(None, data_dir=str(tiny.data_root), extra_artifacts=[tiny.paths.onnx],
                       reference=tiny.paths.keras, limit=64, log=lambda m: None, random_rows=8)
    bf16 = next(e for e in report.entries if e.quantization == "bf16")
    assert bf16.verdict == "FAIL" and "executed fp32 when asked for bf16" in bf16.reasons[0]
    assert next(e for e in report.entries if e.quantization == "fp32").verdict == "PASS"


def test_a_missing_ir_file_is_an_artifact_error(tmp_path):
    with pytest.raises(ArtifactError, match="no such file"):
        get_runtime("openvino").load(tmp_path / "nothing.xml", LoadOptions())


# --- the roofline -------------------------------------------------------------------------------------


def _result(fmt: str, quantization: str, us_per_call: int):
    from infer_bench.measure import Measurement
    from infer_bench.results.bench import BenchResult

    session = SimpleNamespace(runtime="openvino", device="cpu", providers=("OpenVINO CPU",), threads=2)
    measurement = Measurement(batch_size=1, calls_ns=tuple([us_per_call * 1000] * 20), warmup_calls=0)
    return BenchResult.from_measurement(measurement, session, model="tiny", format=fmt, quantization=quantization,
                                        peak_rss_mb=1.0)


def test_the_roofline_puts_each_point_under_the_ceiling_of_its_precision(tmp_path):
    from infer_bench.present import figures
    from infer_bench.results.explain import Explanation

    model = {"dataset": "fashion_mnist", "quick": False, "flops": 4_600_000, "macs": 2_300_000, "params": 225034,
             "weight_bytes": {"fp32": 900136, "fp16": 450068, "int8": 226000}, "activation_bytes": 0,
             "input_bytes": 0, "layers": [], "layer_times": [], "profile": {}, "latency_ms": {},
             "latency_sources": {}, "int8_latency_ms": {}, "int8_sources": {}, "roofline": {}, "overhead": {},
             "report": {}}
    machine = {"peak_gflops_fp32": 150.0, "peak_gops_int8": 400.0, "memory_gbps": 12.0, "peak_gflops_bf16": 1200.0,
               "routes": {"bf16": {"runtime": "openvino", "isa": "AMX-BF16", "reason": ""}}}
    explain = Explanation.from_dict({"schema_version": 1, "created": "2026-01-01T14:00:00+00:00", "environment": {},
                                     "exported": "exported", "threads": 2, "bench_results": None,
                                     "report_figures": {}, "litert_layer_times": "", "machine": machine,
                                     "models": {"tiny": model}, "pairs": [], "text": ""})
    results = [_result("onnx", "fp32", 200), _result("onnx", "bf16", 80), _result("openvino", "static_int8", 100)]
    points = {p["label"]: p for p in figures.roofline_points(results, explain)}
    assert {label: p["ceiling"] for label, p in points.items()} == {
        "onnx/fp32 openvino": "fp32", "onnx/bf16 openvino": "bf16", "openvino/static_int8 openvino": "int8"}
    assert points["onnx/bf16 openvino"]["intensity"] == pytest.approx(4.6e6 / 450068)  # 2-byte weights
    assert figures.roofline_ceilings(explain) == {"fp32": 150.0, "int8": 400.0, "bf16": 1200.0}
    assert figures.roofline(results, explain, tmp_path / "roofline.png").stat().st_size > 1024
    # This EPYC's explanation has no bf16 ceiling: only the two measured ones are drawn.
    without = Explanation.from_dict({**explain.to_dict(), "machine": {**machine, "peak_gflops_bf16": None}})
    assert set(figures.roofline_ceilings(without)) == {"fp32", "int8"}
