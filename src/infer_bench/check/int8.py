"""What ``check`` adds for a static int8 artifact: its per-layer errors, and its repair when it fails.

For an ONNX (QDQ), TFLite or OpenVINO (NNCF) static int8 artifact of an
export folder, the float source it was quantized from is in the same manifest
(the fp32 ONNX file; the SavedModel), so the float and the int8 model run on
the first held-out test rows (never calibration images: those are training
images) and every Keras layer gets its error (``quant``). When the artifact
misses its budget and its tolerance row allows a repair, ``quant.repair`` keeps
the worst layers with weights in float, re-exporting from the same source on
the same calibration images train-export used, and the manifest entry is
updated (new checksum, ``float_layers``). An ``--artifact`` outside a manifest gets a note saying why it has no layer
errors.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np

from ..export.calibration import CALIBRATION_IMAGES, calibration_images
from ..export.onnx_formats import export_onnx_static_int8
from ..export.openvino_formats import export_openvino_static_int8
from ..export.tflite_formats import export_tflite
from ..errors import InferBenchError
from ..manifest import ArtifactEntry, Manifest, entry_for
from ..measure import QUICK, time_pairs
from ..quant.onnx_layers import onnx_layer_scopes, onnx_layers
from ..quant.openvino_layers import openvino_layer_scopes, openvino_layers
from ..quant.records import LayerError, Repair
from ..quant.repair import Evaluation, RepairLimits, repair
from ..quant.sqnr import layer_errors, repair_candidates
from ..quant.tflite_layers import float_tflite, tflite_layer_scopes, tflite_layer_tensors, tflite_layer_weights
from ..results.check import CheckResult
from ..runtimes import LoadOptions, get_runtime
from .tolerances import Tolerance

LAYER_FORMATS = ("onnx", "tflite", "openvino")  # static int8 formats with per-layer errors
REPAIR_FORMATS = ("onnx", "tflite", "openvino")  # ... and those whose re-export can keep layers in float
# The float artifact each static int8 format is quantized from (its (format, quantization) in the manifest).
FLOAT_SOURCES = {"onnx": ("onnx", "fp32"), "tflite": ("savedmodel", "fp32"), "openvino": ("onnx", "fp32")}


def float_source(manifest: Manifest, model: str, fmt: str) -> Path | None:
    """The float file ``model``'s static int8 ``fmt`` artifact is quantized from (None: not in the manifest)."""
    entry = manifest.artifacts.get((model, *FLOAT_SOURCES[fmt])) if fmt in FLOAT_SOURCES else None
    return None if entry is None else manifest.folder / entry.path


def requantize(fmt: str, source: Path, path: Path, calibration: np.ndarray, float_scopes: tuple[str, ...] = ()) -> None:
    """Make the static int8 ``fmt`` artifact at ``path`` from ``source`` on ``calibration``, as train-export does.

    ``float_scopes``: layer scopes kept in float (the repair).
    """
    if fmt == "onnx":
        export_onnx_static_int8(source, path, calibration, float_scopes=float_scopes)
    elif fmt == "tflite":
        export_tflite(source, path, "static_int8", calibration, float_scopes=float_scopes)
    elif fmt == "openvino":
        export_openvino_static_int8(source, path, calibration, float_scopes=float_scopes)
    else:
        raise InferBenchError(f"Static int8 {fmt} cannot be re-quantized" + (" with layers kept in float" if
                                                                               float_scopes else "") + ".",
                              f"use one of {', '.join(FLOAT_SOURCES)}.")
LAYER_ROWS = 256  # held-out test rows the float and int8 models run on, layer by layer
LAYER_INPUT_BYTES = 32 * 224 * 224 * 3 * 4  # at most this much input (32 rows of 224x224x3): activations add up
MIN_LAYER_ROWS = 8
# The layer-error runs keep every tensor of the float and the int8 graph for every row: about 10x
# the Keras layers' outputs (measured: 38 MB a row for a 224x224 AlexNet's 3.7 MB of layer outputs,
# 29 MB for a 96x96 MobileNetV3Small's 3.9 MB, which on 174 rows took the check to 6.2 GiB).
LAYER_MEMORY_BYTES = 768 << 20  # 21 rows of the 224x224 AlexNet: with 1 GiB (29 rows) its check peaked at 4.03 GiB
GRAPH_TENSORS_PER_LAYER_OUTPUT = 10


