"""What an int8 graph computes with: its ops counted by class, as the runtime runs them.

* **ONNX** (``onnx_census``): the file's ops, and the ops of the graph ONNX
  Runtime actually runs, read back after its own optimization
  (``SessionOptions.optimized_model_filepath``, at the optimization level the
  benchmarks use): that is where QDQ pairs around a convolution become one
  ``QLinearConv``, or stay as conversions around a float ``Conv``.
* **TFLite** (``tflite_census``): the interpreter's op details and tensor
  types: a compute op whose input is int8 runs an integer kernel; one with a
  float input and int8 weights is a dynamic-range ("hybrid") kernel, which
  quantizes its input on every call; otherwise it runs in float. Each compute
  op is mapped to its Keras layer (``layermap``), so the MAC share of float
  ops can be counted where LiteRT has no profiler.
* **OpenVINO** (``openvino_census``): the compiled runtime graph's compute
  nodes by the precision their kernel computes in (``openvino_rt.runtime_nodes``).

``classify_onnx_op`` / ``classify_tflite_op`` put each op into one of
``int8why.OP_CLASSES``; ``profile_shares`` turns an ONNX Runtime profile's
nodes into time shares per class.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path

from ..errors import ArtifactError
from ..runtimes import LoadOptions, openvino_rt
from ..runtimes.devices import effective_threads
from .int8inputs import class_shares
from .int8why import GENERIC_INTEGER_OPS, OpCensus
from .layermap import NodeLayerMapper, keras_layers

# ONNX (and ONNX Runtime contrib) convolutions and matrix products on integers. The integer
# element-wise ops (QLinearAdd, QLinearSoftmax, ...) are "other": not where the MACs are.
ONNX_INTEGER_OPS = frozenset({
    "ConvInteger", "MatMulInteger", "QLinearConv", "QLinearMatMul", "QGemm", "DynamicQuantizeMatMul",
    "MatMulIntegerToFloat", "QAttention",
})
# Convolutions and matrix products in float (ONNX Runtime's fused forms included).
ONNX_FLOAT_COMPUTE = frozenset({"Conv", "FusedConv", "ConvTranspose", "MatMul", "Gemm", "FusedGemm", "FusedMatMul"})
ONNX_CONVERSIONS = frozenset({"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear"})

TFLITE_COMPUTE = frozenset({"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "BATCH_MATMUL", "TRANSPOSE_CONV"})
TFLITE_CONVERSIONS = frozenset({"QUANTIZE", "DEQUANTIZE"})
INTEGER_DTYPES = frozenset({"int8", "uint8", "int16"})


def classify_onnx_op(op: str) -> str:
    """The ``OP_CLASSES`` class of an ONNX (or ONNX Runtime) op type."""
    if op in ONNX_INTEGER_OPS:
        return "integer"
    if op in ONNX_FLOAT_COMPUTE:
        return "float"
    return "conversion" if op in ONNX_CONVERSIONS else "other"


def classify_tflite_op(op: str, input_dtype: str, weight_dtype: str | None) -> tuple[str, str]:
    """(class, op label) of a TFLite op from its first input's and its weights' element types.

    A compute op with an int8 input is an integer kernel; one with a float input
    and int8 weights is a dynamic-range kernel, labelled ``"<OP> (hybrid)"``
    (integer arithmetic, its input quantized on every call).
    """
    if op in TFLITE_CONVERSIONS:
        return "conversion", op
    if op not in TFLITE_COMPUTE:
        return "other", op
    if input_dtype in INTEGER_DTYPES:
        return "integer", op
    if weight_dtype in INTEGER_DTYPES:
        return "integer", f"{op} (hybrid)"
    return "float", op


def census_of(classified, source: str, conversions_in_file=None) -> OpCensus:
    """An ``OpCensus`` from (class, op label) pairs."""
    by = {c: Counter() for c in ("integer", "float", "conversion")}
    for cls, op in classified:
        if cls in by:
            by[cls][op] += 1
    return OpCensus(integer=dict(by["integer"]), float_compute=dict(by["float"]), conversions=dict(by["conversion"]),
                    source=source, conversions_in_file=conversions_in_file)


# --- ONNX -----------------------------------------------------------------------------------


def _onnx_ops(path: Path) -> list[str]:
    import onnx

    try:
        return [node.op_type for node in onnx.load(str(path), load_external_data=False).graph.node]
    except Exception as exc:  # onnx raises DecodeError, OSError ...
        raise ArtifactError(f"Cannot read the ONNX model {str(path)!r}: {exc}", "re-export the model.") from exc


def ort_optimized_ops(path, threads: int | None = None) -> list[str]:
    """The op types of the graph ONNX Runtime runs for ``path`` on the CPU, after its own optimization.

    The session is made as the benchmarks make it (``ORT_ENABLE_ALL``) with
    ``optimized_model_filepath`` set, so ONNX Runtime writes what it will run.
    """
    import onnxruntime as ort

    path = Path(path)
    with tempfile.TemporaryDirectory(prefix="infer-bench-ortopt-") as tmp:
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.intra_op_num_threads = effective_threads(threads)
        so.log_severity_level = 3  # its warning that a layout-optimized graph is machine-specific is the point
        so.optimized_model_filepath = str(Path(tmp) / "optimized.onnx")
        try:
            ort.InferenceSession(str(path), sess_options=so, providers=["CPUExecutionProvider"])
        except Exception as exc:  # ORT's own Fail / InvalidGraph ...
            raise ArtifactError(f"ONNX Runtime could not load {str(path)!r}: {exc}", "re-export the ONNX model.") \
                from exc
        return _onnx_ops(Path(so.optimized_model_filepath))


def onnx_census(path, threads: int | None = None) -> OpCensus:
    """The ops ONNX Runtime runs for an int8 ONNX file, by class; the file's own conversions beside them."""
    path = Path(path)
    in_file = Counter(op for op in _onnx_ops(path) if classify_onnx_op(op) == "conversion")
    ran = ort_optimized_ops(path, threads)
    return census_of(((classify_onnx_op(op), op) for op in ran), "after ONNX Runtime's graph optimization",
                     conversions_in_file=dict(in_file))


