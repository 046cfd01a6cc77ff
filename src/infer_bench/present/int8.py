"""The report's int8 section: per-layer quantization error (one figure, one table per artifact) and repairs.

Drawn from the check record alone (``CheckResult.layer_errors`` and
``repair``): the figure puts each model's layers on one axis and the static
int8 formats side by side (output SQNR in dB, higher is better); the tables
list each artifact's worst layers.
"""

from __future__ import annotations

from pathlib import Path

from ..check.table import repair_line
from ..results.check import CheckReport
from .figures import BAR_HEIGHT_IN, PANEL_WIDTH_IN, _figure, _save
from .markdown import image, md_table

WORST_SHOWN = 5  # layers per artifact in the report's tables
INT8_HEADERS = ["keras layer", "output SQNR dB", "rel error", "own grid SQNR dB", "weight SQNR dB", "clipped"]
FORMAT_COLORS = {"onnx": "#1f77b4", "tflite": "#ff7f0e", "openvino": "#2ca02c"}


def _by_model(check: CheckReport | None) -> dict[str, list]:
    out: dict[str, list] = {}
    for r in check.entries if check is not None else ():
        if r.layer_errors:
            out.setdefault(r.model, []).append(r)
    return out


def layer_sqnr(check: CheckReport | None, path: str | Path) -> Path | None:
    """SQNR per Keras layer, the int8 artifacts of each model side by side (None: no layer errors)."""
    data = _by_model(check)
    if not data:
        return None
    heights = [len({e.keras_layer for r in rs for e in r.layer_errors}) * len(rs) * BAR_HEIGHT_IN + 1.0
               for rs in data.values()]
    fig = _figure(PANEL_WIDTH_IN, sum(heights))
    axes = fig.subplots(len(data), 1, squeeze=False, gridspec_kw={"height_ratios": heights})[:, 0]
    for ax, (model, results) in zip(axes, data.items()):
        layers = list(dict.fromkeys(e.keras_layer for r in results for e in r.layer_errors))
        width = 0.8 / len(results)
        for k, r in enumerate(results):
            sqnr = {e.keras_layer: e.sqnr_db for e in r.layer_errors}
            ys = [i + k * width for i, layer in enumerate(layers) if layer in sqnr]
            ax.barh(ys, [sqnr[layer] for layer in layers if layer in sqnr], height=width,
                    color=FORMAT_COLORS.get(r.format, "#9467bd"), label=f"{r.format} ({r.runtime})")
        ax.set_yticks([i + 0.4 - width / 2 for i in range(len(layers))], layers, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("output SQNR, dB (higher: closer to float)")
        ax.set_title(f"{model}: int8 error per layer", fontsize=10)
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return _save(fig, path)


def int8_section(check: CheckReport | None, figure: Path | None, out_dir: Path) -> list[str]:
    """Where each static int8 artifact loses accuracy, and what the repair kept in float (empty: nothing to say)."""
    data = _by_model(check)
    notes = [r for r in (check.entries if check is not None else ()) if r.layer_error_note]
    if not data and not notes:
        return []
    lines = ["## Int8 error per layer", "",
             "Each int8 artifact and its float original run on the same held-out images; per Keras layer, "
             "\"output SQNR\" compares the layer's output (accumulated error, higher is better) and \"own grid "
             "SQNR\" the noise of that layer's int8 range alone; with the weights' rounding (\"weight SQNR\") it ranks "
             "the layers (worst first), and the repair keeps only layers with weights in float. See "
             "docs/quantization.md.", ""]
    if figure is not None:
        lines += [image(figure, out_dir, "int8 SQNR per layer"), ""]
    for results in data.values():
        for r in results:
            rows = [[e.keras_layer, f"{e.sqnr_db:.1f}", f"{e.rel_error:.2%}", f"{e.grid_sqnr_db:.1f}",
                     "no weights" if e.weight_sqnr_db is None else f"{e.weight_sqnr_db:.1f}", f"{e.clipped:.2%}"]
                    for e in r.layer_errors[:WORST_SHOWN]]
            lines += [f"**{r.label}** ({r.verdict})", "", md_table(rows, INT8_HEADERS), ""]
            if r.repair is not None:
                lines += [repair_line(r), ""]
    lines += [f"- {r.label}: no per-layer errors ({r.layer_error_note})" for r in notes] + ([""] if notes else [])
    return lines
