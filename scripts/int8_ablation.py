"""Which layers' int8 flips a model's predictions? Re-quantize its static int8 artifacts with layers kept in float.

Usage: python scripts/int8_ablation.py --exported DIR --model NAME [--formats onnx,tflite,openvino]
           [--limit ROWS] [--json OUT.json]

For each static int8 artifact of NAME in the export folder, this re-quantizes the
artifact's float source (the same recipe and calibration images as the export, via
``check.int8.requantize``) several times, to a temporary folder:

- nothing kept in float (the artifact as exported);
- each layer with int8 weights kept in float on its own;
- every convolution and BatchNormalization kept in float; every Dense kept in float;

and runs each on the test split in the runtime `infer-bench check` uses, against the
Keras model: top-1 agreement, max abs output difference, and how close the
disagreeing rows sit to the Keras model's decision boundary. It answers what the
repair loop cannot: whether *any* few layers kept in float would bring the artifact
within its budget, or whether the error is spread over many. Nothing in the export
folder is changed. It takes one re-quantization per row (seconds for the Fashion-MNIST
models, 10-25 s each for the 224x224 AlexNet).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from tabulate import tabulate

from infer_bench.check.analysis import compare_outputs
from infer_bench.check.int8 import REPAIR_FORMATS, calibration_loader, float_source, requantize
from infer_bench.check.testimages import TestImages
from infer_bench.errors import InferBenchError
from infer_bench.fsutil import write_json_atomic
from infer_bench.inputs import input_spec_for
from infer_bench.manifest import load_manifest
from infer_bench.quant.onnx_layers import onnx_layer_scopes
from infer_bench.quant.openvino_layers import openvino_layer_scopes
from infer_bench.quant.tflite_layers import float_tflite, tflite_layer_scopes
from infer_bench.runtimes import LoadOptions, get_runtime, runtimes_for_format

BATCH = 50
CONV_TYPES = ("Conv2D", "DepthwiseConv2D", "SeparableConv2D", "Conv2DTranspose", "BatchNormalization")


def layer_scopes(fmt: str, source: Path, keras_model) -> dict[str, str]:
    """{Keras layer: its scope in the float source}, for the layers the format can keep in float."""
    if fmt == "onnx":
        return onnx_layer_scopes(source, keras_model)
    if fmt == "openvino":
        return openvino_layer_scopes(source, keras_model)
    return tflite_layer_scopes(float_tflite(source), keras_model)


def trials(scopes: dict[str, str], keras_model) -> list[tuple[str, tuple[str, ...]]]:
    """(label, Keras layers kept in float) of every re-quantization to run, as exported first.

    Layers with weights only, as the repair loop keeps in float (pooling or reshaping has nothing
    of its own to quantize)."""
    kind = {layer.name: type(layer).__name__ for layer in keras_model.layers if layer.weights}
    weighted = [name for name in scopes if name in kind]
    conv = tuple(name for name in weighted if kind[name] in CONV_TYPES)
    dense = tuple(name for name in weighted if kind[name] == "Dense")
    out = [("as exported", ())] + [(f"{name} in float", (name,)) for name in weighted]
    if conv:
        out.append((f"all {len(conv)} conv/BatchNorm layers in float", conv))
    if dense:
        out.append((f"all {len(dense)} Dense layers in float", dense))
    return out


def run_outputs(fmt: str, path: Path, images: TestImages) -> np.ndarray:
    """The artifact's outputs on every test image, in the runtime `check` uses for the format (its first)."""
    session = get_runtime(runtimes_for_format(fmt)[0]).load(path, LoadOptions(device="cpu"))
    try:
        return images.run(session, BATCH)
    finally:
        session.close()


def ablate(exported: Path, model: str, formats, limit: int | None, log=print) -> list[dict]:
    """One row per (format, trial); see the module docstring."""
    import keras

    manifest = load_manifest(exported)
    if model not in manifest.models:
        raise InferBenchError(f"{exported} has no model {model!r}.", f"use one of: {', '.join(manifest.models)}.")
    keras_entry = manifest.artifacts[(model, "keras", "fp32")]
    keras_model = keras.saving.load_model(exported / keras_entry.path, compile=False)
    info = manifest.models[model]
    images = TestImages(input_spec_for(info, keras_entry.input_shape, model), limit=limit)
    binary = int(np.prod(keras_model.output_shape[1:])) == 1
    reference = np.concatenate([keras_model.predict(x, verbose=0) for x in images.batches(BATCH)])
    calibration = calibration_loader(manifest, model, None)()
    rows = []
    for fmt in formats:
        if (model, fmt, "static_int8") not in manifest.artifacts:
            log(f"{model}: no {fmt}/static_int8 artifact; skipped")
            continue
        source = float_source(manifest, model, fmt)
        scopes = layer_scopes(fmt, source, keras_model)
        for label, layers in trials(scopes, keras_model):
            t0 = time.perf_counter()
            with tempfile.TemporaryDirectory() as work:
                path = Path(work) / ("q" if fmt == "openvino" else f"q.{fmt}")
                requantize(fmt, source, path, calibration, tuple(scopes[name] for name in layers))
                c = compare_outputs(reference, run_outputs(fmt, path, images), binary)
            rows.append({"format": fmt, "trial": label, "float_layers": list(layers), "rows": c.rows,
                         "top1_agreement": c.top1_agreement, "max_abs_diff": c.max_abs_diff,
                         "flip_margin": c.flip_margin, "boundary_share": c.boundary_share})
            log(f"{fmt:8s} {label:45s} agreement {c.top1_agreement:.2%}  max abs diff {c.max_abs_diff:.3f} "
                f"({time.perf_counter() - t0:.0f} s)")
    return rows


def print_table(rows: list[dict]) -> None:
    table = [(r["format"], r["trial"], f"{r['top1_agreement']:.2%}", f"{r['max_abs_diff']:.3f}",
              "-" if r["flip_margin"] is None else f"{r['flip_margin']:.3f}",
              "-" if r["boundary_share"] is None else f"{r['boundary_share']:.1%}") for r in rows]
    print(tabulate(table, headers=["format", "kept in float", "agreement", "max abs diff",
                                   "largest Keras lead among flips", "rows that close"], tablefmt="github"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exported", type=Path, required=True, help="an export folder with manifest.json")
    parser.add_argument("--model", required=True, help="a model of that folder")
    parser.add_argument("--formats", default="onnx,tflite,openvino", help="formats to ablate (default: all three)")
    parser.add_argument("--limit", type=int, default=None, help="first N test rows only (default: all)")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows to this JSON file")
    args = parser.parse_args(argv)
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    unknown = [f for f in formats if f not in REPAIR_FORMATS]
    try:
        if unknown:
            raise InferBenchError(f"Unknown format(s): {', '.join(unknown)}.", f"use {', '.join(REPAIR_FORMATS)}.")
        if args.json is not None and args.json.exists():
            raise InferBenchError(f"{args.json} already exists.", "name a new file; nothing is overwritten.")
        rows = ablate(args.exported, args.model, formats, args.limit)
    except InferBenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print_table(rows)
    if args.json is not None:
        write_json_atomic(args.json, {"exported": str(args.exported), "model": args.model, "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
