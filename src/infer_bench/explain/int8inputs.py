"""The inputs of ``int8why`` built from plain numbers: ISA facts, per-layer ratios, shares per op class.

Pure, like ``int8why``: profile rows, node counts and CPU facts in, the
dicts ``VariantFacts`` takes out.
"""

from __future__ import annotations

from ..errors import InferBenchError
from .int8why import OP_CLASSES

TOP_LAYERS = 5  # layers kept in ``layer_ratios``
# How each runtime's int8 kernels reach the CPU's int8 instructions (their documented dispatch).
RUNTIME_ISA_USE = {
    "onnxruntime": "ONNX Runtime's MLAS picks VNNI or AMX int8 kernels at run time when the CPU has them",
    "litert": "XNNPACK picks VNNI int8 kernels at run time when the CPU has them",
    "openvino": "oneDNN picks VNNI or AMX int8 kernels when the CPU has them (the kernels it ran are read back)",
}


def isa_facts(runtime: str, int8_isa: str, fast_int8: bool, peak_int8: float | None, peak_fp32: float | None,
              int8_kernels=()) -> dict:
    """The ``isa`` facts: the int8 ISA name (``isa.isa_name("int8", flags)``), whether it has VNNI/AMX,
    this machine's measured int8 / fp32 peak ratio, and the int8 kernels the runtime reports it ran."""
    ratio = None
    if peak_int8 and peak_fp32 and peak_int8 > 0 and peak_fp32 > 0:
        ratio = peak_int8 / peak_fp32
    return {"int8_isa": int8_isa, "vnni_or_amx": bool(fast_int8), "runtime_use": RUNTIME_ISA_USE.get(runtime, ""),
            "int8_peak_x_fp32": ratio, "int8_kernels_ran": sorted(set(int8_kernels))}


def layer_ratios(fp32_layers, int8_layers, top: int = TOP_LAYERS) -> list[dict]:
    """Per Keras layer in both profiles: fp32 and int8 mean µs and int8 / fp32, the largest change first.

    ``*_layers``: profile rows with ``layer`` and ``mean_us``; rows of no
    layer ("other (<op>)") are left out. Ranked by the time the layer gained
    (or lost) in int8, largest absolute change first; ``top`` rows kept.
    """
    fp32 = {r["layer"]: float(r["mean_us"]) for r in fp32_layers if not str(r["layer"]).startswith("other (")}
    rows = []
    for r in int8_layers:
        name = r["layer"]
        if name in fp32 and fp32[name] > 0:
            rows.append({"layer": name, "fp32_us": fp32[name], "int8_us": float(r["mean_us"]),
                         "ratio": float(r["mean_us"]) / fp32[name]})
    rows.sort(key=lambda row: (-abs(row["int8_us"] - row["fp32_us"]), row["layer"]))
    return rows[:top]


def class_shares(items) -> dict[str, float]:
    """Op class -> share of the total, from (class, amount) pairs (time in µs, MACs or node counts)."""
    items = [(c, float(a)) for c, a in items]
    total = sum(a for _, a in items)
    if total <= 0:
        return {}
    out = {c: 0.0 for c in OP_CLASSES}
    for c, a in items:
        if c not in out:
            raise InferBenchError(f"Unknown op class {c!r}.", f"use {', '.join(OP_CLASSES)}.")
        out[c] += a / total
    return out
