"""The explanation in plain English, and each model's slowest layers as a table."""

from __future__ import annotations

from tabulate import tabulate

from ..catalog import REFERENCE_RUNTIME
from ..results.explain import Explanation, ModelExplanation
from .costmodel import uncounted_sentence
from .words import ms, pct, times

TOP_LAYERS = 6  # layers per model in the printed table


def _compute_words(oh: dict) -> str:
    """How much time the model's own arithmetic takes, and where that figure comes from."""
    if oh["compute_source"].startswith("onnxruntime"):
        return f"about {ms(oh['compute_ms'])} (ONNX Runtime's summed kernel time)"
    return f"at most {ms(oh['compute_ms'])} (the fastest whole call, {oh['fastest_runtime']})"


def _profile_words(p: dict) -> str | None:
    """What ONNX Runtime's profile says about its own per-call overhead (None when it says nothing)."""
    if p.get("profiler_inflated"):
        return (f"(Under ONNX Runtime's profiler the kernels sum to {ms(p['node_total_p50_us'] / 1e3)}, more "
                f"than a whole unprofiled call, {ms(p['wall_p50_us'] / 1e3)}: the profiler's per-node "
                "bookkeeping (and a busy machine) add time, so read the layer shares, not the sum.)")
    if p.get("ort_overhead_us") is not None:
        oh_us = p["ort_overhead_us"]
        return ("ONNX Runtime's own per-call overhead (whole call minus kernels, medians) is "
                + (f"about {oh_us:,.0f} µs." if oh_us > 0 else f"lost in the run-to-run noise ({oh_us:,.0f} µs)."))
    return None


def _report_words(rep: dict, ref: dict | None) -> str | None:
    """The report's quoted figure against this machine (None when the report quotes none or it was not measured)."""
    if not rep["quoted"] or rep["this_machine_batch1_ms"] is None:
        return None
    verdict = "within" if rep["holds_here"] else "outside"
    extra = ""
    if rep["this_machine_by_batch_ms"]:
        extra = " (bench, per row by batch size: " + ", ".join(
            f"{b}: {ms(v)}" for b, v in rep["this_machine_by_batch_ms"].items()) + ")"
    text = (f"The report quotes {rep['quoted']} through model.predict; this machine: "
            f"{ms(rep['this_machine_batch1_ms'])} per row at batch 1, {verdict} the report's figure{extra}")
    if ref is not None and ref["overhead_share"] >= 0.5:
        text += (f"; at batch 1, {pct(ref['overhead_share'])} of it is model.predict's per-call overhead, "
                 "which a larger batch shares across its rows")
    return text + "."


def _roofline_words(roofline: dict, threads: int) -> str:
    """The fp32 and int8 floors and how close the measured times come to them."""
    fp32, int8 = roofline["fp32"], roofline["int8"]
    text = (f"Roofline ({threads} threads): the fp32 floor is {ms(fp32['floor_ms'])} ({fp32['bound']}-bound); "
            f"ONNX Runtime's {ms(fp32['measured_ms'])} reaches {pct(fp32['share_of_floor'])} of it.")
    if int8["measured_ms"] is not None:
        text += (f" The int8 floor is {ms(int8['floor_ms'])} ({int8['bound']}-bound); the best int8 variant, "
                 f"{int8['measured_by']} at {ms(int8['measured_ms'])}, reaches {pct(int8['share_of_floor'])}.")
    else:
        text += f" The int8 floor is {ms(int8['floor_ms'])}; no int8 variant was measured."
    beyond = [r for r in (fp32, int8) if r["share_of_floor"] is not None and r["share_of_floor"] > 1]
    if beyond:
        text += (" Beating a floor means the bytes counted against memory bandwidth partly stayed in cache "
                 "between calls, so that floor does not bind here.")
    return text


