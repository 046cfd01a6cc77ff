"""Why each model costs what it costs here: framework overhead, the roofline, the layers, and the pairs.

``run_explain`` puts four measured things side by side, per model, at batch 1:

* **Overhead.** The same fp32 model through ``keras_predict`` (the report's
  way), ``keras_call``, ``tf_function``, ``onnxruntime`` and ``litert``
  (p50 per row from the latest bench results when they hold the case,
  else measured now, briefly). The model's compute is estimated as ONNX
  Runtime's summed kernel time (profiled now), or the fastest whole call
  when that is lower (the profiler's per-node cost inflates the kernel sum
  of a model whose nodes take microseconds). Everything a runtime spends
  above that per call is its framework overhead.
* **The roofline.** This machine's ceilings (``ceilings.measure_ceilings``)
  and, per precision, the floor one call cannot beat (fp32, and int8 with
  the activation precision of the int8 variant measured), against the best
  measured fp32 ONNX Runtime time and the best int8 variant (any runtime).
* **The layers.** ONNX Runtime's per-node profile mapped onto Keras layers
  (``profile.profile_onnx_layers``), next to each layer's FLOPs.
* **The pairs.** For each pair of models: FLOP and weight-byte ratios
  against the measured ratios in ONNX Runtime and through model.predict, in
  plain words.

Nothing is hard-coded except the report's own figures (``REPORT_FIGURES``),
which are labelled as the report's wherever they appear.
"""

from __future__ import annotations

import gc
import itertools
import json
import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Callable

from .errors import InferBenchError

SCHEMA_VERSION = 1

# The fp32 runtimes of the overhead decomposition: runtime -> (artifact format, quantization).
LATENCY_RUNTIMES = {
    "keras_predict": ("keras", "fp32"),
    "keras_call": ("keras", "fp32"),
    "tf_function": ("keras", "fp32"),
    "onnxruntime": ("onnx", "fp32"),
    "litert": ("tflite", "fp32"),
}
REFERENCE_RUNTIME = "keras_predict"  # the report's way
# Int8 variants that can be the "best int8": (format, quantization, runtime).
INT8_VARIANTS = (
    ("onnx", "dynamic_int8", "onnxruntime"),
    ("onnx", "static_int8", "onnxruntime"),
    ("tflite", "dynamic_int8", "litert"),
    ("tflite", "static_int8", "litert"),
)
# Activations stay float in dynamically quantized models, are int8 in static ones.
INT8_ACTIVATIONS = {"dynamic_int8": "fp32", "static_int8": "int8"}

# Quick measurements when the bench results do not hold a case (one place for these numbers).
QUICK_MIN_TIME_S = 0.3
QUICK_MIN_CALLS = 20
QUICK_WARMUP_CALLS = 3
PROFILE_RUNS = 200
PROFILE_MAX_SECONDS = 3.0  # per profile phase; the big AlexNet gets fewer than PROFILE_RUNS runs
TOP_LAYERS = 6  # layers per model in the printed table


@dataclass(frozen=True)
class ReportFigure:
    """A latency the report quotes (not measured here)."""

    runtime: str
    quoted: str  # the report's words, e.g. "<5 ms per row"
    relation: str  # "<" or ">"
    ms: float

    def __post_init__(self):
        if self.relation not in ("<", ">"):
            raise InferBenchError(f"ReportFigure: relation must be '<' or '>', got {self.relation!r}.")

    def holds_for(self, measured_ms: float) -> bool:
        return measured_ms < self.ms if self.relation == "<" else measured_ms > self.ms


# The report's figures, both through model.predict. Quoted, not measured.
REPORT_FIGURES = {
    "simple_cnn": ReportFigure("keras_predict", "<5 ms per row", "<", 5.0),
    "alexnet_catsdogs": ReportFigure("keras_predict", ">20 ms per row", ">", 20.0),
}


# --- numbers into words ------------------------------------------------------------------


def _x(ratio: float) -> str:
    """A ratio as "3.2x" (two decimals near 1, so 1.02x does not print as 1.0x; none from 100x up)."""
    if ratio >= 100:
        return f"{ratio:,.0f}x"
    return f"{ratio:.2f}x" if ratio < 1.1 else f"{ratio:.1f}x"


def _ms(value: float | None) -> str:
    if value is None:
        return "n/a"
    if value >= 10:
        return f"{value:.1f} ms"
    if value >= 1:
        return f"{value:.2f} ms"
    return f"{value:.3f} ms"


