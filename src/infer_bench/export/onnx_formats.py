"""ONNX exports: fp32 via Keras 3's exporter, then fp16 and int8 variants of that file.

``tf2onnx.convert.from_keras`` fails on Keras 3 (KeyError ``keras_tensor_N``);
``keras.Model.export(format="onnx")`` (which drives tf2onnx from a traced
function) works, so fp32 goes through it and every other ONNX variant is
derived from the fp32 file with onnxruntime's own tools.
"""

from __future__ import annotations

import contextlib
import gc
import tempfile
from pathlib import Path

import numpy as np

from ..errors import ArtifactError
from ..fsutil import atomic_path
from .calibration import CALIBRATION_PERCENTILE

ONNX_OPSET = 17  # Keras' exporter default; supported by onnxruntime 1.31 and QDQ quantization


def export_onnx_fp32(model, path: Path) -> None:
    """Export the Keras model to an fp32 ONNX file with a dynamic batch dimension."""
    # Keras' exporter refuses a model that has never been called ("The model provided has never
    # called"), which is what keras.saving.load_model returns: one call on zeros builds it.
    model(np.zeros((1, *model.input_shape[1:]), dtype=np.float32))
    with atomic_path(path, suffix=".onnx") as tmp, _tf2onnx_copies_freed():
        model.export(str(tmp), format="onnx", verbose=False, opset_version=ONNX_OPSET)


@contextlib.contextmanager
def _tf2onnx_copies_freed():
    """Free tf2onnx's discarded graph copies as it goes, so its memory stays bounded by two copies.

    tf2onnx 1.17's ``optimize_graph`` deep-copies the whole graph, weights included,
    before each of its 12 optimizers, on every pass. The discarded copies are
    reference cycles (nodes <-> graph) that only the cyclic garbage collector frees,
    and it seldom ran: exporting the 224x224 AlexNet (86 MB of weights) peaked at
    5.7 GiB, with one full collection before each optimizer at 2.5 GiB (the peak of
    TensorFlow's own graph optimization, before tf2onnx's). ``gc.freeze()`` moves
    the objects that already exist (TensorFlow, Keras) out of the collector's sight,
    so those collections cost 0.9 s in all instead of 10.6 s. tf2onnx is pinned
    (pyproject.toml); if its private ``_optimizers`` table moves, the export runs
    unchanged, only without this bound.
    """
    from tf2onnx import optimizer

    table = getattr(optimizer, "_optimizers", None)
    if not isinstance(table, dict):
        yield
        return
    original = dict(table)

    def collected_first(factory):
        def make():
            gc.collect()
            return factory()
        return make

    table.update({name: collected_first(factory) for name, factory in original.items()})
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
        table.update(original)


def export_onnx_fp16(fp32_path: Path, path: Path) -> None:
    """Convert weights and compute to float16, keeping float32 inputs and outputs.

    Float32 I/O keeps every artifact fed by the same input pipeline; the casts
    at the edges are part of the fp16 model's cost (it is meant for CUDA).
    """
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model16 = convert_float_to_float16(onnx.load(str(fp32_path)), keep_io_types=True)
    with atomic_path(path, suffix=".onnx") as tmp:
        onnx.save(model16, str(tmp))


def preprocessed(fp32_path: Path, workdir: Path) -> Path:
    """onnxruntime's recommended pre-processing (shape inference, graph cleanup) before quantizing.

    Deterministic: ``quant.onnx_layers`` runs it again to get the float graph whose node and
    tensor names the QDQ model keeps.
    """
    from onnxruntime.quantization.shape_inference import quant_pre_process

    out = workdir / "preprocessed.onnx"
    quant_pre_process(str(fp32_path), str(out), skip_symbolic_shape=False)
    return out


# Dynamic quantization covers the dense layers only. onnxruntime's default also turns every
# Conv into ConvInteger, whose CPU kernel is far slower than the fp32 Conv: alexnet_catsdogs
# went from 5.7 to 24 ms/row at batch 1. The dense layers are where dynamic int8 pays (weights
# 4x smaller to stream; alexnet's are 16.8M of its 21M parameters). onnxruntime's guide
# recommends static quantization for CNNs; that is the static_int8 artifact.
DYNAMIC_OP_TYPES = ["MatMul", "Gemm"]


