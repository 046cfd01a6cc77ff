"""The fp32 ONNX export frees tf2onnx's discarded graph copies as it goes, and leaves no trace behind."""

from __future__ import annotations

import gc

import numpy as np


def test_export_collects_between_optimizers_and_restores_tf2onnx_and_gc(tmp_path):
    import keras
    import onnxruntime as ort
    from tf2onnx import optimizer

    from infer_bench.export.onnx_formats import export_onnx_fp32

    model = keras.Sequential([keras.Input((12, 12, 1)), keras.layers.Conv2D(4, 3, activation="relu"),
                              keras.layers.Flatten(), keras.layers.Dense(3, activation="softmax")])
    table_before = dict(optimizer._optimizers)
    full_collections = []

    def count(phase, info):
        if phase == "start" and info["generation"] == 2:
            full_collections.append(1)

    gc.callbacks.append(count)
    try:
        export_onnx_fp32(model, tmp_path / "tiny.onnx")
    finally:
        gc.callbacks.remove(count)

    # One full collection before each of tf2onnx's optimizers, on every pass (at least one pass).
    assert len(full_collections) >= len(table_before)
    assert dict(optimizer._optimizers) == table_before
    assert gc.get_freeze_count() == 0
    x = np.random.default_rng(0).random((2, 12, 12, 1), dtype=np.float32)
    session = ort.InferenceSession(str(tmp_path / "tiny.onnx"), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(got, model.predict(x, verbose=0), atol=1e-5)


def test_static_calibration_holds_one_batch_at_a_time_and_keeps_the_ranges(tmp_path):
    """onnxruntime's histogram calibration sees one batch per collection, and the ranges barely move."""
    import keras
    import onnx
    from onnx import numpy_helper
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.calibrate import HistogramCollector

    from infer_bench.export.onnx_formats import export_onnx_fp32, export_onnx_static_int8, preprocessed

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((12, 12, 1)), keras.layers.Conv2D(4, 3, activation="relu"),
                              keras.layers.Flatten(), keras.layers.Dense(3, activation="softmax")])
    export_onnx_fp32(model, tmp_path / "fp32.onnx")
    images = np.random.default_rng(1).random((96, 12, 12, 1), dtype=np.float32)

    batches_per_collection = []
    collect = HistogramCollector.collect

    def counting(self, name_to_arr):
        batches_per_collection.append({len(v) for v in name_to_arr.values()})
        return collect(self, name_to_arr)

    HistogramCollector.collect = counting
    try:
        export_onnx_static_int8(tmp_path / "fp32.onnx", tmp_path / "ours.onnx", images, batch=32)
    finally:
        HistogramCollector.collect = collect
    assert batches_per_collection == [{1}, {1}, {1}]

    class AllAtOnce:  # onnxruntime's own behaviour: every batch collected in one call
        def __init__(self):
            self.batches = [{"input_layer": images[i:i + 32]} for i in range(0, 96, 32)]

        def get_next(self):
            return self.batches.pop(0) if self.batches else None

    name = onnx.load(str(tmp_path / "fp32.onnx")).graph.input[0].name
    reader = AllAtOnce()
    for b in reader.batches:
        b[name] = b.pop("input_layer")
    quantize_static(str(preprocessed(tmp_path / "fp32.onnx", tmp_path)), str(tmp_path / "theirs.onnx"), reader,
                    quant_format=QuantFormat.QDQ, per_channel=True, activation_type=QuantType.QInt8,
                    weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.Percentile,
                    extra_options={"CalibPercentile": 99.998})

    def activation_scales(path):
        graph = onnx.load(str(path)).graph
        inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
        return {n.input[0]: float(inits[n.input[1]]) for n in graph.node
                if n.op_type == "QuantizeLinear" and n.input[1] in inits and inits[n.input[1]].size == 1}

    ours, theirs = activation_scales(tmp_path / "ours.onnx"), activation_scales(tmp_path / "theirs.onnx")
    # ours quantizes fewer tensors (no int8 grid on the classifier head: onnx_formats.QUANTIZED_OP_TYPES,
    # classifier_head); each one it does quantize has the range the all-at-once calibration gives
    assert set(ours) <= set(theirs) and len(ours) >= 3, (ours.keys(), theirs.keys())
    for tensor in ours:
        assert abs(ours[tensor] - theirs[tensor]) <= 0.01 * theirs[tensor], tensor