def _pct(share: float | None) -> str:
    if share is None:
        return "n/a"
    return f"{100 * share:.1f}%" if share < 0.1 else f"{100 * share:.0f}%"


def _slower(ratio: float) -> str:
    """How many times slower (ratio > 1) or faster (ratio < 1) ``b`` is than ``a`` for ratio = b / a."""
    if ratio >= 1:
        return f"{_x(ratio)} slower"
    return f"{_x(1 / ratio)} faster"


def _positive(name: str, value) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise InferBenchError(f"{name} must be a finite number > 0 or None, got {value!r}.")
    return float(value)


# --- overhead ---------------------------------------------------------------------------------


def overhead_decomposition(latency_ms: dict[str, float], kernel_ms: float | None) -> dict:
    """Split each runtime's batch-1 time into the model's compute and that runtime's overhead.

    ``latency_ms``: p50 ms per call per runtime. ``kernel_ms``: ONNX
    Runtime's summed kernel time per call (median), or None. Compute is
    ``kernel_ms``, or the fastest runtime's time when that is lower (a whole
    call cannot take less than the model's own arithmetic); overhead is each
    runtime's time minus compute.
    """
    latency = {rt: _positive(f"latency_ms[{rt!r}]", ms) for rt, ms in latency_ms.items() if ms is not None}
    if not latency:
        raise InferBenchError("overhead_decomposition needs at least one measured runtime.")
    kernel_ms = _positive("kernel_ms", kernel_ms)
    fastest = min(latency, key=latency.get)
    if kernel_ms is not None and kernel_ms <= latency[fastest]:
        compute_ms, source = kernel_ms, "onnxruntime kernel sum"
    else:
        compute_ms, source = latency[fastest], f"fastest runtime ({fastest})"
    per_runtime = {
        rt: {
            "p50_ms": ms,
            "overhead_ms": ms - compute_ms,
            "overhead_share": (ms - compute_ms) / ms,
            "x_compute": ms / compute_ms,
        }
        for rt, ms in sorted(latency.items(), key=lambda kv: kv[1])
    }
    return {
        "compute_ms": compute_ms,
        "compute_source": source,
        "kernel_ms": kernel_ms,
        "fastest_runtime": fastest,
        "fastest_ms": latency[fastest],
        "per_runtime": per_runtime,
    }


# --- the roofline -----------------------------------------------------------------------------


def roofline_entry(cost, ceilings, precision: str, measured_ms: float | None, measured_by: str | None,
                   activation_precision: str = "fp32") -> dict:
    """The floor of one call at ``precision`` and the measured time's share of it (floor / measured)."""
    from .ceilings import bytes_moved_estimate, roofline_bound, roofline_times_ms, share_of_floor

    moved = bytes_moved_estimate(cost, precision, activation_precision=activation_precision)
    compute_ms, memory_ms = roofline_times_ms(cost.flops, moved, ceilings, precision)
    floor_ms = max(compute_ms, memory_ms)
    return {
        "precision": precision,
        "activation_precision": activation_precision,
        "flops": cost.flops,
        "bytes_moved": moved,
        "compute_ms": compute_ms,
        "memory_ms": memory_ms,
        "floor_ms": floor_ms,
        "bound": roofline_bound(cost.flops, moved, ceilings, precision),
        "measured_ms": measured_ms,
        "measured_by": measured_by,
        "share_of_floor": None if measured_ms is None else share_of_floor(measured_ms, floor_ms),
    }


