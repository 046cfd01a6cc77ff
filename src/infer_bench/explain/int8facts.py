"""The facts behind "why int8 is slower (or faster) here", gathered per int8 variant of one model.

For each int8 artifact ``explain`` sees (``WHY_VARIANTS``: ONNX dynamic and
static int8 in ONNX Runtime, TFLite dynamic and static int8 in LiteRT, the
OpenVINO int8 IR in OpenVINO) this reads what runs (``int8graph``), profiles
the ONNX ones per node and layer (``profile.profile_onnx_layers``, the same
run as the fp32 profile), takes the CPU's int8 instruction set
(``isa.isa_name``) and this machine's measured peaks, and hands plain
numbers to ``int8why.explain_int8``. A variant that cannot be read here (a
runtime not installed, an artifact it refuses) is recorded as skipped, with
the reason, and the others go on.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from ..environment import cpu_info
from ..errors import InferBenchError
from .analysis import variant_label
from .int8graph import onnx_census, openvino_census, profile_shares, tflite_census, tflite_mac_shares
from .int8inputs import class_shares, isa_facts, layer_ratios
from .int8why import Int8Why, VariantFacts, explain_int8
from .isa import INT8_FAST_FLAGS, isa_name
from .profile import profile_onnx_layers
from .trace import LayerProfile

# (format, quantization, runtime) of every int8 variant explained.
WHY_VARIANTS = (("onnx", "dynamic_int8", "onnxruntime"), ("onnx", "static_int8", "onnxruntime"),
                ("tflite", "dynamic_int8", "litert"), ("tflite", "static_int8", "litert"),
                ("openvino", "static_int8", "openvino"))
# The fp32 artifact each runtime's int8 variants are compared with: the same format where it has one
# (OpenVINO's int8 IR is made from the fp32 ONNX file, which OpenVINO runs as its fp32).
FP32_OF = {"onnxruntime": ("onnx", "fp32"), "litert": ("tflite", "fp32"), "openvino": ("onnx", "fp32")}
WHY_ARTIFACTS = frozenset((fmt, q) for fmt, q, _ in WHY_VARIANTS) | frozenset(FP32_OF.values())
# Per profile phase of an int8 ONNX file: its shares need far fewer runs than the fp32 profile's
# per-layer times (profile.MIN_RUNS still holds), and `run` pays for every second.
INT8_PROFILE_MAX_SECONDS = 1.0


def _layer_macs(cost_layers: list[dict]) -> dict[str, int]:
    # The mapper names a nested model's layers plainly ("conv"), the cost model as "backbone/conv".
    return {name: int(layer["macs"]) for layer in cost_layers
            for name in (layer["name"], layer["name"].rsplit("/", 1)[-1])}


def _compute_only(shares: dict) -> dict:
    # Shares of MACs or compute nodes say nothing of conversions' or other ops' time: left out, not zero.
    return {c: v for c, v in shares.items() if c in ("integer", "float")}


def graph_facts(fmt: str, path: Path, keras_model, cost_layers: list[dict], images, fp32_profile: LayerProfile,
                threads: int | None, max_seconds: float) -> dict:
    """The census, shares and layer ratios of one int8 artifact (``VariantFacts`` keyword arguments)."""
    if fmt == "onnx":
        profile = profile_onnx_layers(path, keras_model, images, threads=threads, max_seconds=max_seconds)
        shares, generic = profile_shares(profile.nodes)
        return {"census": onnx_census(path, threads), "shares": shares, "share_source": "time",
                "generic_share": generic,
                "layer_ratios": layer_ratios([t.to_dict() for t in fp32_profile.layers],
                                             [t.to_dict() for t in profile.layers]),
                "kernel_us": (fp32_profile.node_total_p50_us, profile.node_total_p50_us),
                "kernels": ()}
    if fmt == "tflite":
        census, ops = tflite_census(path)
        shares = tflite_mac_shares(ops, keras_model, _layer_macs(cost_layers))
        return {"census": census, "shares": _compute_only(shares), "share_source": "MACs", "kernels": ()}
    if fmt == "openvino":
        census, kernels = openvino_census(path, threads)
        counts = ([("integer", n) for n in census.integer.values()]
                  + [("float", n) for n in census.float_compute.values()])
        return {"census": census, "shares": _compute_only(class_shares(counts)), "share_source": "compute nodes",
                "kernels": kernels}
    raise InferBenchError(f"No int8 reasons for format {fmt!r}.", "use onnx, tflite or openvino.")


def variant_why(fmt: str, quantization: str, runtime: str, path: Path, int8_ms: float | None, fp32_ms: float | None,
                keras_model, cost_layers: list[dict], images, fp32_profile: LayerProfile, machine: dict,
                threads: int | None, max_seconds: float, flags: dict | None) -> Int8Why:
    """The reason codes and sentence of one int8 variant (see the module docstring); ``flags``: the CPU's."""
    facts = graph_facts(fmt, path, keras_model, cost_layers, images, fp32_profile, threads, max_seconds)
    kernels = facts.pop("kernels")
    isa = isa_facts(runtime, isa_name("int8", flags), any(bool(flags and flags.get(f)) for f in INT8_FAST_FLAGS),
                    machine.get("peak_gops_int8"), machine.get("peak_gflops_fp32"), kernels)
    return explain_int8(VariantFacts(runtime=runtime, format=fmt, quantization=quantization, int8_ms=int8_ms,
                                     fp32_ms=fp32_ms, isa=isa, **facts))


def model_int8_why(paths: dict, p50: Callable, keras_model, cost_layers: list[dict], images,
                   fp32_profile: LayerProfile, machine: dict, threads: int | None, max_seconds: float,
                   log: Callable[[str], None]) -> dict[str, dict]:
    """``int8_why`` of one model: {variant label: ``Int8Why.to_dict()``, or ``{"skipped": reason}``}.

    ``paths``: (format, quantization) -> verified artifact path; ``p50(runtime,
    format, quantization)`` -> (p50 ms or None, where it came from), as the runner looks them up.
    """
    out, start = {}, time.perf_counter()
    flags = cpu_info()["flags"]  # once per model, not per variant
    for fmt, quantization, runtime in WHY_VARIANTS:
        path = paths.get((fmt, quantization))
        if path is None:
            continue
        label = variant_label(runtime, fmt, quantization)
        try:
            int8_ms, _ = p50(runtime, fmt, quantization)
            fp32_ms, _ = p50(runtime, *FP32_OF[runtime]) if FP32_OF[runtime] in paths else (None, None)
            why = variant_why(fmt, quantization, runtime, path, int8_ms, fp32_ms, keras_model, cost_layers, images,
                              fp32_profile, machine, threads, max_seconds, flags)
        except InferBenchError as exc:  # a runtime not installed here, an artifact it refuses: say so, go on
            log(f"  int8 reasons of {label}: skipped ({exc})")
            out[label] = {"skipped": str(exc)}
            continue
        log(f"  {why.sentence}")
        out[label] = why.to_dict()
    log(f"  ({len(out)} int8 variant(s) explained in {time.perf_counter() - start:.1f} s, latencies included)")
    return out
