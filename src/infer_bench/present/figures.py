"""The report's figures, drawn with matplotlib's Agg canvas and written atomically.

Every function takes the data it draws and a path (or folder), and returns
the path(s) it wrote. Figures that need an optional input (an ``Explanation``
record of ``infer-bench explain``) return None when it lacks what they need;
``roofline_missing`` and ``layer_times_missing`` say why in words the report
can print.
"""

from __future__ import annotations

import math
import shutil
from collections import defaultdict
from pathlib import Path

from ..catalog import PRECISIONS, REFERENCE_RUNTIME, compute_precision, weight_precision
from ..errors import ArtifactError
from ..fsutil import atomic_path
from ..results.bench import BenchResult
from ..results.explain import Explanation
from ..results.history import load_history
from .tables import best_by_variant

DPI = 110
PANEL_WIDTH_IN = 7.0
BAR_HEIGHT_IN = 0.28  # per bar in the horizontal bar charts
TOP_LAYERS = 8  # bars per model in the per-layer figure
COLORS = {REFERENCE_RUNTIME: "#7f7f7f", "keras_call": "#bcbd22", "tf_function": "#ff7f0e",
          "onnxruntime": "#1f77b4", "litert": "#2ca02c", "openvino": "#e377c2"}
DEFAULT_COLOR = "#9467bd"
# Latency-vs-batch lines: colour = runtime, line style = precision, marker = format, hollow marker = CUDA.
# fp32, fp16, dynamic_int8, static_int8, bf16
LINESTYLES = dict(zip(PRECISIONS, ("-", "--", ":", "-.", (0, (5, 1, 1, 1, 1, 1)))))
MARKERS = {"keras": "o", "savedmodel": "s", "onnx": "^", "tflite": "D", "openvino": "P"}
# The roofline's ceilings: (compute precision, explanation key, line style, colour). A point is
# drawn in the colour of the ceiling of the precision it ran in (fp16 runs on the fp32 one on CPU).
CEILING_LINES = (("fp32", "peak_gflops_fp32", "-", "black"), ("int8", "peak_gops_int8", "--", "#8c564b"),
                 ("bf16", "peak_gflops_bf16", "-.", "#17becf"))
CEILING_OF = {"fp16": "fp32"}


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)  # Agg only: no GUI backend, no pyplot global state
    return fig


def _save(fig, path: str | Path) -> Path:
    path = Path(path)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=DPI, bbox_inches="tight", metadata={"Software": None})
    return path


def variant_label(r: BenchResult) -> str:
    """"onnx/fp16 onnxruntime" (+ " [cuda]" when it ran on CUDA)."""
    return f"{r.format}/{r.quantization} {r.runtime}" + (" [cuda]" if r.device == "cuda" else "")


def _measured(results) -> list[BenchResult]:
    return [r for r in results if not r.skipped]


def _by_model(results) -> dict[str, list[BenchResult]]:
    out: dict[str, list[BenchResult]] = defaultdict(list)
    for r in results:
        out[r.model].append(r)
    return dict(out)


