"""Why an int8 variant is slower (or faster) than fp32 here: reason codes with numbers, then one sentence.

Pure: every input is a plain number, count or flag (``int8graph`` reads the
graphs, ``int8facts`` the profiles and latencies, ``int8inputs`` shapes them),
so the tests feed hand-made ones. One ``VariantFacts`` per int8 variant goes in; an ``Int8Why`` comes out:
its reason records (each a stable ``code``, its numbers and a line of words)
and a closing sentence with the verdict and the main cause.

The codes (``REASON_CODES``; their fields are in docs/benchmarking.md): ``end_to_end``
(int8 p50 / fp32 p50, same format and runtime), ``float_ops`` (convolutions and
products left in float, and their share of the time, or of the MACs where there
is no profile), ``integer_kernels`` (by op; ``ConvInteger`` / ``MatMulInteger``
apart: ONNX Runtime's dynamic quantization turns a Conv into ``ConvInteger``,
often far slower than the float Conv on x86: onnxruntime#20052, #12854, #6732),
``unfused_qdq`` (quantize / dequantize conversions still run after the
runtime's optimization), ``isa`` (VNNI, AMX or neither, and the measured int8 /
fp32 peak ratio) and ``layer_ratios`` (per Keras layer, int8 / fp32 time).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..errors import InferBenchError
from .words import pct, slower, times

REASON_CODES = ("end_to_end", "float_ops", "integer_kernels", "unfused_qdq", "isa", "layer_ratios")
# Op classes of an int8 graph (``int8graph.classify_*``); shares are of the variant's time or MACs.
OP_CLASSES = ("integer", "float", "conversion", "other")
# ONNX Runtime's generic integer kernels: dynamic quantization's ConvInteger / MatMulInteger.
GENERIC_INTEGER_OPS = ("ConvInteger", "MatMulInteger")
# Kernels that quantize their float input on every call: ONNX Runtime's dynamic ones, TFLite's hybrid ones.
DYNAMIC_KERNELS = ("ConvInteger", "MatMulInteger", "DynamicQuantizeMatMul", "MatMulIntegerToFloat")
HYBRID_SUFFIX = " (hybrid)"  # int8graph's label of a TFLite dynamic-range kernel
SAME_BAND = 1.05  # a ratio within 1/1.05 .. 1.05 is "about as fast": run-to-run noise on a busy machine
MIN_CAUSE_SHARE = 0.15  # a share below this is not named as the main cause
SHARE_SOURCES = ("time", "MACs", "compute nodes")


def _share(name: str, value) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1 + 1e-9:
        raise InferBenchError(f"{name} must be a share in 0..1 or None, got {value!r}.",
                              "pass a fraction of the variant's time or MACs.")
    return float(min(value, 1.0))


def _counts(name: str, value) -> dict[str, int]:
    if not isinstance(value, dict) or any(isinstance(v, bool) or not isinstance(v, int) or v < 0
                                          for v in value.values()):
        raise InferBenchError(f"{name} must map op names to counts >= 0, got {value!r}.",
                              "count the graph's ops with int8graph.")
    return {str(k): v for k, v in sorted(value.items()) if v > 0}


@dataclass(frozen=True)
class OpCensus:
    """What an int8 graph computes with, as it runs (after the runtime's optimization where known).

    ``integer``/``float_compute``/``conversions``: op (or op kind) -> count of
    integer-arithmetic kernels, compute ops left in float, and quantize /
    dequantize conversions. ``conversions_in_file``: the conversions in the
    file before the runtime optimized it (None where that is not read).
    ``source`` says which graph was counted.
    """

    integer: dict[str, int]
    float_compute: dict[str, int]
    conversions: dict[str, int]
    source: str
    conversions_in_file: dict[str, int] | None = None

    def __post_init__(self):
        for name in ("integer", "float_compute", "conversions"):
            object.__setattr__(self, name, _counts(name, getattr(self, name)))
        if self.conversions_in_file is not None:
            object.__setattr__(self, "conversions_in_file", _counts("conversions_in_file", self.conversions_in_file))
        if not self.source:
            raise InferBenchError("OpCensus needs a source.", "say which graph was counted.")

    @property
    def compute_ops(self) -> int:
        """Convolutions and matrix products in all: integer kernels plus those left in float."""
        return sum(self.integer.values()) + sum(self.float_compute.values())

    def generic(self, op: str) -> int:
        """How many ``op`` kernels (``ConvInteger``, ``MatMulInteger``) the graph has."""
        return self.integer.get(op, 0)

    @property
    def dynamic(self) -> int:
        """Kernels that quantize their float input on every call (``DYNAMIC_KERNELS``, TFLite hybrid ones)."""
        return sum(n for op, n in self.integer.items() if op in DYNAMIC_KERNELS or op.endswith(HYBRID_SUFFIX))


@dataclass(frozen=True)
class VariantFacts:
    """Everything known about one int8 variant, as plain numbers.

    ``int8_ms``/``fp32_ms``: p50 per call at batch 1 of the int8 artifact and
    of the fp32 artifact of the same format, in ``runtime``. ``shares``: op
    class (``OP_CLASSES``) -> share of the variant's ``share_source``
    (``SHARE_SOURCES``: "time" from the runtime's profile, else "MACs" or
    "compute nodes"); ``generic_share``: the share of ``ConvInteger`` and
    ``MatMulInteger`` alone. ``layer_ratios``: ``layer_ratios(...)`` rows.
    ``isa``: ``isa_facts(...)``.
    """

    runtime: str
    format: str
    quantization: str
    int8_ms: float | None
    fp32_ms: float | None
    census: OpCensus | None
    isa: dict
    shares: dict[str, float] = field(default_factory=dict)
    share_source: str | None = None
    generic_share: float | None = None
    layer_ratios: tuple[dict, ...] = ()
    kernel_us: tuple[float, float] | None = None  # summed kernel µs per call in the profiles: (fp32, int8)

    def __post_init__(self):
        for name in ("int8_ms", "fp32_ms"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))
                                  or not math.isfinite(v) or v <= 0):
                raise InferBenchError(f"VariantFacts {self.label}: {name} must be a time > 0 or None, got {v!r}.",
                                      "pass the measured p50 in ms.")
        unknown = sorted(set(self.shares) - set(OP_CLASSES))
        if unknown:
            raise InferBenchError(f"VariantFacts {self.label}: unknown op classes {unknown}.",
                                  f"use {', '.join(OP_CLASSES)}.")
        object.__setattr__(self, "shares", {k: _share(f"shares[{k!r}]", v) for k, v in self.shares.items()})
        object.__setattr__(self, "generic_share", _share("generic_share", self.generic_share))
        if self.shares and self.share_source not in SHARE_SOURCES:
            raise InferBenchError(f"VariantFacts {self.label}: share_source {self.share_source!r} is not one of "
                                  f"{', '.join(SHARE_SOURCES)}.", "say what the shares are shares of.")
        object.__setattr__(self, "layer_ratios", tuple(self.layer_ratios))
        if self.kernel_us is not None and (len(self.kernel_us) != 2 or min(self.kernel_us) <= 0):
            raise InferBenchError(f"VariantFacts {self.label}: kernel_us must be (fp32 µs, int8 µs) > 0, got "
                                  f"{self.kernel_us!r}.", "pass the profiles' summed kernel times, or None.")

    @property
    def label(self) -> str:
        """ "onnx/dynamic_int8 in onnxruntime"."""
        return f"{self.format}/{self.quantization} in {self.runtime}"

    @property
    def ratio(self) -> float | None:
        """int8 p50 / fp32 p50 (None when either is unmeasured)."""
        return None if self.int8_ms is None or self.fp32_ms is None else self.int8_ms / self.fp32_ms


@dataclass(frozen=True)
class Reason:
    """One reason code, its numbers (JSON-ready) and its words."""

    code: str
    numbers: dict
    text: str

    def __post_init__(self):
        if self.code not in REASON_CODES:
            raise InferBenchError(f"Unknown reason code {self.code!r}.", f"use one of {', '.join(REASON_CODES)}.")

    def to_dict(self) -> dict:
        """JSON-ready: code, numbers, text."""
        return {"code": self.code, **self.numbers, "text": self.text}


@dataclass(frozen=True)
class Int8Why:
    """The reasons of one int8 variant and the sentence that sums them up."""

    runtime: str
    format: str
    quantization: str
    verdict: str  # "slower", "faster", "same" or "unmeasured"
    ratio: float | None
    reasons: tuple[Reason, ...]
    sentence: str

    def to_dict(self) -> dict:
        """JSON-ready (an explanation's ``int8_why`` entry)."""
        return {"runtime": self.runtime, "format": self.format, "quantization": self.quantization,
                "verdict": self.verdict, "ratio": self.ratio, "reasons": [r.to_dict() for r in self.reasons],
                "sentence": self.sentence}


# --- the reasons ------------------------------------------------------------------------------


def _of_its(share: float | None, source: str | None) -> str:
    """ "71% of its time" / "40% of its MACs" ("" when the share is unknown)."""
    if share is None:
        return ""
    return f"{pct(share)} of its {'time' if source == 'time' else source}"


def _ops_words(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {op}" for op, n in counts.items()) or "none"


def _verdict(ratio: float | None) -> str:
    if ratio is None:
        return "unmeasured"
    if ratio > SAME_BAND:
        return "slower"
    return "faster" if ratio < 1 / SAME_BAND else "same"


def reasons_of(f: VariantFacts) -> list[Reason]:
    """Every reason code the facts support, in ``REASON_CODES`` order."""
    out = []
    if f.ratio is not None:
        out.append(Reason("end_to_end", {"int8_ms": f.int8_ms, "fp32_ms": f.fp32_ms, "ratio": f.ratio},
                          f"measured at batch 1: int8 {f.int8_ms:.3f} ms vs fp32 {f.fp32_ms:.3f} ms per call "
                          f"({slower(f.ratio)})."))
    c, src = f.census, f.share_source
    if c is not None:
        n_float = sum(c.float_compute.values())
        share = f.shares.get("float")
        out.append(Reason("float_ops", {"count": n_float, "compute_ops": c.compute_ops, "ops": dict(c.float_compute),
                                        "share": share, "share_of": src},
                          f"{n_float} of {c.compute_ops} compute ops left in float ({_ops_words(c.float_compute)})"
                          + (f", {_of_its(share, src)}." if share is not None else ".")))
        conv_i, mm_i = c.generic("ConvInteger"), c.generic("MatMulInteger")
        share_i = f.shares.get("integer")
        text = f"integer kernels: {_ops_words(c.integer)}"
        if share_i is not None:
            text += f" ({_of_its(share_i, src)})"
        if conv_i or mm_i:
            text += (f"; {conv_i} ConvInteger and {mm_i} MatMulInteger, ONNX Runtime's generic integer kernels"
                     + (f" ({_of_its(f.generic_share, src)})" if f.generic_share is not None else ""))
        out.append(Reason("integer_kernels", {"ops": dict(c.integer), "conv_integer": conv_i, "matmul_integer": mm_i,
                                              "share": share_i, "generic_share": f.generic_share, "share_of": src},
                          text + "."))
        n_conv = sum(c.conversions.values())
        in_file = None if c.conversions_in_file is None else sum(c.conversions_in_file.values())
        share_q = f.shares.get("conversion")
        text = f"{n_conv} quantize/dequantize conversions run ({_ops_words(c.conversions)}; {c.source})"
        if in_file is not None:
            text += (f", of {in_file} in the file: {in_file - n_conv} fused into integer kernels" if in_file >= n_conv
                     else f", {n_conv - in_file} more than the {in_file} in the file")
        if share_q is not None:
            text += f"; {_of_its(share_q, src)}"
        out.append(Reason("unfused_qdq", {"count": n_conv, "in_file": in_file, "ops": dict(c.conversions),
                                          "share": share_q, "share_of": src, "graph": c.source}, text + "."))
    isa = f.isa
    peak = isa.get("int8_peak_x_fp32")
    text = (f"int8 instruction set here: {isa['int8_isa']}"
            + ("" if isa["vnni_or_amx"] else " (no VNNI or AMX: an int8 dot product takes several instructions)"))
    if peak is not None:
        text += f"; this machine's measured int8 peak is {times(peak)} its fp32 peak"
    if isa.get("int8_kernels_ran"):
        text += f"; int8 kernels it ran: {', '.join(isa['int8_kernels_ran'])}"
    elif isa.get("runtime_use"):
        text += f"; {isa['runtime_use']}"
    out.append(Reason("isa", dict(isa), text + "."))
    if f.layer_ratios:
        words = ", ".join(f"{r['layer']} {slower(r['ratio'])}" for r in f.layer_ratios if r["ratio"] > 0)
        fp32_us, int8_us = f.kernel_us or (None, None)
        total = "" if f.kernel_us is None else f"; all kernels: {int8_us:,.0f} µs vs {fp32_us:,.0f} µs per call"
        out.append(Reason("layer_ratios", {"layers": [dict(r) for r in f.layer_ratios], "kernel_fp32_us": fp32_us,
                                           "kernel_int8_us": int8_us},
                          f"per layer, int8 against fp32 (largest change first): {words}{total}."))
    return out


# --- the sentence -------------------------------------------------------------------------------


def _isa_words(f: VariantFacts) -> str:
    return f"this {f.isa['int8_isa']} CPU"


def _slower_cause(f: VariantFacts) -> str:
    """Where the extra time of a slower int8 variant goes."""
    c, src = f.census, f.share_source
    if c is not None and c.generic("ConvInteger"):
        n = c.generic("ConvInteger")
        share = f" ({_of_its(f.generic_share, src)})" if f.generic_share is not None else ""
        return (f"its {n} convolution{'s' if n > 1 else ''} became ConvInteger{share}, which has no fast kernel in "
                f"ONNX Runtime on {_isa_words(f)}")
    share_q = f.shares.get("conversion")
    if c is not None and share_q is not None and share_q >= MIN_CAUSE_SHARE:
        return (f"{sum(c.conversions.values())} quantize/dequantize conversions still run and take "
                f"{_of_its(share_q, src)}")
    if f.kernel_us is not None and f.kernel_us[1] <= f.kernel_us[0] * SAME_BAND:
        return (f"yet its kernels take {f.kernel_us[1]:,.0f} µs per call against fp32's {f.kernel_us[0]:,.0f} µs in "
                "the profiles, so the gap lies outside them (per-call overhead, or a busy machine's noise)")
    worst = max(f.layer_ratios, key=lambda r: r["int8_us"] - r["fp32_us"], default=None)
    if worst is not None and worst["ratio"] > SAME_BAND:
        return f"its {worst['layer']} layer runs {slower(worst['ratio'])} in int8 than in fp32 on {_isa_words(f)}"
    if c is not None and c.dynamic:
        kernels = "kernels quantize their" if c.dynamic > 1 else "kernel quantizes its"
        return (f"its {c.dynamic} dynamic-range {kernels} input on every call, which costs more than the integer "
                f"arithmetic saves on {_isa_words(f)}")
    return _isa_cause(f)


def _isa_cause(f: VariantFacts) -> str:
    peak = f.isa.get("int8_peak_x_fp32")
    if f.isa["vnni_or_amx"]:
        return f"its int8 kernels do not gain on {_isa_words(f)}"
    return ("without VNNI or AMX, int8 arithmetic here " + (f"peaks at only {times(peak)} the fp32 rate"
                                                            if peak is not None else "gains little over fp32"))


def _faster_cause(f: VariantFacts) -> str:
    """What makes a faster int8 variant faster: its integer kernels, and the layer that gained most."""
    c, src = f.census, f.share_source
    best = min(f.layer_ratios, key=lambda r: r["int8_us"] - r["fp32_us"], default=None)
    gain = (f"its {best['layer']} layer runs {slower(best['ratio'])} in int8"
            if best is not None and best["ratio"] < 1 / SAME_BAND else None)
    if c is None or not c.integer:
        return gain or "its int8 weights are 4x smaller to read"
    text = f"{sum(c.integer.values())} of its {c.compute_ops} compute ops run integer kernels"
    if f.shares.get("integer") is not None:
        text += f" ({_of_its(f.shares['integer'], src)})"
    text += "" if f.isa["vnni_or_amx"] else f" even without VNNI on {_isa_words(f)}"
    return text + (f"; {gain}" if gain else "")


def _same_cause(f: VariantFacts) -> str:
    """Why int8 gains nothing here: float ops left, conversions, or the ISA."""
    c, src = f.census, f.share_source
    share_f, share_q = f.shares.get("float"), f.shares.get("conversion")
    if c is not None and share_f is not None and share_f >= MIN_CAUSE_SHARE and share_f >= (share_q or 0):
        return (f"{sum(c.float_compute.values())} of its {c.compute_ops} compute ops stayed in float "
                f"({_of_its(share_f, src)})")
    if c is not None and share_q is not None and share_q >= MIN_CAUSE_SHARE:
        return f"quantize/dequantize conversions take {_of_its(share_q, src)}"
    return _isa_cause(f)


def sentence(f: VariantFacts) -> str:
    """The verdict and its main cause, with its number, in one sentence."""
    what, verdict = f"{f.format}/{f.quantization}", _verdict(f.ratio)
    if verdict == "unmeasured":
        return f"{what} was not timed against fp32 in {f.runtime} here, so there is no verdict."
    if verdict == "same":
        return f"{what} runs about as fast as fp32 in {f.runtime} ({times(f.ratio)}): {_same_cause(f)}."
    cause = _slower_cause(f) if verdict == "slower" else _faster_cause(f)
    return f"{what} runs {slower(f.ratio)} than fp32 in {f.runtime}: {cause}."


def explain_int8(f: VariantFacts) -> Int8Why:
    """The reason codes and the closing sentence of one int8 variant."""
    return Int8Why(runtime=f.runtime, format=f.format, quantization=f.quantization, verdict=_verdict(f.ratio),
                   ratio=f.ratio, reasons=tuple(reasons_of(f)), sentence=sentence(f))
