"""OpenVINO exports: static int8 IR by NNCF post-training quantization of the fp32 ONNX file.

The IR is two files (``model.xml``, the graph, and ``model.bin``, the
weights), and one is useless without the other. They are written into one
folder, like the SavedModel, rather than as ``<name>.xml`` + ``<name>.bin``
side by side, because then:

- the write is atomic as a whole: both files go into a temporary folder that
  is renamed into place in one step (two file renames could leave a new
  ``.xml`` beside an old ``.bin`` after a crash between them);
- the manifest's checksum and size cover both files with no special case
  (``fsutil.sha256_of`` / ``size_of`` hash and sum a folder's files), so a
  damaged or swapped ``.bin`` fails the checksum like any other artifact.

The runtime reads ``<folder>/model.xml`` (``catalog.OPENVINO_MARKER``).
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
from pathlib import Path

import numpy as np

from ..catalog import OPENVINO_MARKER
from ..errors import ArtifactError, DataError
from ..fsutil import atomic_path


def export_openvino_static_int8(fp32_onnx: Path, folder: Path, calibration: np.ndarray,
                                float_scopes: tuple[str, ...] = ()) -> None:
    """Quantize the fp32 ONNX model with ``nncf.quantize`` on ``calibration`` images; save the IR folder.

    ``float_scopes``: layer scopes (``quant.openvino_layers.openvino_layer_scopes``) whose
    ops NNCF leaves in float (its ``ignored_scope``, one pattern per scope); a scope
    that matches no op is refused.

    OpenVINO reads the ONNX file; NNCF collects activation ranges over every
    calibration image (one per call, as NNCF's guide advises) with its default
    preset (symmetric int8 weights and activations, the CPU plugin's
    fastest) and fast bias correction. Float parts stay float32 in the file
    (``compress_to_fp16=False``), so the artifact differs from the fp32 model
    only by its quantization.

    Activation ranges are the min and max over all calibration images
    (``RangeEstimatorParametersSet.MINMAX``), not NNCF's default for CNNs, the
    *mean* over images of each image's min and max: with one image per call that
    mean sits well inside the range the images reach, so every image's largest
    activations are clipped. On the three report models (2026-12-03, test sets,
    the same 256 calibration images) min/max cut the max abs output difference
    from fp32 3.5-4x (alexnet_fashion 0.53 -> 0.14, simple_cnn 0.22 -> 0.06) and
    the Cats vs Dogs AlexNet's logit error 8x (std 0.32 -> 0.04); see
    docs/quantization.md.
    """
    import nncf
    import openvino as ov
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters
    from nncf.quantization.range_estimator import RangeEstimatorParametersSet

    if len(calibration) < 1:
        raise DataError("No calibration images for the OpenVINO int8 export.",
                        "pass at least one real training image (the export uses 256).")
    model = ov.Core().read_model(str(fp32_onnx))
    dataset = nncf.Dataset(np.asarray(calibration, dtype=np.float32), lambda image: image[None])
    # NNCF logs and draws progress bars on stdout; the export's own progress line says enough.
    nncf.set_log_level(logging.ERROR)
    ignored = None
    if float_scopes:
        ignored = nncf.IgnoredScope(patterns=[re.escape(scope.rstrip("/")) + "/.*" for scope in float_scopes])
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            quantized = nncf.quantize(model, dataset, subset_size=len(calibration), ignored_scope=ignored,
                                      advanced_parameters=AdvancedQuantizationParameters(
                                          activations_range_estimator_params=RangeEstimatorParametersSet.MINMAX))
    except nncf.ValidationError as exc:  # an ignored-scope pattern matched no op of the model
        raise ArtifactError(f"NNCF could not keep the layer scope(s) {', '.join(float_scopes)} of "
                            f"{fp32_onnx.name} in float: {str(exc).strip().splitlines()[0]}",
                            "name layers by the scopes `infer-bench check` reports for this model.") from exc
    with atomic_path(folder) as tmp:
        tmp.mkdir()
        ov.save_model(quantized, str(tmp / OPENVINO_MARKER), compress_to_fp16=False)