def _empty(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()


# --- latency ----------------------------------------------------------------------------------


def latency_bars(results, path: str | Path, batch_size: int = 1) -> Path:
    """p50 ms/row at ``batch_size`` per artifact x runtime, one panel per model, fastest at the top.

    Bars are the median; the thin line on each bar reaches p99; CUDA bars are hatched. Log x axis.
    """
    by_model = _by_model(r for r in _measured(results) if r.batch_size == batch_size)
    models = list(by_model) or ["(none)"]
    heights = [max(2, len(by_model.get(m, []))) * BAR_HEIGHT_IN + 0.9 for m in models]
    fig = _figure(PANEL_WIDTH_IN, sum(heights))
    axes = fig.subplots(len(models), 1, squeeze=False, gridspec_kw={"height_ratios": heights})[:, 0]
    for ax, model in zip(axes, models):
        rs = sorted(by_model.get(model, []), key=lambda r: r.per_row_ms["p50"], reverse=True)
        if not rs:
            _empty(ax, f"no measured results at batch {batch_size}")
            continue
        y = range(len(rs))
        p50 = [r.per_row_ms["p50"] for r in rs]
        p99 = [r.per_row_ms["p99"] for r in rs]
        bars = ax.barh(y, p50, color=[COLORS.get(r.runtime, DEFAULT_COLOR) for r in rs])
        for bar, r in zip(bars, rs):
            if r.device == "cuda":
                bar.set_hatch("//")
        ax.hlines(y, p50, p99, color="black", linewidth=1)
        ax.set_yticks(list(y), [variant_label(r) for r in rs], fontsize=8)
        ax.set_xscale("log")
        ax.set_xlabel(f"ms per row at batch {batch_size} (bar: p50, line: to p99; log scale)")
        ax.set_title(model, fontsize=10)
        for yi, v, end in zip(y, p50, p99):
            ax.annotate(f"{v:.3g}", (max(v, end), yi), xytext=(2, 0), textcoords="offset points", va="center",
                        fontsize=7)
        ax.grid(axis="x", which="both", alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def latency_vs_batch(results, path: str | Path) -> Path:
    """p50 ms/row against batch size, one line per variant, one panel per model (log-log).

    Colour is the runtime, line style the precision, marker the format; CUDA
    variants have hollow markers.
    """
    by_model = _by_model(_measured(results))
    models = list(by_model) or ["(none)"]
    fig = _figure(PANEL_WIDTH_IN + 3, 3.6 * len(models))
    axes = fig.subplots(len(models), 1, squeeze=False)[:, 0]
    for ax, model in zip(axes, models):
        lines: dict[str, list[BenchResult]] = defaultdict(list)
        for r in by_model.get(model, []):
            lines[variant_label(r)].append(r)
        if not lines:
            _empty(ax, "no measured results")
            continue
        # Legend order: fastest at its best batch first.
        order = sorted(lines, key=lambda k: min(r.per_row_ms["p50"] for r in lines[k]))
        for label in order:
            rs = sorted(lines[label], key=lambda r: r.batch_size)
            color = COLORS.get(rs[0].runtime, DEFAULT_COLOR)
            # linestyle= as a keyword: bf16's dash pattern is a tuple, which plot() cannot take as a format string.
            ax.plot([r.batch_size for r in rs], [r.per_row_ms["p50"] for r in rs],
                    linestyle=LINESTYLES.get(rs[0].quantization, "-"), marker=MARKERS.get(rs[0].format, "o"),
                    markersize=4,
                    color=color, markerfacecolor="white" if rs[0].device == "cuda" else color, label=label)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        batches = sorted({r.batch_size for r in by_model[model]})
        ax.set_xticks(batches, [str(b) for b in batches])
        ax.set_xlabel("batch size")
        ax.set_ylabel("p50 ms per row (log)")
        ax.set_title(model, fontsize=10)
        ax.grid(which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    return _save(fig, path)


# --- roofline ---------------------------------------------------------------------------------


def _positive(x) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) and v > 0 else None


def roofline_missing(explain: Explanation | None, results=()) -> str | None:
    """Why the roofline cannot be drawn (None when it can)."""
    if explain is None:
        return "no explanation found (run `infer-bench explain`)"
    lacking = [k for k in ("peak_gflops_fp32", "memory_gbps") if _positive(explain.machine.get(k)) is None]
    if lacking:
        return f"the explanation has no machine ceilings ({', '.join(lacking)}); rerun `infer-bench explain`"
    if not roofline_points(results, explain):
        return "the explanation has no FLOPs and weight bytes for the benchmarked models"
    return None


def roofline_points(results, explain: Explanation) -> list[dict]:
    """One point per CPU model x variant at batch 1 and at its best batch.

    Intensity = FLOPs of one call / weight bytes at the precision it ran in
    (bf16 weights are 2 bytes, like fp16; weights are read once per call;
    activations are not counted), so it grows with the batch size. Achieved
    G op/s = FLOPs per row x rows/s. ``ceiling`` is the precision whose peak
    bounds the point: the one it ran in (fp16 on CPU: fp32's).
    """
    on_cpu = [r for r in _measured(results) if r.device == "cpu"]
    best = best_by_variant(on_cpu)
    first = {(r.model, r.format, r.quantization, r.runtime, r.device): r for r in on_cpu if r.batch_size == 1}
    points = []
    for k in sorted(set(first) | set(best)):
        info = explain.models.get(k[0])
        if info is None:
            continue
        flops = _positive(info.flops)
        weight = _positive(info.weight_bytes.get(weight_precision(k[2])))
        if flops is None or weight is None:
            continue
        for kind, r in (("batch 1", first.get(k)), ("best batch", best.get(k))):
            if r is None or (kind == "best batch" and r.batch_size == 1 and k in first):
                continue
            precision = compute_precision(r.quantization)
            points.append({"model": r.model, "label": variant_label(r), "kind": kind, "batch_size": r.batch_size,
                           "precision": precision, "ceiling": CEILING_OF.get(precision, precision),
                           "intensity": flops * r.batch_size / weight,
                           "gops": flops * r.throughput_rows_per_s / 1e9})
    return points


def roofline_ceilings(explain: Explanation) -> dict[str, float]:
    """{precision: peak G op/s} of every ceiling the explanation measured (bf16 only where it runs)."""
    peaks = {p: _positive(explain.machine.get(key)) for p, key, _, _ in CEILING_LINES}
    return {p: v for p, v in peaks.items() if v is not None}


def roofline(results, explain: Explanation | None, path: str | Path) -> Path | None:
    """Achieved G op/s against arithmetic intensity, under the machine's measured ceilings.

    Lines: memory bandwidth x intensity up to each measured peak: fp32
    (solid, black), int8 (dashed) and bf16 (dash-dot, on CPUs that run it),
    labelled with the runtime and instruction set that reached it. Points:
    circles at batch 1, triangles at each variant's best batch; fill colour =
    model, edge colour = the ceiling of the precision the point ran in (a
    point whose ceiling was not measured is drawn with a red edge). Returns
    None (draws nothing) when ``roofline_missing`` gives a reason.
    """
    if roofline_missing(explain, results):
        return None
    machine = explain.machine
    bw = float(machine["memory_gbps"])
    peaks = roofline_ceilings(explain)
    points = roofline_points(results, explain)
    xs = [p["intensity"] for p in points]
    lo = min(min(xs), min(peaks.values()) / bw) / 4
    hi = max(max(xs), max(peaks.values()) / bw) * 4
    fig = _figure(PANEL_WIDTH_IN + 1, 5.0)
    ax = fig.add_subplot()
    grid = [lo * (hi / lo) ** (i / 200) for i in range(201)]
    edge = {}
    for precision, _, style, color in CEILING_LINES:
        if precision not in peaks:
            continue
        edge[precision] = color
        ax.plot(grid, [min(peaks[precision], bw * x) for x in grid], linestyle=style, color=color, linewidth=1.2,
                label=f"{precision} peak {peaks[precision]:,.0f} G op/s{_route_words(machine, precision)}")
    colors = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd"]
    for i, model in enumerate(dict.fromkeys(p["model"] for p in points)):
        for kind, marker in (("batch 1", "o"), ("best batch", "^")):
            ps = [p for p in points if p["model"] == model and p["kind"] == kind]
            if ps:
                ax.scatter([p["intensity"] for p in ps], [p["gops"] for p in ps], marker=marker, s=26,
                           color=colors[i % len(colors)], edgecolors=[edge.get(p["ceiling"], "red") for p in ps],
                           linewidths=1.2, alpha=0.85, label=f"{model}, {kind}")
    ax.plot([], [], " ", label=f"memory {bw:,.1f} GB/s; point edge = its precision's ceiling")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity (FLOPs per weight byte per call)")
    ax.set_ylabel("achieved G op/s (log)")
    ax.set_title("Roofline (CPU): each point under the ceiling of the precision it ran in", fontsize=10)
    ax.grid(which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    return _save(fig, path)


def _route_words(machine: dict, precision: str) -> str:
    """" (openvino, AMX-BF16)": how the explanation says a peak was reached ("" where it does not)."""
    route = (machine.get("routes") or {}).get(precision) or {}
    said = [str(route[k]) for k in ("runtime", "isa") if route.get(k)]
    return f" ({', '.join(said)})" if said else ""


# --- per-layer time ---------------------------------------------------------------------------


def _layer_times(explain: Explanation | None) -> dict[str, list[dict]]:
    out = {}
    for model, info in (explain.models if explain is not None else {}).items():
        rows = []
        for lt in info.layer_times:
            us = _positive((lt or {}).get("mean_us"))
            if us is not None:
                rows.append({"layer": str(lt.get("layer", "?")), "kind": str(lt.get("kind", "")), "mean_us": us,
                             "share": lt.get("share")})
        if rows:
            out[model] = sorted(rows, key=lambda x: x["mean_us"], reverse=True)
    return out


def layer_times_missing(explain: Explanation | None) -> str | None:
    """Why the per-layer figure cannot be drawn (None when it can)."""
    if explain is None:
        return "no explanation found (run `infer-bench explain`)"
    if not _layer_times(explain):
        return "the explanation has no per-layer times"
    return None


def layer_times(explain: Explanation | None, path: str | Path, top: int = TOP_LAYERS) -> Path | None:
    """The ``top`` slowest layers of each model (mean µs per call, share of the total), one panel per model."""
    data = _layer_times(explain)
    if not data:
        return None
    heights = [min(top, len(rows)) * BAR_HEIGHT_IN + 0.9 for rows in data.values()]
    fig = _figure(PANEL_WIDTH_IN, sum(heights))
    axes = fig.subplots(len(data), 1, squeeze=False, gridspec_kw={"height_ratios": heights})[:, 0]
    for ax, (model, rows) in zip(axes, data.items()):
        rows = rows[:top][::-1]
        y = range(len(rows))
        ax.barh(y, [r["mean_us"] for r in rows], color="#1f77b4")
        ax.set_yticks(list(y), [f"{r['layer']} ({r['kind']})" if r["kind"] else r["layer"] for r in rows],
                      fontsize=8)
        for yi, r in zip(y, rows):
            share = _positive(r["share"])
            text = f"{r['mean_us']:.3g} µs" + (f" ({share:.0%})" if share is not None else "")
            ax.annotate(text, (r["mean_us"], yi), xytext=(2, 0), textcoords="offset points", va="center",
                        fontsize=7)
        ax.set_xlabel("mean µs per call")
        ax.set_title(f"{model}: slowest {len(rows)} layers", fontsize=10)
        ax.margins(x=0.2)
    fig.tight_layout()
    return _save(fig, path)


# --- training curves --------------------------------------------------------------------------


def _copy_atomic(src: Path, dst: Path) -> Path:
    with atomic_path(dst, suffix=".png") as tmp:
        shutil.copyfile(src, tmp)
    return dst


def draw_training_curves(curves: dict, model: str, path: str | Path) -> Path:
    """Loss and accuracy per epoch (train and validation) from a history's ``curves``."""
    fig = _figure(PANEL_WIDTH_IN + 2, 3.2)
    ax_loss, ax_acc = fig.subplots(1, 2)
    for ax, keys, title in ((ax_loss, ("loss", "val_loss"), "loss"),
                            (ax_acc, ("accuracy", "val_accuracy"), "accuracy")):
        for key in keys:
            values = curves.get(key) or []
            if values:
                ax.plot(range(1, len(values) + 1), values, marker="o", markersize=3,
                        label="validation" if key.startswith("val_") else "train")
        ax.set_xlabel("epoch")
        ax.set_title(f"{model}: {title}", fontsize=10)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def training_curves(exported: str | Path, models: dict, out_dir: str | Path) -> dict[str, Path]:
    """``{model: figure path}``: the export's ``training.png`` copied, or redrawn from ``history.json``.

    ``models`` is the manifest's ``models`` block (``curves`` and ``history``
    paths relative to ``exported``). Models with neither file are left out.
    """
    exported, out_dir = Path(exported), Path(out_dir)
    written = {}
    for model, info in (models or {}).items():
        dst = out_dir / f"training-{model}.png"
        png = exported / info["curves"] if info.get("curves") else None
        if png is not None and png.is_file() and png.stat().st_size > 0:
            written[model] = _copy_atomic(png, dst)
            continue
        hist = exported / info["history"] if info.get("history") else None
        if hist is not None and hist.is_file():
            try:
                curves = load_history(hist).get("curves") or {}
            except ArtifactError:
                continue
            if curves:
                written[model] = draw_training_curves(curves, model, dst)
    return written
