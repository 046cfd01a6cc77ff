"""Runtimes: every runtime loads its formats of one tiny real model and agrees with Keras.

The model (Conv2D -> Flatten -> Dense softmax on 8x8x1) is built, saved and
exported once per test session: .keras, ONNX, SavedModel, TFLite float32 and
a full-integer TFLite with int8 inputs and outputs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from types import SimpleNamespace

import numpy as np
import pytest

from infer_bench.errors import ArtifactError, DeviceUnavailable, InferBenchError
from infer_bench.runtimes import (
    RUNTIMES,
    LoadOptions,
    devices,
    formats,
    get_runtime,
    runtimes_for_format,
)
from infer_bench.runtimes.onnxruntime_rt import load_onnx_profiled

# Tolerances, as data in one place: tight for float32, loose for int8.
FP32_ATOL = 1e-4
CUDA_ATOL = 5e-3  # TF32 / cuDNN algorithms on the GPU
INT8_ATOL = 0.05  # softmax probabilities; the int8 output step alone is 1/256
INT8_ARGMAX_AGREEMENT = 0.8
BATCH_SIZES = (1, 5)
INPUT_SHAPE = (None, 8, 8, 1)

NO_GPU_REASON = devices.cuda_available_reason()

# (runtime, artifact) for every format each runtime loads.
PAIRS = [
    ("keras_predict", "keras"),
    ("keras_call", "keras"),
    ("tf_function", "keras"),
    ("tf_function", "savedmodel"),
    ("onnxruntime", "onnx"),
    ("litert", "tflite"),
    ("openvino", "onnx"),
    ("openvino", "tflite"),
    ("openvino", "openvino"),
]


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory):
    """The tiny model, its exports, a reference batch and Keras' predictions for it."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(4, 3, activation="relu"),
            keras.layers.Flatten(),
            # Top probabilities of about 0.45-0.9: neither uniform nor saturated,
            # so both the int8 tolerance and the argmax agreement mean something.
            keras.layers.Dense(3, activation="softmax", kernel_initializer=keras.initializers.RandomNormal(stddev=0.3)),
        ]
    )
    rng = np.random.default_rng(0)
    x = rng.random((32, 8, 8, 1), dtype=np.float32)
    model(x[:1])  # export needs a model that has been called

    d = tmp_path_factory.mktemp("artifacts")
    paths = {"keras": d / "m.keras", "onnx": d / "m.onnx", "savedmodel": d / "saved", "tflite": d / "m.tflite"}
    model.save(paths["keras"])
    model.export(str(paths["onnx"]), format="onnx", verbose=False)
    model.export(str(paths["savedmodel"]), format="tf_saved_model", verbose=False)
    paths["tflite"].write_bytes(tf.lite.TFLiteConverter.from_saved_model(str(paths["savedmodel"])).convert())
    import openvino as ov

    paths["openvino"] = d / "ir"  # an OpenVINO IR folder, as export writes it
    ov.save_model(ov.convert_model(str(paths["onnx"])), str(paths["openvino"] / "model.xml"), compress_to_fp16=False)

    converter = tf.lite.TFLiteConverter.from_saved_model(str(paths["savedmodel"]))
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([rng.random((1, 8, 8, 1), dtype=np.float32)] for _ in range(64))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    paths["tflite_int8"] = d / "m_int8.tflite"
    paths["tflite_int8"].write_bytes(converter.convert())

    expected = model.predict(x, verbose=0, batch_size=len(x))
    return SimpleNamespace(paths=paths, x=x, expected=expected)


def _check_outputs(session, art, atol=FP32_ATOL):
    # 5, 1, 5: a new batch size, then back to one already seen (the resize paths).
    for n in (*BATCH_SIZES[::-1], *BATCH_SIZES):
        out = session.run(art.x[:n])
        assert out.dtype == np.float32 and out.shape == (n, 3)
        np.testing.assert_allclose(out, art.expected[:n], atol=atol, rtol=0)


# --- registry ----------------------------------------------------------------