# --- pairs --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelFigures:
    """What a pairwise comparison needs of one model (all at batch 1, per call)."""

    name: str
    flops: int
    weight_bytes: int  # fp32
    ort_ms: float | None  # ONNX Runtime fp32 p50
    predict_ms: float | None  # model.predict p50
    ort_floor_share: float | None = None  # fp32 floor / ort_ms
    predict_overhead_ms: float | None = None  # predict_ms - compute

    def __post_init__(self):
        for name in ("flops", "weight_bytes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise InferBenchError(f"ModelFigures {self.name!r}: {name} must be an int > 0, got {value!r}.")
        for name in ("ort_ms", "predict_ms"):
            _positive(f"ModelFigures {self.name!r}: {name}", getattr(self, name))


def compare_pair(a: ModelFigures, b: ModelFigures) -> dict:
    """Ratios of ``b`` to ``a`` (cost and measured) and a paragraph that says what they mean."""
    flop_ratio = b.flops / a.flops
    wb_ratio = b.weight_bytes / a.weight_bytes
    ort_ratio = b.ort_ms / a.ort_ms if a.ort_ms and b.ort_ms else None
    predict_ratio = b.predict_ms / a.predict_ms if a.predict_ms and b.predict_ms else None

    text = f"{b.name} does {_x(flop_ratio)} the FLOPs and {_x(wb_ratio)} the weight bytes of {a.name}."
    if ort_ratio is None:
        text += " ONNX Runtime was not measured for both, so there is no measured ratio."
    else:
        text += (f" Measured at batch 1 in ONNX Runtime it is {_slower(ort_ratio)} "
                 f"({_ms(b.ort_ms)} vs {_ms(a.ort_ms)})")
        if a.ort_floor_share is not None and b.ort_floor_share is not None:
            text += (f", running at {_pct(b.ort_floor_share)} of this machine's fp32 roofline "
                     f"({a.name}: {_pct(a.ort_floor_share)})")
        text += "."
    if predict_ratio is None:
        text += " model.predict was not measured for both."
    else:
        measured = f"({_ms(b.predict_ms)} vs {_ms(a.predict_ms)})"
        known = a.predict_overhead_ms is not None and b.predict_overhead_ms is not None
        each = f"{a.name}: {_ms(a.predict_overhead_ms)}, {b.name}: {_ms(b.predict_overhead_ms)}"
        flipped = ort_ratio is not None and (predict_ratio - 1) * (ort_ratio - 1) < 0
        narrower = ort_ratio is not None and abs(math.log(predict_ratio)) < abs(math.log(ort_ratio))
        if flipped:
            text += f" Through model.predict it is even {_slower(predict_ratio)} {measured}"
            if known:
                text += (f": framework overhead ({each} per call) dwarfs the difference in compute, so the order "
                         "there is set by the overhead, not by the model")
        elif narrower and predict_ratio >= 1:
            text += f" Through model.predict the gap is only {_x(predict_ratio)} {measured}"
            if known:
                text += (f" because at least {_ms(min(a.predict_overhead_ms, b.predict_overhead_ms))} of every "
                         f"call is framework overhead ({each})")
        else:
            text += f" Through model.predict it is {_slower(predict_ratio)} {measured}"
            if known:
                text += f"; framework overhead per call: {each}"
        text += "."
    return {
        "a": a.name,
        "b": b.name,
        "flop_ratio": flop_ratio,
        "weight_bytes_ratio": wb_ratio,
        "ort_ratio": ort_ratio,
        "predict_ratio": predict_ratio,
        "text": text,
    }


# --- bench results ------------------------------------------------------------------------------


def _usable_bench(results_dir: Path, threads: int, log) -> tuple[object | None, str | None]:
    """(ResultsFile, path) of the latest bench results, or (None, None) when absent or from another CPU."""
    from .environment import capture_environment
    from .results import latest_results, load_results

    path = latest_results(results_dir)
    if path is None:
        log(f"No bench results in {results_dir}/: measuring batch-1 latencies now "
            f"(at least {QUICK_MIN_TIME_S:g} s and {QUICK_MIN_CALLS} calls each).")
        return None, None
    results = load_results(path)
    here = capture_environment(threads).get("cpu_model")
    there = results.environment.get("cpu_model")
    if here and there and here != there:
        log(f"{path} was measured on another CPU ({there}); measuring batch-1 latencies now.")
        return None, None
    log(f"Using batch-1 latencies from {path} where it has them (threads {threads}).")
    return results, str(path)


def _bench_p50(bench, model: str, fmt: str, quantization: str, runtime: str, threads: int,
               expected_bytes: int | None) -> float | None:
    """p50 per row at batch 1 on CPU from the bench results, if they hold this exact case."""
    if bench is None:
        return None
    found = [
        r.per_row_ms["p50"] for r in bench.results
        if not r.skipped and r.model == model and r.format == fmt and r.quantization == quantization
        and r.runtime == runtime and r.device == "cpu" and r.batch_size == 1 and r.threads == threads
        and (r.bytes is None or expected_bytes is None or r.bytes == expected_bytes)
    ]
    return min(found) if found else None


def _bench_by_batch(bench, model: str, threads: int, expected_bytes: int | None) -> dict[str, float]:
    """keras_predict p50 per row by batch size from the bench results ({} without them)."""
    if bench is None:
        return {}
    out = {}
    for r in bench.results:
        if (not r.skipped and r.model == model and r.runtime == REFERENCE_RUNTIME and r.format == "keras"
                and r.device == "cpu" and r.threads == threads
                and (r.bytes is None or expected_bytes is None or r.bytes == expected_bytes)):
            out[str(r.batch_size)] = min(out.get(str(r.batch_size), math.inf), r.per_row_ms["p50"])
    return dict(sorted(out.items(), key=lambda kv: int(kv[0])))


def _measure_p50(runtime: str, path: Path, rotation, threads: int | None) -> float:
    """p50 ms per call at batch 1, measured now (a short run: see QUICK_MIN_TIME_S and QUICK_MIN_CALLS)."""
    from .measure import measure_session
    from .runtimes import LoadOptions, get_runtime

    session = get_runtime(runtime).load(path, LoadOptions(device="cpu", threads=threads))
    try:
        m = measure_session(session.run, rotation, 1, min_time_s=QUICK_MIN_TIME_S,
                            min_calls=QUICK_MIN_CALLS, warmup_calls=QUICK_WARMUP_CALLS)
    finally:
        session.close()
    return m.stats.per_row_ms.p50


# --- one model -----------------------------------------------------------------------------------


def _explain_model(name: str, manifest, bench, bench_path, ceilings, threads, n_threads, inputs_cache, log) -> dict:
    from .bench import DATASET_BY_SHAPE, input_rotation
    from .costmodel import model_cost
    from .manifest import verify_entry
    from .profile import profile_onnx_layers
    from .runtimes.devices import prepare_tensorflow
    from .runtimes.keras_predict import load_keras_model

    entries = {(e.format, e.quantization): e for e in manifest.entries(models=[name])}
    paths = {key: verify_entry(manifest, e) for key, e in entries.items()
             if key in set(LATENCY_RUNTIMES.values()) | {(f, q) for f, q, _ in INT8_VARIANTS}}
    tf, tf_device, _ = prepare_tensorflow("cpu", threads)
    keras_model = load_keras_model(paths[("keras", "fp32")], "explain", tf, tf_device)
    cost = model_cost(keras_model, 1)
    info = manifest.models.get(name, {})
    input_shape = entries[("keras", "fp32")].input_shape
    dataset = info.get("dataset") or DATASET_BY_SHAPE.get(tuple(input_shape[1:]))
    if dataset is None:
        raise InferBenchError(f"{manifest.path} names no dataset for {name!r}, and its input shape "
                              f"{tuple(input_shape)} matches none of the shipped ones.",
                              "re-export the model with `infer-bench train-export`.")
    rotation = input_rotation(dataset, None, inputs_cache, input_shape)

    log(f"{name}: profiling ONNX Runtime per layer ...")
    profile = profile_onnx_layers(paths[("onnx", "fp32")], keras_model, rotation.images, runs=PROFILE_RUNS,
                                  threads=threads, max_seconds=PROFILE_MAX_SECONDS)
    del keras_model
    gc.collect()

    def p50(runtime, fmt, quantization):
        entry = entries.get((fmt, quantization))
        if entry is None:
            return None, f"no {fmt}/{quantization} artifact"
        found = _bench_p50(bench, name, fmt, quantization, runtime, n_threads, entry.bytes)
        if found is not None:
            return found, f"bench results {bench_path}"
        if runtime == "onnxruntime" and (fmt, quantization) == ("onnx", "fp32"):
            return profile.wall_p50_us / 1e3, "measured now (unprofiled calls of the profile run)"
        return _measure_p50(runtime, paths[(fmt, quantization)], rotation, threads), "measured now"

    latency, sources = {}, {}
    for runtime, (fmt, quantization) in LATENCY_RUNTIMES.items():
        ms, source = p50(runtime, fmt, quantization)
        sources[runtime] = source
        if ms is not None:
            latency[runtime] = ms
    int8, int8_sources = {}, {}
    for fmt, quantization, runtime in INT8_VARIANTS:
        ms, source = p50(runtime, fmt, quantization)
        if ms is not None:
            int8[f"{runtime} {fmt}/{quantization}"] = ms
            int8_sources[f"{runtime} {fmt}/{quantization}"] = source
    log(f"{name}: batch-1 p50 " + ", ".join(f"{rt} {_ms(ms)}" for rt, ms in latency.items()))

    # Roofline: best fp32 ONNX Runtime time (bench or the profile's unprofiled calls), best int8 variant.
    ort_candidates = [ms for ms in (latency.get("onnxruntime"), profile.wall_p50_us / 1e3) if ms is not None]
    ort_best = min(ort_candidates)
    roofline = {"fp32": roofline_entry(cost, ceilings, "fp32", ort_best, "onnxruntime onnx/fp32")}
    if int8:
        best = min(int8, key=int8.get)
        quantization = best.rsplit("/", 1)[1]
        roofline["int8"] = roofline_entry(cost, ceilings, "int8", int8[best], best, INT8_ACTIVATIONS[quantization])
    else:
        roofline["int8"] = roofline_entry(cost, ceilings, "int8", None, None, "int8")

    overhead = overhead_decomposition(latency, profile.node_total_p50_us / 1e3)
    figure = REPORT_FIGURES.get(name)
    here = latency.get(figure.runtime if figure else REFERENCE_RUNTIME)
    report = {
        "quoted": figure.quoted if figure else None,
        "runtime": figure.runtime if figure else REFERENCE_RUNTIME,
        "this_machine_batch1_ms": here,
        "this_machine_by_batch_ms": _bench_by_batch(bench, name, n_threads, entries[("keras", "fp32")].bytes),
        "holds_here": None if (figure is None or here is None) else figure.holds_for(here),
    }
    costs = cost.to_dict()
    return {
        "dataset": dataset,
        "quick": info.get("quick"),
        "flops": costs["flops"],
        "macs": costs["macs"],
        "params": costs["params"],
        "weight_bytes": costs["weight_bytes"],
        "activation_bytes": costs["activation_bytes"],
        "input_bytes": costs["input_bytes"],
        "layers": costs["layers"],
        "layer_times": [t.to_dict() for t in profile.layers],
        "profile": {k: v for k, v in profile.to_dict().items() if k != "layers"},
        "latency_ms": latency,
        "latency_sources": sources,
        "int8_latency_ms": int8,
        "int8_sources": int8_sources,
        "roofline": roofline,
        "overhead": overhead,
        "report": report,
    }


# --- text -----------------------------------------------------------------------------------------


def _model_text(name: str, m: dict, threads: int) -> str:
    lat = m["latency_ms"]
    ordered = ", ".join(f"{rt} {_ms(ms)}" for rt, ms in sorted(lat.items(), key=lambda kv: kv[1]))
    lines = [f"{name}: {m['flops'] / 1e6:,.1f} MFLOP and {m['params']:,} parameters "
             f"({m['weight_bytes']['fp32'] / 1e6:.2f} MB at fp32) per row. Batch 1, p50 per call: {ordered}."]
    oh = m["overhead"]
    ref = oh["per_runtime"].get(REFERENCE_RUNTIME)
    if oh["compute_source"].startswith("onnxruntime"):
        compute = f"about {_ms(oh['compute_ms'])} (ONNX Runtime's summed kernel time)"
    else:
        compute = f"at most {_ms(oh['compute_ms'])} (the fastest whole call, {oh['fastest_runtime']})"
    if ref is not None:
        lines.append(f"The model's own arithmetic takes {compute}; model.predict spends "
                     f"{_ms(ref['overhead_ms'])} ({_pct(ref['overhead_share'])}) of each call on framework "
                     f"overhead, {_x(ref['x_compute'])} the compute.")
    else:
        lines.append(f"The model's own arithmetic takes {compute}.")
    p = m["profile"]
    if p.get("profiler_inflated"):
        lines.append(f"(Under ONNX Runtime's profiler the kernels sum to {_ms(p['node_total_p50_us'] / 1e3)}, more "
                     f"than a whole unprofiled call, {_ms(p['wall_p50_us'] / 1e3)}: the profiler's per-node "
                     "bookkeeping (and a busy machine) add time, so read the layer shares, not the sum.)")
    elif p.get("ort_overhead_us") is not None:
        oh_us = p["ort_overhead_us"]
        lines.append("ONNX Runtime's own per-call overhead (whole call minus kernels, medians) is "
                     + (f"about {oh_us:,.0f} µs." if oh_us > 0 else f"lost in the run-to-run noise ({oh_us:,.0f} µs)."))
    rep = m["report"]
    if rep["quoted"] and rep["this_machine_batch1_ms"] is not None:
        verdict = "within" if rep["holds_here"] else "outside"
        extra = ""
        if rep["this_machine_by_batch_ms"]:
            extra = " (bench, per row by batch size: " + ", ".join(
                f"{b}: {_ms(v)}" for b, v in rep["this_machine_by_batch_ms"].items()) + ")"
        text = (f"The report quotes {rep['quoted']} through model.predict; this machine: "
                f"{_ms(rep['this_machine_batch1_ms'])} per row at batch 1, {verdict} the report's figure{extra}")
        if ref is not None and ref["overhead_share"] >= 0.5:
            text += (f"; at batch 1, {_pct(ref['overhead_share'])} of it is model.predict's per-call overhead, "
                     "which a larger batch shares across its rows")
        lines.append(text + ".")
    fp32, int8 = m["roofline"]["fp32"], m["roofline"]["int8"]
    text = (f"Roofline ({threads} threads): the fp32 floor is {_ms(fp32['floor_ms'])} ({fp32['bound']}-bound); "
            f"ONNX Runtime's {_ms(fp32['measured_ms'])} reaches {_pct(fp32['share_of_floor'])} of it.")
    if int8["measured_ms"] is not None:
        text += (f" The int8 floor is {_ms(int8['floor_ms'])} ({int8['bound']}-bound); the best int8 variant, "
                 f"{int8['measured_by']} at {_ms(int8['measured_ms'])}, reaches {_pct(int8['share_of_floor'])}.")
    else:
        text += f" The int8 floor is {_ms(int8['floor_ms'])}; no int8 variant was measured."
    beyond = [r for r in (fp32, int8) if r["share_of_floor"] is not None and r["share_of_floor"] > 1]
    if beyond:
        text += (" Beating a floor means the bytes counted against memory bandwidth partly stayed in cache "
                 "between calls, so that floor does not bind here.")
    lines.append(text)
    if m["layer_times"]:
        top = m["layer_times"][0]
        lines.append(f"Most kernel time goes to {top['layer']} ({top['kind']}, {_pct(top['share'])}).")
    return " ".join(lines)


def explanation_text(d: dict) -> str:
    """The plain-English explanation of a run_explain result."""
    mc = d["machine"]
    parts = [f"This machine at {mc['threads']} thread(s), measured now: fp32 peak {mc['peak_gflops_fp32']:.1f} "
             f"GFLOP/s, int8 peak {mc['peak_gops_int8']:.1f} GOP/s, memory {mc['memory_gbps']:.1f} GB/s "
             f"(best of repeated runs; load average {mc.get('details', {}).get('load_average_1min_before', 0):.1f} "
             "before measuring)."]
    if any(m.get("quick") for m in d["models"].values()):
        parts.append("These are --quick smoke models: same graphs and costs, barely trained.")
    for name, m in d["models"].items():
        parts.append(_model_text(name, m, mc["threads"]))
    for pair in d["pairs"]:
        parts.append(pair["text"])
    return "\n\n".join(parts)


def format_explanation(d: dict, top: int = TOP_LAYERS) -> str:
    """The explanation in plain English, then each model's slowest layers as a table."""
    from tabulate import tabulate

    out = [d.get("text") or explanation_text(d)]
    for name, m in d["models"].items():
        flops = {layer["name"]: layer["flops"] for layer in m["layers"]}
        rows = []
        for t in m["layer_times"][:top]:
            f = flops.get(t["layer"])
            gflops = f / (t["mean_us"] * 1e3) if f and t["mean_us"] > 0 else None
            rows.append([t["layer"], t["kind"], "+".join(t["ops"]), f"{t['mean_us']:,.1f}",
                         "" if t.get("p50_us") is None else f"{t['p50_us']:,.1f}", _pct(t["share"]),
                         "" if not f else f"{f / 1e6:,.2f}", "" if gflops is None else f"{gflops:,.1f}"])
        p = m["profile"]
        out.append(f"{name}: slowest layers in ONNX Runtime, batch 1 ({p['runs']} profiled runs; kernels "
                   f"{p['node_total_p50_us']:,.0f} µs, whole unprofiled call {p['wall_p50_us']:,.0f} µs, medians)\n"
                   + tabulate(rows, headers=["layer", "kind", "kernels", "mean µs", "p50 µs", "share", "MFLOP",
                                             "GFLOP/s"], tablefmt="github", disable_numparse=True))
    return "\n\n".join(out)


# --- the run --------------------------------------------------------------------------------------


def _default_path(results_dir: Path, created: str) -> Path:
    stamp = datetime.fromisoformat(created).strftime("%Y%m%d-%H%M%S")
    for n in range(1, 10_000):
        path = results_dir / (f"explain-{stamp}.json" if n == 1 else f"explain-{stamp}-{n}.json")
        if not path.exists():
            return path
    raise InferBenchError(f"Too many explain-{stamp}*.json files in {results_dir}.", "clean up the folder.")


def _exists_error(path: Path) -> InferBenchError:
    return InferBenchError(f"{path} already exists; explanations are never overwritten.",
                           "choose another --json path, or remove the file first.")


def run_explain(exported: Path, results_dir: Path = Path("results"), json_path: Path | None = None,
                threads: int | None = None, log: Callable[[str], None] = print) -> dict:
    """Explain every model of ``exported`` that has a .keras and an fp32 ONNX artifact; write and return the JSON.

    Writes ``json_path`` (refused if it exists) or a new
    ``results_dir/explain-YYYYMMDD-HHMMSS.json``, atomically. About a minute
    for the three models on 2 cores when the bench results hold the latencies,
    a little more when they are measured now.
    """
    from .ceilings import measure_ceilings
    from .fsutil import write_json_atomic
    from .manifest import load_manifest
    from .models import MODELS
    from .profile import LITERT_PROFILING_NOTE
    from .runtimes.devices import configure_tensorflow

    exported, results_dir = Path(exported), Path(results_dir)
    if json_path is not None and Path(json_path).exists():
        raise _exists_error(Path(json_path))
    manifest = load_manifest(exported)
    have = {(e.model, e.format, e.quantization) for e in manifest.entries()}
    names = [m for m in list(MODELS) + sorted(set(manifest.models) - set(MODELS))
             if (m, "keras", "fp32") in have and (m, "onnx", "fp32") in have and m in manifest.models]
    if not names:
        raise InferBenchError(f"No model in {manifest.path} has both a .keras and an fp32 ONNX artifact.",
                              f"run `infer-bench train-export --out {exported}` first.")
    missing = [m for m in MODELS if m not in names]
    if missing:
        log(f"Not in {manifest.path} (or missing .keras / fp32 ONNX): {', '.join(missing)}; explaining "
            f"{', '.join(names)}.")

    n_threads = configure_tensorflow(threads)  # before anything else touches TensorFlow
    created = datetime.now().astimezone().isoformat(timespec="seconds")
    bench, bench_path = _usable_bench(results_dir, n_threads, log)
    log(f"Measuring this machine's ceilings at {n_threads} thread(s) ...")
    ceilings = measure_ceilings(threads)

    models, inputs_cache = {}, {}
    for name in names:
        models[name] = _explain_model(name, manifest, bench, bench_path, ceilings, threads, n_threads,
                                      inputs_cache, log)
        inputs_cache.clear()

    def figures(name):
        m = models[name]
        return ModelFigures(
            name=name, flops=m["flops"], weight_bytes=m["weight_bytes"]["fp32"],
            ort_ms=m["roofline"]["fp32"]["measured_ms"], predict_ms=m["latency_ms"].get(REFERENCE_RUNTIME),
            ort_floor_share=m["roofline"]["fp32"]["share_of_floor"],
            predict_overhead_ms=m["overhead"]["per_runtime"].get(REFERENCE_RUNTIME, {}).get("overhead_ms"))

    pairs = [compare_pair(figures(a), figures(b)) for a, b in itertools.combinations(names, 2)]
    result = {
        "schema_version": SCHEMA_VERSION,
        "created": created,
        "exported": str(exported),
        "threads": n_threads,
        "bench_results": bench_path,
        "machine": ceilings.to_dict(),
        "report_figures": {name: {"runtime": f.runtime, "quoted": f.quoted, "source": "the report (quoted)"}
                           for name, f in REPORT_FIGURES.items()},
        "litert_layer_times": LITERT_PROFILING_NOTE,
        "models": models,
        "pairs": pairs,
    }
    result["text"] = explanation_text(result)

    path = Path(json_path) if json_path is not None else _default_path(results_dir, created)
    if path.exists():
        raise _exists_error(path)
    json.dumps(result, allow_nan=False)  # refuse NaN/Inf before anything is written
    write_json_atomic(path, result)
    log(f"Wrote {path}")
    return result