def profile_shares(nodes) -> tuple[dict[str, float], float | None]:
    """(share of kernel time per op class, share of ``ConvInteger``/``MatMulInteger``) from profile nodes.

    ``nodes``: ``LayerProfile.nodes`` rows (``op``, ``mean_us``) of an int8
    model's profile. ({}, None) when they hold no time.
    """
    rows = [(str(n["op"]), float(n["mean_us"])) for n in nodes]
    shares = class_shares((classify_onnx_op(op), us) for op, us in rows)
    if not shares:
        return {}, None
    total = sum(us for _, us in rows)
    return shares, sum(us for op, us in rows if op in GENERIC_INTEGER_OPS) / total


# --- TFLite ---------------------------------------------------------------------------------


def tflite_ops(path) -> list[dict]:
    """Each op of a .tflite file: ``op``, ``class``, ``label``, ``tensor`` (its output's name)."""
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    try:
        interpreter = Interpreter(model_path=str(path))
        tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
        ops = interpreter._get_ops_details()  # noqa: SLF001 (the op list; no public API has it)
    except Exception as exc:  # LiteRT raises ValueError / RuntimeError on a bad file
        raise ArtifactError(f"LiteRT could not read {str(path)!r}: {exc}", "re-export the TFLite model.") from exc

    def dtype(i):
        return np.dtype(tensors[i]["dtype"]).name if i >= 0 and i in tensors else None

    out = []
    for op in ops:
        inputs = list(op["inputs"])
        cls, label = classify_tflite_op(op["op_name"], dtype(inputs[0]) if inputs else None,
                                        dtype(inputs[1]) if len(inputs) > 1 else None)
        name = tensors[op["outputs"][0]]["name"] if len(op["outputs"]) else ""
        out.append({"op": op["op_name"], "class": cls, "label": label, "tensor": name.split(";", 1)[0]})
    return out


def tflite_census(path) -> tuple[OpCensus, list[dict]]:
    """The ops of a .tflite file by class, and the op rows (``tflite_ops``)."""
    ops = tflite_ops(path)
    return census_of(((o["class"], o["label"]) for o in ops), "the .tflite graph (LiteRT runs it as written)"), ops


def tflite_mac_shares(ops: list[dict], keras_model, layer_macs: dict[str, int]) -> dict[str, float]:
    """Share of the model's MACs per op class, each compute op credited with its Keras layer's MACs.

    ``layer_macs``: the cost model's MACs by layer name. Compute ops that map
    to no layer (or a layer of no MACs) count for nothing.
    """
    mapper = NodeLayerMapper([o["tensor"] for o in ops], keras_layers(keras_model), keras_model.name)
    items = []
    for o in ops:
        if o["class"] in ("integer", "float"):
            layer, _ = mapper.layer_of(o["tensor"], o["op"])
            items.append((o["class"], layer_macs.get(layer, 0)))
    return class_shares(items)


# --- OpenVINO -------------------------------------------------------------------------------


def openvino_census(path, threads: int | None = None) -> tuple[OpCensus, list[str]]:
    """The compiled runtime graph's compute nodes by the precision their kernel ran in (at batch 1), and the
    names of its int8 kernels (``openvino_rt.read_execution``: e.g. ``brgconv_avx2_I8`` names AVX2)."""
    from ..runtimes import get_runtime

    session = get_runtime("openvino").load(Path(path), LoadOptions(device="cpu", threads=threads))
    try:
        execution = dict(session.execution)
    finally:
        session.close()
    counts = execution.get("compute_nodes_by_precision") or {}
    classified = [("integer" if p == "int8" else "float", f"{p} compute nodes")
                  for p, n in counts.items() for _ in range(n)]
    kernels = [k for k in execution.get("kernels", ())
               if "_" in k and openvino_rt.element_precision(k.rsplit("_", 1)[-1]) == "int8"]
    return census_of(classified, "OpenVINO's compiled runtime graph"), kernels
