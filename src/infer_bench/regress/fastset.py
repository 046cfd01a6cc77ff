"""The fast set the gate times, and seeded untrained exports of its models, built once per library versions.

Latency does not depend on trained weight values, so the fast set uses seeded,
untrained copies of the three models, exported through the suite's own export
table: CI needs no training to build them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Callable, Sequence

from ..environment import package_versions
from ..errors import InferBenchError
from ..export import ARTIFACTS, ExportContext
from ..models import get_spec

# Every model in ONNX Runtime and LiteRT at batch 1 and 8, except the Cats vs Dogs AlexNet at batch 8:
# a pair of its calls takes 0.3-0.4 s, so its two cases alone would take half the gate's time, and the
# same layers are timed at batch 1.
FAST_SET: tuple[tuple[str, str, str, str, int], ...] = tuple(
    (model, fmt, "fp32", runtime, batch)
    for model in ("simple_cnn", "alexnet_fashion", "alexnet_catsdogs")
    for fmt, runtime in (("onnx", "onnxruntime"), ("tflite", "litert"))
    for batch in (1, 8)
    if (model, batch) != ("alexnet_catsdogs", 8)
)
CACHE_DIR = Path(".cache") / "regress"
# The export-table rows the fast set needs; the SavedModel is there because the TFLite row converts from it.
EXPORTS = (("onnx", "fp32"), ("savedmodel", "fp32"), ("tflite", "fp32"))
TIMED_FORMATS = ("onnx", "tflite")


def case_id(case: tuple) -> str:
    """``model/format/quantization/runtime/bN``: how a case is named in baselines and output."""
    model, fmt, quant, runtime, batch = case
    return f"{model}/{fmt}/{quant}/{runtime}/b{batch}"


def resolve_cases(names: Sequence[str]) -> list[tuple]:
    """The fast-set cases named ``names``; an unknown name is refused with the list of known ones."""
    by_id = {case_id(c): c for c in FAST_SET}
    for name in names:
        if name not in by_id:
            raise InferBenchError(f"Unknown fast-set case {name!r}.", f"use one of: {', '.join(sorted(by_id))}.")
    return [by_id[name] for name in names]


def cache_folder(cache_dir: Path = CACHE_DIR) -> Path:
    """``cache_dir/<hash of the library versions>``: a new TensorFlow or exporter builds fresh files.

    infer-bench's own version is left out: its version string does not change
    with its code, so it says nothing about the graphs, and leaving it out keeps
    the folder that earlier versions of the gate built.
    """
    versions = {name: v for name, v in package_versions().items() if name != "infer-bench"}
    return Path(cache_dir) / hashlib.sha256(json.dumps(versions, sort_keys=True).encode()).hexdigest()[:12]


def _no_calibration():
    # The fast set is fp32: no row it builds calibrates. (The TFLite rows of the export table
    # pass the context's calibration to every TFLite conversion, and a float conversion ignores
    # it; a static int8 one would refuse None with its own error.)
    return None


def fast_set_artifacts(cache_dir: Path = CACHE_DIR, log: Callable[[str], None] = print,
                       models: Sequence[str] | None = None) -> dict[tuple, Path]:
    """Build (once) seeded untrained exports of each model in the fast set (or of ``models``); {(model, format): path}."""
    folder = cache_folder(cache_dir)
    rows = [kind for kind in ARTIFACTS if (kind.format, kind.quantization) in EXPORTS]
    out = {}
    for model in dict.fromkeys(models or [c[0] for c in FAST_SET]):
        context = ExportContext(model=None, name=model, folder=folder, load_calibration=_no_calibration)
        paths = {fmt: context.path(fmt, "fp32") for fmt in TIMED_FORMATS}
        if not all(p.exists() for p in paths.values()):
            import keras  # heavy: only when the cache lacks this model

            log(f"  building the fast-set exports of {model} (seeded, untrained; once per library versions)")
            keras.utils.set_random_seed(0)
            context.model = get_spec(model).build()
            for kind in rows:  # in the table's order: the SavedModel before the TFLite file made from it
                kind.make(context, context.path(kind.format, kind.quantization))
        out.update({(model, fmt): path for fmt, path in paths.items()})
    return out