def test_registry_rows_and_formats():
    assert list(RUNTIMES) == ["keras_predict", "keras_call", "tf_function", "onnxruntime", "litert", "openvino"]
    assert all(name == rt.name for name, rt in RUNTIMES.items())
    assert formats() == ["keras", "savedmodel", "onnx", "tflite", "openvino"]
    assert runtimes_for_format("keras") == ["keras_predict", "keras_call", "tf_function"]
    assert runtimes_for_format("savedmodel") == ["tf_function"]
    assert runtimes_for_format("onnx") == ["onnxruntime", "openvino"]
    assert runtimes_for_format("tflite") == ["litert", "openvino"]
    assert runtimes_for_format("openvino") == ["openvino"]
    assert sorted(PAIRS) == sorted((n, f) for n, rt in RUNTIMES.items() for f in rt.formats)


def test_unknown_runtime_lists_valid_ones():
    with pytest.raises(InferBenchError) as err:
        get_runtime("tensorrt")
    assert "'tensorrt'" in str(err.value)
    assert all(name in str(err.value) for name in RUNTIMES)


def test_unknown_format_lists_valid_ones():
    with pytest.raises(InferBenchError, match="onnx, openvino, savedmodel, tflite"):
        runtimes_for_format("pt")


def test_importing_the_registry_imports_no_runtime():
    code = (
        "import sys, infer_bench.runtimes\n"
        "heavy = [m for m in ('tensorflow', 'keras', 'onnxruntime', 'ai_edge_litert') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_missing_module_names_the_pip_package():
    with pytest.raises(InferBenchError, match="pip install some-runtime-pkg"):
        devices.import_runtime("infer_bench_no_such_module", "some-runtime-pkg")


# --- devices -----------------------------------------------------------------


def test_threads_none_means_all_cores():
    assert devices.effective_threads(None) == devices.cpu_count() >= 1
    assert devices.effective_threads(3) == 3


def test_ort_provider_table():
    assert devices.ort_providers("cpu") == ["CPUExecutionProvider"]
    assert devices.ort_providers("cuda") == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert devices.ort_providers("cuda", tensorrt=True)[0] == "TensorrtExecutionProvider"
    with pytest.raises(ValueError):
        devices.ort_providers("cpu", tensorrt=True)


def test_ort_cpu_fallback_is_refused():
    devices.check_ort_providers("cpu", ["CPUExecutionProvider"])
    devices.check_ort_providers("cuda", ["CUDAExecutionProvider", "CPUExecutionProvider"])
    with pytest.raises(DeviceUnavailable, match="fell back to CPU"):
        devices.check_ort_providers("cuda", ["CPUExecutionProvider"])
    with pytest.raises(DeviceUnavailable, match="TensorRT"):
        devices.check_ort_providers("cuda", ["CUDAExecutionProvider", "CPUExecutionProvider"], tensorrt=True)


@pytest.mark.skipif(NO_GPU_REASON is None, reason="a GPU is visible")
def test_cuda_reason_without_gpu():
    assert "no NVIDIA GPU visible" in NO_GPU_REASON
    # Registry names map to their engine's check; the driver check comes first.
    assert devices.cuda_available_reason("tf_function") == NO_GPU_REASON
    assert devices.cuda_available_reason("onnxruntime") == NO_GPU_REASON


def test_litert_has_no_cuda_anywhere(artifacts):
    assert "CPU only" in devices.cuda_available_reason("litert")
    with pytest.raises(DeviceUnavailable, match="CPU only"):
        get_runtime("litert").load(artifacts.paths["tflite"], LoadOptions(device="cuda"))


# --- every runtime on CPU ----------------------------------------------------


@pytest.mark.parametrize(("runtime", "fmt"), PAIRS)
def test_runtime_matches_keras_predict(artifacts, runtime, fmt):
    session = get_runtime(runtime).load(artifacts.paths[fmt], LoadOptions())
    try:
        assert session.runtime == runtime
        assert session.device == "cpu"
        assert session.providers and all(isinstance(p, str) for p in session.providers)
        assert session.threads == devices.cpu_count()
        assert session.input_shape == INPUT_SHAPE
        assert session.input_dtype == "float32"
        _check_outputs(session, artifacts)
    finally:
        session.close()


@pytest.mark.parametrize("fmt", ["keras", "savedmodel"])
def test_tf_function_xla(artifacts, fmt):
    session = get_runtime("tf_function").load(artifacts.paths[fmt], LoadOptions(jit_compile=True))
    assert session.runtime == "tf_function_xla"
    _check_outputs(session, artifacts)


def test_onnxruntime_reports_cpu_provider_and_threads(artifacts):
    session = get_runtime("onnxruntime").load(artifacts.paths["onnx"], LoadOptions(threads=1))
    assert session.providers == ("CPUExecutionProvider",)
    assert session.threads == 1
    assert session.model_input_dtype == "float32"
    _check_outputs(session, artifacts)


def test_litert_threads_and_delegates(artifacts):
    on = get_runtime("litert").load(artifacts.paths["tflite"], LoadOptions(threads=1))
    off = get_runtime("litert").load(artifacts.paths["tflite"], LoadOptions(threads=2, xnnpack=False))
    assert (on.providers, on.threads) == (("XNNPACK",), 1)
    assert (off.providers, off.threads) == (("builtin",), 2)
    _check_outputs(off, artifacts)


def test_litert_int8_io_is_quantized_and_dequantized(artifacts):
    session = get_runtime("litert").load(artifacts.paths["tflite_int8"], LoadOptions())
    assert session.model_input_dtype == "int8"
    assert session.input_dtype == "float32"
    for n in (1, 5, len(artifacts.x)):
        out = session.run(artifacts.x[:n])
        assert out.dtype == np.float32 and out.shape == (n, 3)
        assert np.abs(out - artifacts.expected[:n]).max() <= INT8_ATOL
    agreement = np.mean(out.argmax(1) == artifacts.expected.argmax(1))
    assert agreement >= INT8_ARGMAX_AGREEMENT


def test_onnxruntime_float16_io_is_cast(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "relu16",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT16, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT16, ["batch", 4])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, tmp_path / "relu16.onnx")
    session = get_runtime("onnxruntime").load(tmp_path / "relu16.onnx", LoadOptions(threads=1))
    assert session.input_shape == (None, 4)
    assert (session.input_dtype, session.model_input_dtype) == ("float32", "float16")
    out = session.run(np.array([[-1.0, 0.5, 2.0, -3.0]], dtype=np.float32))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [[0.0, 0.5, 2.0, 0.0]])