def layer_rows(image_shape) -> int:
    """Held-out rows for layer errors: ``LAYER_ROWS``, fewer for big images (at least ``MIN_LAYER_ROWS``)."""
    return max(MIN_LAYER_ROWS, min(LAYER_ROWS, LAYER_INPUT_BYTES // (4 * int(np.prod(image_shape)))))


def layer_output_bytes(model) -> int:
    """Bytes of float32 output every layer of ``model`` gives for one image (nested models counted layer by layer)."""
    total = 0
    for layer in model.layers:
        if getattr(layer, "layers", None):
            total += layer_output_bytes(layer)
            continue
        outputs = layer.output if isinstance(layer.output, (list, tuple)) else [layer.output]
        total += sum(4 * int(np.prod([d or 1 for d in o.shape[1:]])) for o in outputs)
    return total


def rows_within_memory(model, available: int) -> int:
    """How many of ``available`` rows the layer-error runs of ``model`` may use within ``LAYER_MEMORY_BYTES``."""
    per_row = max(1, GRAPH_TENSORS_PER_LAYER_OUTPUT * layer_output_bytes(model))
    return min(available, max(MIN_LAYER_ROWS, LAYER_MEMORY_BYTES // per_row))


@dataclass
class Int8Job:
    """A static int8 artifact of a manifest and where its float source and calibration come from."""

    model: str
    format: str
    path: Path
    manifest: Manifest
    entry: ArtifactEntry
    reference: Path  # the .keras file
    load_calibration: Callable[[], np.ndarray]

    def source(self) -> Path | None:
        """The float file the artifact was quantized from (None: not in the manifest)."""
        return float_source(self.manifest, self.model, self.format)


def calibration_loader(manifest: Manifest, model: str, data_dir) -> Callable[[], np.ndarray]:
    """The calibration images train-export / export used for ``model`` (same data, same seeded sample)."""
    def load() -> np.ndarray:
        from ..data import VALIDATION_SHARE, Preprocess, open_data, shipped_preprocess
        from ..train_export import training_data

        info = manifest.models.get(model, {})
        if info.get("preprocess") is not None:  # a user's model: ``infer-bench export``
            return calibration_images(open_data(info["data"], data_dir), Preprocess.from_dict(info["preprocess"]),
                                      info.get("calibration_images", CALIBRATION_IMAGES))
        # the split the model was trained on: its calibration images were drawn from that train split
        share = info.get("validation_share", VALIDATION_SHARE)
        return calibration_images(training_data(info["dataset"], data_dir, bool(info.get("quick")), share),
                                  shipped_preprocess(info["dataset"]))

    return load


def measure_layers(job: Int8Job, keras_model,
                   images: np.ndarray) -> tuple[tuple[LayerError, ...], dict[str, str], list[str]]:
    """The artifact's layer errors (worst first), each layer's scope in its graph, and its layers with int8 weights.

    The last, in graph order, includes layers whose output has no int8 grid of its own to
    measure (NNCF puts the first AlexNet convolution's output grid after its ReLU and
    BatchNormalization): they have no error row but can still be kept in float.
    """
    source = job.source()
    if job.format == "onnx":
        tensors, weights = onnx_layers(source, job.path, keras_model, images)
        return layer_errors(tensors, weights), onnx_layer_scopes(source, keras_model), list(weights)
    if job.format == "openvino":
        tensors, weights = openvino_layers(source, job.path, keras_model, images)
        return layer_errors(tensors, weights), openvino_layer_scopes(source, keras_model), list(weights)
    content = float_tflite(source)
    tensors = tflite_layer_tensors(content, job.path, keras_model, images)
    weights = tflite_layer_weights(content, job.path, keras_model)
    return layer_errors(tensors, weights), tflite_layer_scopes(content, keras_model), list(weights)


def repair_order(errors, weighted_layers) -> list[str]:
    """The repair's candidates: the error ranking's layers with weights, then weighted layers it has no row for. Pure."""
    ranked = repair_candidates(errors)
    return ranked + [layer for layer in dict.fromkeys(weighted_layers) if layer not in ranked]


def _reexporter(job: Int8Job) -> Callable[[tuple[str, ...], Path], None]:
    source = job.source()

    def reexport(scopes: tuple[str, ...], path: Path) -> None:
        requantize(job.format, source, path, job.load_calibration(), scopes)

    return reexport


def _timer(runtime: str, batch: np.ndarray) -> Callable[[Path, Path], tuple[float, float]]:
    """Median batch-1 ms of two files, timed call against call (``measure.time_pairs``, the QUICK rule)."""
    def time_pair(original: Path, repaired: Path) -> tuple[float, float]:
        a = get_runtime(runtime).load(original, LoadOptions(device="cpu"))
        b = get_runtime(runtime).load(repaired, LoadOptions(device="cpu"))
        try:
            pairs = time_pairs(a.run, b.run, [batch], QUICK)
        finally:
            a.close()
            b.close()
        return statistics.median(p[0] for p in pairs) / 1e6, statistics.median(p[1] for p in pairs) / 1e6

    return time_pair


def follow_up(job: Int8Job | None, result: CheckResult, tolerance: Tolerance, images: np.ndarray,
              evaluate: Callable[[Path], CheckResult], log: Callable[[str], None], note: str = "") -> CheckResult:
    """``result`` with its layer errors, repaired first if it failed and its tolerance allows it.

    ``job`` None: no layer errors, ``note`` says why. ``evaluate(path)``
    re-checks a re-exported file against the same reference.
    """
    if job is None:
        return replace(result, layer_error_note=note)
    if result.test is None:  # it could not even be run: nothing to measure or repair
        return result
    if job.source() is None:
        source = "SavedModel" if job.format == "tflite" else "fp32 ONNX file"
        return replace(result, layer_error_note=f"the manifest lists no {source} to compare the int8 model with")
    import keras

    keras_model = keras.saving.load_model(job.reference, compile=False, safe_mode=True)
    images = images[:rows_within_memory(keras_model, len(images))]
    errors, scopes, weighted = measure_layers(job, keras_model, images)
    result = replace(result, layer_errors=errors)
    limits = RepairLimits(tolerance.repair_max_float_layers, tolerance.repair_max_attempts)
    if result.passed:
        return result

    def judged(path: Path) -> Evaluation:
        r = evaluate(path)
        return Evaluation(r.top1_agreement, r.accuracy_delta_pts, r.reasons,
                          None if r.test is None else r.test.mean_abs_diff)

    if job.format in REPAIR_FORMATS or not limits.enabled:  # switched off: repair() says so, touching nothing
        outcome = repair(job.path, repair_order(errors, weighted), scopes, limits, result.reasons, _reexporter(job),
                         judged, _timer(result.runtime, images[:1]), log)
    else:
        outcome = Repair(False, (), (), None, result.reasons,
                         why=f"{job.format} int8 cannot keep layers in float (repaired formats: "
                             f"{', '.join(REPAIR_FORMATS)}); worst layers with weights: "
                             f"{', '.join(repair_candidates(errors)[:3])}")
    if not outcome.repaired:
        return replace(result, repair=outcome, reasons=(*result.reasons, f"not repaired: {outcome.why}"))
    fresh = evaluate(job.path)
    entry = entry_for(job.manifest, job.path, **{k: getattr(job.entry, k) for k in (
        "model", "format", "quantization", "input_shape", "input_dtype", "output_shape", "source_sha256",
        "source_test_accuracy", "quick", "recipe")}, float_layers=outcome.float_layers)
    job.manifest.add(entry)
    job.manifest.save()
    # The layer errors stay those of the artifact as exported: the diagnosis the repair acted on.
    return replace(fresh, extra=result.extra, layer_errors=errors, repair=outcome,
                   seconds=result.seconds + fresh.seconds)
