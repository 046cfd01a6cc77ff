"""Quantization you can trust: per-layer int8 error, and the repair of an int8 artifact that misses its budget.

- ``records``: the typed records a check keeps (``LayerError``, ``RepairAttempt``, ``Repair``);
- ``sqnr``: SQNR, relative error, the int8 grid and the ranking (pure);
- ``onnx_layers`` / ``tflite_layers``: run the float and the int8 model on held-out images and
  collect each Keras layer's output in both (ONNX Runtime's ``qdq_loss_debug``; TFLite's
  interpreter with every tensor kept), and compare each layer's int8 weights with its float ones;
- ``openvino_layers``: the same for an OpenVINO (NNCF) int8 IR, read and run by OpenVINO;
- ``repair``: keep the worst layers in float, re-export, re-check, within the limits;
- ``calibration_study`` / ``calibration_spread``: re-quantize every static int8 artifact on
  calibration sets of several sizes and seeds, check each, and the spread over the seeds.

Nothing is imported here, so ``results.check`` can read ``records`` without importing the rest.
"""