def test_onnxruntime_profiling_writes_node_events(artifacts, tmp_path):
    session = load_onnx_profiled(artifacts.paths["onnx"], LoadOptions(threads=1), tmp_path / "prof" / "ort")
    session.run(artifacts.x[:2])
    trace = session.end_profiling()
    assert trace.parent == tmp_path / "prof" and trace.suffix == ".json"
    events = json.loads(trace.read_text())
    assert any(e.get("cat") == "Node" for e in events)
    with pytest.raises(InferBenchError, match="without profiling"):
        get_runtime("onnxruntime").load(artifacts.paths["onnx"], LoadOptions()).end_profiling()


@pytest.mark.parametrize(("runtime", "fmt"), PAIRS)
def test_missing_artifact_is_an_artifact_error(tmp_path, runtime, fmt):
    missing = tmp_path / {"keras": "m.keras", "savedmodel": "saved", "onnx": "m.onnx", "tflite": "m.tflite",
                           "openvino": "ir"}[fmt]
    with pytest.raises(ArtifactError, match="no such"):
        get_runtime(runtime).load(missing, LoadOptions())


def test_tensorflow_threads_cannot_change_once_set(artifacts):
    # The fixture already started TensorFlow with its default (all cores).
    with pytest.raises(InferBenchError, match="one threads setting per process"):
        get_runtime("keras_call").load(artifacts.paths["keras"], LoadOptions(threads=devices.cpu_count() + 1))
    assert get_runtime("keras_call").load(artifacts.paths["keras"], LoadOptions()).threads == devices.cpu_count()


