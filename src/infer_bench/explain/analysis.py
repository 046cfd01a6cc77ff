"""The explanation's arithmetic: pure functions of measured numbers, tested with hand-computed ones.

* **Overhead** (``overhead_decomposition``): each runtime's batch-1 time split
  into the model's compute (ONNX Runtime's summed kernel time, or the fastest
  whole call when that is lower) and that runtime's framework overhead.
* **The roofline** (``roofline_entry``, ``model_rooflines``): per precision,
  the floor one call cannot beat on this machine's ceilings, and the measured
  time's share of it.
* **The pairs** (``ModelFigures``, ``compare_pair``, ``compare_models``):
  FLOP and weight-byte ratios against the measured ratios, in plain words.
* **The report's figures** (``REPORT_FIGURES``, ``report_check``): quoted,
  not measured, and checked against this machine's time.
* **Bench lookups** (``bench_p50``, ``bench_by_batch``): the latencies a bench
  results file already holds for a case.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from ..catalog import INT8_QUANTIZATIONS, REFERENCE_RUNTIME, compute_precision
from ..errors import InferBenchError
from ..results.explain import ModelExplanation
from .ceilings import MachineCeilings, bytes_moved_estimate, roofline_bound, roofline_times_ms, share_of_floor
from .costmodel import ModelCost
from .words import ms, pct, slower, times

# The fp32 runtimes of the overhead decomposition: runtime -> (artifact format, quantization).
LATENCY_RUNTIMES = {
    "keras_predict": ("keras", "fp32"),
    "keras_call": ("keras", "fp32"),
    "tf_function": ("keras", "fp32"),
    "onnxruntime": ("onnx", "fp32"),
    "litert": ("tflite", "fp32"),
}
# Int8 variants that can be the "best int8": (format, quantization, runtime).
INT8_VARIANTS = tuple((fmt, q, runtime) for fmt, runtime in (("onnx", "onnxruntime"), ("tflite", "litert"))
                      for q in INT8_QUANTIZATIONS)
# Every artifact an explanation loads: (format, quantization).
MEASURED_ARTIFACTS = frozenset(LATENCY_RUNTIMES.values()) | {(fmt, q) for fmt, q, _ in INT8_VARIANTS}
# Activations stay float in dynamically quantized models, are int8 in static ones.
INT8_ACTIVATIONS = {"dynamic_int8": "fp32", "static_int8": "int8"}


def variant_label(runtime: str, fmt: str, quantization: str) -> str:
    """How an int8 variant is named in an explanation: "onnxruntime onnx/static_int8"."""
    return f"{runtime} {fmt}/{quantization}"


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
        """Whether a time measured here agrees with the report's figure."""
        return measured_ms < self.ms if self.relation == "<" else measured_ms > self.ms


# The report's figures, both through model.predict. Quoted, not measured.
REPORT_FIGURES = {
    "simple_cnn": ReportFigure("keras_predict", "<5 ms per row", "<", 5.0),
    "alexnet_catsdogs": ReportFigure("keras_predict", ">20 ms per row", ">", 20.0),
}


def quoted_figures() -> dict[str, dict]:
    """The report's figures as an explanation records them (``report_figures``), labelled as quoted."""
    return {name: {"runtime": f.runtime, "quoted": f.quoted, "source": "the report (quoted)"}
            for name, f in REPORT_FIGURES.items()}


