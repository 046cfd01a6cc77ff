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