def export_onnx_dynamic_int8(fp32_path: Path, path: Path) -> None:
    """Dynamic quantization of the dense layers: int8 weights, activations quantized per call."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as work, atomic_path(path, suffix=".onnx") as tmp:
        quantize_dynamic(str(preprocessed(fp32_path, Path(work))), str(tmp), weight_type=QuantType.QInt8,
                         op_types_to_quantize=DYNAMIC_OP_TYPES)


def nodes_in_scopes(node_names, scopes) -> list[str]:
    """The node names under any of the layer ``scopes`` ("tiny_1/conv2d_1_2": its "tiny_1/conv2d_1_2/..." nodes)."""
    prefixes = tuple(scope.rstrip("/") + "/" for scope in scopes)
    return [name for name in node_names if prefixes and name.startswith(prefixes)]


# 7-bit weights (onnxruntime's ``reduce_range``). On a CPU without VNNI, onnxruntime's int8
# kernels multiply uint8 x int8 pairs into int16 sums that can saturate (its docs: reduce_range
# "may improve the accuracy ... on non-VNNI machine"). A fully trained simple_cnn's static int8
# file agreed with fp32 on 94.33% of the 10,000 test images as onnxruntime runs it (AVX2, no
# VNNI), 99.60% with graph optimizations off (the same model simulated in float), and 99.44%
# with 7-bit weights. Always on, not only where exported: a file exported on a VNNI machine
# may be run on one without it.
REDUCE_RANGE = True

# The ops quantized: those with int8 kernels (convolutions, matrix multiplies) and those that
# only move or clamp values and keep their input's grid (pooling, Relu/Clip, reshapes).
# Element-wise arithmetic (the bias Add after a MatMul, an unfolded BatchNormalization's Mul
# and Add, residual Adds) and output activations (Sigmoid, Softmax) stay float: quantizing
# them puts one more int8 grid on each of their outputs and buys no int8 kernel on CPU. On
# the three report models (2026-12-03, same calibration images, whole test sets) this cut
# the max abs output difference from fp32 by 1-59% (alexnet_catsdogs 0.089 -> 0.037,
# alexnet_fashion 0.44 -> 0.30) and the Cats vs Dogs AlexNet's logit error from 0.124 to
# 0.088 (std), for the same or a lower batch-1 latency (docs/quantization.md).
QUANTIZED_OP_TYPES = ("Conv", "ConvTranspose", "MatMul", "Gemm", "MaxPool", "AveragePool", "GlobalAveragePool",
                      "GlobalMaxPool", "Relu", "Clip", "Flatten", "Reshape", "Transpose", "Squeeze", "Unsqueeze",
                      "Concat", "Pad", "Resize", "Split", "Slice")


WEIGHTED_OP_TYPES = ("Conv", "ConvTranspose", "MatMul", "Gemm")


def classifier_head(nodes, graph_outputs, weighted_op_types=WEIGHTED_OP_TYPES) -> list[str]:
    """Names of the nodes from the last weighted node (the classifier's Gemm/MatMul) to the model's output.

    Walks back from each graph output through single-producer nodes (Sigmoid, Softmax,
    the bias Add, reshapes) to the first ``weighted_op_types`` node. Pure: ``nodes``
    are ``onnx.NodeProto``-like (``name``, ``op_type``, ``input``, ``output``); the
    TFLite export passes its operators in that shape with TFLite's op names.
    """
    producer = {out: node for node in nodes for out in node.output}
    head: list[str] = []
    for output in graph_outputs:
        node = producer.get(output)
        while node is not None and node.name not in head:
            head.append(node.name)
            if node.op_type in weighted_op_types:
                break
            # follow the activation input (the first input a node produces; initializers have no producer)
            node = next((producer[i] for i in node.input if i in producer), None)
    return head


def export_onnx_static_int8(fp32_path: Path, path: Path, calibration: np.ndarray, batch: int = 32,
                            float_scopes: tuple[str, ...] = ()) -> None:
    """Static QDQ quantization of ``QUANTIZED_OP_TYPES``, per-channel 7-bit weights, percentile-calibrated
    on real images; the classifier head (``classifier_head``: last Dense to output) stays float.

    ``float_scopes``: layer scopes (``quant.repair``) whose nodes stay in float
    (``quantize_static(nodes_to_exclude=...)``); one that matches no node is refused.
    """
    import contextlib
    import io

    import onnx
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)

    input_name = onnx.load(str(fp32_path)).graph.input[0].name

    class Reader(CalibrationDataReader):
        def __init__(self):
            self._batches = iter(calibration[i:i + batch] for i in range(0, len(calibration), batch))

        def get_next(self):
            nxt = next(self._batches, None)
            return None if nxt is None else {input_name: nxt}

    # The histogram calibrator prints its progress to stdout; the run's own progress says enough.
    with (tempfile.TemporaryDirectory() as work, atomic_path(path, suffix=".onnx") as tmp,
          contextlib.redirect_stdout(io.StringIO())):
        source = preprocessed(fp32_path, Path(work))
        graph = onnx.load(str(source)).graph
        excluded = nodes_in_scopes([n.name for n in graph.node], float_scopes)
        missing = [s for s in float_scopes if not nodes_in_scopes(excluded, [s])]
        # The classifier layer stays float: an int8 grid on the logits (steps of ~0.05 on the Cats vs
        # Dogs AlexNet's) rounds near-boundary rows to exactly p = 0.5, ties that count as flips, for
        # under 1% of the model's multiply-adds.
        excluded = list(dict.fromkeys(excluded + classifier_head(graph.node, [o.name for o in graph.output])))
        if missing:
            raise ArtifactError(f"No node of {fp32_path.name} is in the layer scope(s) {', '.join(missing)}.",
                                "name layers by the scopes `infer-bench check` reports for this model.")
        try:
            with _calibrated_one_batch_at_a_time():
                quantize_static(str(source), str(tmp), Reader(), nodes_to_exclude=excluded,
                                quant_format=QuantFormat.QDQ, per_channel=True, reduce_range=REDUCE_RANGE,
                                activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                                op_types_to_quantize=list(QUANTIZED_OP_TYPES),
                                calibrate_method=CalibrationMethod.Percentile,
                                extra_options={"CalibPercentile": CALIBRATION_PERCENTILE})
        except ValueError as exc:
            if "bins" not in str(exc):
                raise
            # numpy's histogram refuses a range too narrow for its bins at that magnitude: an
            # activation that is (nearly) constant on every calibration image, e.g. in an untrained model.
            raise ArtifactError(
                f"ONNX Runtime's percentile calibration of {fp32_path.name} failed: an activation is (nearly) "
                f"constant over the {len(calibration)} calibration images, so its histogram has no range ({exc}).",
                "calibrate on more varied images (--calibration-images), or check that the model is trained; "
                "the other artifacts are exported anyway.") from exc


@contextlib.contextmanager
def _calibrated_one_batch_at_a_time():
    """Make onnxruntime's histogram calibration hold one batch of activations at a time, not all.

    onnxruntime 1.2x's ``HistogramCalibrater.collect_data`` keeps every intermediate
    output of every calibration batch, then stacks each tensor's batches (two more
    copies) before histogramming: calibrating the 224x224 AlexNet on 256 images
    raised the process's peak from 3.5 to 5.5 GiB. Its ``HistogramCollector`` already
    merges histograms across calls (a later, wider batch adds bins of the same
    width), so feeding ``collect_data`` one batch per call gives the same histograms
    up to where the bins start (the first batch's range instead of all batches'),
    i.e. ranges within one bin width (1/2048 of the range) of the all-at-once ones.
    The min/max calibrator has an option for this (``CalibMaxIntermediateOutputs``);
    the histogram ones do not.
    """
    from onnxruntime.quantization.calibrate import HistogramCalibrater

    whole = HistogramCalibrater.collect_data

    def one_batch_per_call(self, data_reader):
        while inputs := data_reader.get_next():  # what collect_data stops on, too
            whole(self, _OneBatch(inputs))

    HistogramCalibrater.collect_data = one_batch_per_call
    try:
        yield
    finally:
        HistogramCalibrater.collect_data = whole


class _OneBatch:
    """A calibration data reader that yields one given batch, then ends."""

    def __init__(self, inputs: dict):
        self._inputs = [inputs]

    def get_next(self):
        return self._inputs.pop() if self._inputs else None