def model_text(name: str, m: ModelExplanation, threads: int) -> str:
    """One model's paragraph: cost, batch-1 times, compute vs overhead, the report's figure, roofline, top layer."""
    ordered = ", ".join(f"{rt} {ms(t)}" for rt, t in sorted(m.latency_ms.items(), key=lambda kv: kv[1]))
    lines = [f"{name}: {m.flops / 1e6:,.1f} MFLOP and {m.params:,} parameters "
             f"({m.weight_bytes['fp32'] / 1e6:.2f} MB at fp32) per row. Batch 1, p50 per call: {ordered}."]
    ref = m.overhead["per_runtime"].get(REFERENCE_RUNTIME)
    compute = _compute_words(m.overhead)
    if ref is not None:
        lines.append(f"The model's own arithmetic takes {compute}; model.predict spends "
                     f"{ms(ref['overhead_ms'])} ({pct(ref['overhead_share'])}) of each call on framework "
                     f"overhead, {times(ref['x_compute'])} the compute.")
    else:
        lines.append(f"The model's own arithmetic takes {compute}.")
    lines += [s for s in (_profile_words(m.profile), _report_words(m.report, ref)) if s is not None]
    lines.append(_roofline_words(m.roofline, threads))
    if m.layer_times:
        top = m.layer_times[0]
        lines.append(f"Most kernel time goes to {top['layer']} ({top['kind']}, {pct(top['share'])}).")
    uncounted = uncounted_sentence(m.uncounted)
    if uncounted is not None:
        lines.append(uncounted)
    sentences = [w["sentence"] for w in m.int8_why.values() if isinstance(w.get("sentence"), str)]
    if sentences:
        lines.append("Int8 here: " + " ".join(s[0].upper() + s[1:] for s in sentences))
    return " ".join(lines)


def explanation_text(expl: Explanation) -> str:
    """The plain-English explanation: the machine, each model, each pair (``expl.text`` is not read)."""
    mc = expl.machine
    parts = [f"This machine at {mc['threads']} thread(s), measured now: fp32 peak {mc['peak_gflops_fp32']:.1f} "
             f"GFLOP/s, int8 peak {mc['peak_gops_int8']:.1f} GOP/s, memory {mc['memory_gbps']:.1f} GB/s "
             f"(best of repeated runs; load average {mc.get('details', {}).get('load_average_1min_before', 0):.1f} "
             "before measuring)."]
    if any(m.quick for m in expl.models.values()):
        parts.append("These are --quick smoke models: same graphs and costs, barely trained.")
    for name, m in expl.models.items():
        parts.append(model_text(name, m, mc["threads"]))
    for pair in expl.pairs:
        parts.append(pair["text"])
    return "\n\n".join(parts)


def _layer_rows(m: ModelExplanation, top: int) -> list[list[str]]:
    """The ``top`` slowest layers as table rows, with each layer's MFLOP and achieved GFLOP/s."""
    # The profile names a nested model's layers plainly ("conv"), the cost model as "backbone/conv".
    flops = {name: layer["flops"] for layer in m.layers for name in (layer["name"], layer["name"].rsplit("/", 1)[-1])}
    rows = []
    for t in m.layer_times[:top]:
        f = flops.get(t["layer"])
        gflops = f / (t["mean_us"] * 1e3) if f and t["mean_us"] > 0 else None
        rows.append([t["layer"], t["kind"], "+".join(t["ops"]), f"{t['mean_us']:,.1f}",
                     "" if t.get("p50_us") is None else f"{t['p50_us']:,.1f}", pct(t["share"]),
                     "" if not f else f"{f / 1e6:,.2f}", "" if gflops is None else f"{gflops:,.1f}"])
    return rows


def int8_reason_lines(m: ModelExplanation) -> list[str]:
    """Each int8 variant's sentence, then its reason codes with their words (a skipped variant: why)."""
    lines = []
    for label, why in m.int8_why.items():
        if "skipped" in why:
            lines.append(f"- {label}: not explained here ({why['skipped']})")
            continue
        lines.append(f"- {label}: {why.get('sentence', '')}")
        lines += [f"    {r.get('code')}: {r.get('text', '')}" for r in why.get("reasons", []) if isinstance(r, dict)]
    return lines


def format_explanation(expl: Explanation, top: int = TOP_LAYERS) -> str:
    """The explanation in plain English, then each model's slowest layers as a table and its int8 reasons."""
    out = [expl.text or explanation_text(expl)]
    for name, m in expl.models.items():
        p = m.profile
        out.append(f"{name}: slowest layers in ONNX Runtime, batch 1 ({p['runs']} profiled runs; kernels "
                   f"{p['node_total_p50_us']:,.0f} µs, whole unprofiled call {p['wall_p50_us']:,.0f} µs, medians)\n"
                   + tabulate(_layer_rows(m, top), headers=["layer", "kind", "kernels", "mean µs", "p50 µs", "share",
                                                            "MFLOP", "GFLOP/s"],
                              tablefmt="github", disable_numparse=True))
        reasons = int8_reason_lines(m)
        if reasons:
            out.append(f"{name}: why int8 is slower or faster here (reason codes)\n" + "\n".join(reasons))
    return "\n\n".join(out)