def positive(name: str, value) -> float | None:
    """``value`` as a float when it is a finite number > 0; None stays None; anything else is refused."""
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
    latency = {rt: positive(f"latency_ms[{rt!r}]", t) for rt, t in latency_ms.items() if t is not None}
    if not latency:
        raise InferBenchError("overhead_decomposition needs at least one measured runtime.")
    kernel_ms = positive("kernel_ms", kernel_ms)
    fastest = min(latency, key=latency.get)
    if kernel_ms is not None and kernel_ms <= latency[fastest]:
        compute_ms, source = kernel_ms, "onnxruntime kernel sum"
    else:
        compute_ms, source = latency[fastest], f"fastest runtime ({fastest})"
    per_runtime = {
        rt: {
            "p50_ms": t,
            "overhead_ms": t - compute_ms,
            "overhead_share": (t - compute_ms) / t,
            "x_compute": t / compute_ms,
        }
        for rt, t in sorted(latency.items(), key=lambda kv: kv[1])
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


def roofline_entry(cost: ModelCost, ceilings: MachineCeilings, precision: str, measured_ms: float | None,
                   measured_by: str | None, activation_precision: str = "fp32") -> dict:
    """The floor of one call at ``precision`` and the measured time's share of it (floor / measured)."""
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


def model_rooflines(cost: ModelCost, ceilings: MachineCeilings, ort_ms: float, int8_ms: dict[str, float]) -> dict:
    """The fp32 entry against ONNX Runtime's best fp32 time; the int8 one against the fastest int8 variant.

    ``int8_ms``: p50 ms by ``variant_label``. Without any int8 variant the
    int8 entry holds the floor alone (int8 activations, nothing measured).
    """
    roofline = {"fp32": roofline_entry(cost, ceilings, "fp32", ort_ms, variant_label("onnxruntime", "onnx", "fp32"))}
    if int8_ms:
        best = min(int8_ms, key=int8_ms.get)
        quantization = best.rsplit("/", 1)[1]
        roofline["int8"] = roofline_entry(cost, ceilings, compute_precision(quantization), int8_ms[best], best,
                                          INT8_ACTIVATIONS[quantization])
    else:
        roofline["int8"] = roofline_entry(cost, ceilings, "int8", None, None, "int8")
    return roofline


# --- the report's figures ---------------------------------------------------------------------


def report_check(name: str, latency_ms: dict[str, float], by_batch_ms: dict[str, float]) -> dict:
    """The report's figure for ``name`` (if it quotes one) against this machine's batch-1 time."""
    figure = REPORT_FIGURES.get(name)
    runtime = figure.runtime if figure else REFERENCE_RUNTIME
    here = latency_ms.get(runtime)
    return {
        "quoted": figure.quoted if figure else None,
        "runtime": runtime,
        "this_machine_batch1_ms": here,
        "this_machine_by_batch_ms": by_batch_ms,
        "holds_here": None if (figure is None or here is None) else figure.holds_for(here),
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
            positive(f"ModelFigures {self.name!r}: {name}", getattr(self, name))

    @classmethod
    def of(cls, name: str, m: ModelExplanation) -> ModelFigures:
        """The figures of one explained model."""
        return cls(name=name, flops=m.flops, weight_bytes=m.weight_bytes["fp32"],
                   ort_ms=m.roofline["fp32"]["measured_ms"], predict_ms=m.latency_ms.get(REFERENCE_RUNTIME),
                   ort_floor_share=m.roofline["fp32"]["share_of_floor"],
                   predict_overhead_ms=m.overhead["per_runtime"].get(REFERENCE_RUNTIME, {}).get("overhead_ms"))


def _predict_words(a: ModelFigures, b: ModelFigures, predict_ratio: float, ort_ratio: float | None) -> str:
    """The sentence on model.predict: the same order as ONNX Runtime, a narrower gap, or the order flipped."""
    measured = f"({ms(b.predict_ms)} vs {ms(a.predict_ms)})"
    known = a.predict_overhead_ms is not None and b.predict_overhead_ms is not None
    each = f"{a.name}: {ms(a.predict_overhead_ms)}, {b.name}: {ms(b.predict_overhead_ms)}"
    flipped = ort_ratio is not None and (predict_ratio - 1) * (ort_ratio - 1) < 0
    narrower = ort_ratio is not None and abs(math.log(predict_ratio)) < abs(math.log(ort_ratio))
    if flipped:
        text = f" Through model.predict it is even {slower(predict_ratio)} {measured}"
        if known:
            text += (f": framework overhead ({each} per call) dwarfs the difference in compute, so the order "
                     "there is set by the overhead, not by the model")
    elif narrower and predict_ratio >= 1:
        text = f" Through model.predict the gap is only {times(predict_ratio)} {measured}"
        if known:
            text += (f" because at least {ms(min(a.predict_overhead_ms, b.predict_overhead_ms))} of every "
                     f"call is framework overhead ({each})")
    else:
        text = f" Through model.predict it is {slower(predict_ratio)} {measured}"
        if known:
            text += f"; framework overhead per call: {each}"
    return text + "."


def compare_pair(a: ModelFigures, b: ModelFigures) -> dict:
    """Ratios of ``b`` to ``a`` (cost and measured) and a paragraph that says what they mean."""
    flop_ratio = b.flops / a.flops
    wb_ratio = b.weight_bytes / a.weight_bytes
    ort_ratio = b.ort_ms / a.ort_ms if a.ort_ms and b.ort_ms else None
    predict_ratio = b.predict_ms / a.predict_ms if a.predict_ms and b.predict_ms else None

    text = f"{b.name} does {times(flop_ratio)} the FLOPs and {times(wb_ratio)} the weight bytes of {a.name}."
    if ort_ratio is None:
        text += " ONNX Runtime was not measured for both, so there is no measured ratio."
    else:
        text += (f" Measured at batch 1 in ONNX Runtime it is {slower(ort_ratio)} "
                 f"({ms(b.ort_ms)} vs {ms(a.ort_ms)})")
        if a.ort_floor_share is not None and b.ort_floor_share is not None:
            text += (f", running at {pct(b.ort_floor_share)} of this machine's fp32 roofline "
                     f"({a.name}: {pct(a.ort_floor_share)})")
        text += "."
    if predict_ratio is None:
        text += " model.predict was not measured for both."
    else:
        text += _predict_words(a, b, predict_ratio, ort_ratio)
    return {
        "a": a.name,
        "b": b.name,
        "flop_ratio": flop_ratio,
        "weight_bytes_ratio": wb_ratio,
        "ort_ratio": ort_ratio,
        "predict_ratio": predict_ratio,
        "text": text,
    }


def compare_models(models: dict[str, ModelExplanation]) -> list[dict]:
    """``compare_pair`` for every pair of explained models, in their order."""
    return [compare_pair(ModelFigures.of(a, models[a]), ModelFigures.of(b, models[b]))
            for a, b in itertools.combinations(models, 2)]


# --- bench results ------------------------------------------------------------------------------


def _same_case(r, model: str, threads: int, expected_bytes: int | None) -> bool:
    """A measured CPU result of ``model`` at ``threads`` threads, of the artifact expected (when sizes are known)."""
    return (not r.skipped and r.model == model and r.device == "cpu" and r.threads == threads
            and (r.bytes is None or expected_bytes is None or r.bytes == expected_bytes))


def bench_p50(bench, model: str, fmt: str, quantization: str, runtime: str, threads: int,
              expected_bytes: int | None) -> float | None:
    """p50 per row at batch 1 on CPU from a bench ``ResultsFile`` (or None), if it holds this exact case."""
    if bench is None:
        return None
    found = [r.per_row_ms["p50"] for r in bench.results
             if _same_case(r, model, threads, expected_bytes) and r.format == fmt
             and r.quantization == quantization and r.runtime == runtime and r.batch_size == 1]
    return min(found) if found else None


def bench_by_batch(bench, model: str, threads: int, expected_bytes: int | None) -> dict[str, float]:
    """The reference runtime's p50 per row by batch size from a bench ``ResultsFile`` ({} without one)."""
    if bench is None:
        return {}
    out = {}
    for r in bench.results:
        if _same_case(r, model, threads, expected_bytes) and r.runtime == REFERENCE_RUNTIME and r.format == "keras":
            out[str(r.batch_size)] = min(out.get(str(r.batch_size), math.inf), r.per_row_ms["p50"])
    return dict(sorted(out.items(), key=lambda kv: int(kv[0])))