def test_tensorflow_threads_set_before_start(artifacts):
    # A fresh process, where the runtime sets TensorFlow's threads before it starts.
    code = textwrap.dedent(
        f"""
        import numpy as np, tensorflow as tf
        from infer_bench.errors import InferBenchError
        from infer_bench.runtimes import LoadOptions, get_runtime
        s = get_runtime("tf_function").load({str(artifacts.paths["keras"])!r}, LoadOptions(threads=1))
        assert s.threads == 1, s.threads
        assert tf.config.threading.get_intra_op_parallelism_threads() == 1
        assert tf.config.threading.get_inter_op_parallelism_threads() == 1
        p = get_runtime("keras_predict").load({str(artifacts.paths["keras"])!r}, LoadOptions(threads=1))
        x = np.zeros((3, 8, 8, 1), np.float32)
        np.testing.assert_allclose(s.run(x), p.run(x), atol={FP32_ATOL})
        try:
            get_runtime("keras_call").load({str(artifacts.paths["keras"])!r}, LoadOptions(threads=2))
        except InferBenchError:
            pass
        else:
            raise AssertionError("threads=2 after threads=1 was accepted")
        """
    )
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=300)


# --- CUDA --------------------------------------------------------------------


@pytest.mark.skipif(NO_GPU_REASON is None, reason="a GPU is visible: the refusal path needs a machine without one")
@pytest.mark.parametrize(("runtime", "fmt"), PAIRS)
def test_cuda_without_gpu_is_refused(artifacts, runtime, fmt):
    with pytest.raises(DeviceUnavailable) as err:
        get_runtime(runtime).load(artifacts.paths[fmt], LoadOptions(device="cuda"))
    assert err.value.problem and err.value.fix


@pytest.mark.skipif(NO_GPU_REASON is None, reason="a GPU is visible: the fallback path needs a machine without one")
def test_onnxruntime_silent_cpu_fallback_is_refused(artifacts, monkeypatch):
    # Pretend the driver check passed: ONNX Runtime then cannot load its CUDA
    # libraries, logs it and quietly builds a CPU session, which must be refused.
    monkeypatch.setattr(devices, "cuda_available_reason", lambda runtime=None: None)
    with pytest.raises(DeviceUnavailable, match="fell back to CPU"):
        get_runtime("onnxruntime").load(artifacts.paths["onnx"], LoadOptions(device="cuda"))


@pytest.mark.skipif(NO_GPU_REASON is None, reason="a GPU is visible: the soft-placement path needs none")
def test_tensorflow_gpu_device_without_gpu_is_refused(artifacts, monkeypatch):
    # Even if the generic check is fooled, TensorFlow's own device list decides:
    # "/GPU:0" without a GPU would silently run on the CPU.
    monkeypatch.setattr(devices, "cuda_available_reason", lambda runtime=None: None)
    with pytest.raises(DeviceUnavailable, match="sees no GPU"):
        get_runtime("keras_call").load(artifacts.paths["keras"], LoadOptions(device="cuda"))


@pytest.mark.skipif(NO_GPU_REASON is not None, reason=f"needs a CUDA GPU: {NO_GPU_REASON}")
@pytest.mark.parametrize(("runtime", "fmt"), [p for p in PAIRS if p[0] != "litert"])
def test_cuda_runs_on_the_gpu(artifacts, runtime, fmt):
    reason = devices.cuda_available_reason(runtime)
    if reason:
        pytest.skip(f"{runtime} cannot use CUDA here: {reason}")
    session = get_runtime(runtime).load(artifacts.paths[fmt], LoadOptions(device="cuda"))
    assert session.device == "cuda"
    if runtime == "onnxruntime":
        assert session.providers[0] == "CUDAExecutionProvider"
    else:
        assert session.providers == ("/GPU:0",)
    _check_outputs(session, artifacts, atol=CUDA_ATOL)
