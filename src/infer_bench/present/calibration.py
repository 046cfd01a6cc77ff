"""The calibration study as a table (text or Markdown) and a figure: agreement against calibration size.

The table has one row per model, format and calibration size: top-1
agreement and accuracy drop as min / median / max over the seeds, and how many
seeds met the int8 budget. The figure has one row of panels per model and the
formats side by side; each seed is one marker at its calibration size.
"""

from __future__ import annotations

from pathlib import Path

from tabulate import tabulate

from ..quant.calibration_spread import Spread, spread_rows
from ..results.calibration import CalibrationStudy
from .figures import _figure, _save
from .int8 import FORMAT_COLORS
from .markdown import md_table

SPREAD_HEADERS = ["model", "format", "calibration images", "agreement min / median / max",
                  "accuracy drop pts min / median / max", "pass budget", "failed"]
SEED_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
SEED_NUDGE = 0.06  # each seed's markers moved by 6% of the size (log axis) so equal values stay visible


def _spread_text(spread: Spread, percent: bool) -> str:
    if spread.low is None:
        return "n/a"
    fmt = (lambda v: f"{v:.2%}") if percent else (lambda v: f"{v:+.2f}")
    return " / ".join(fmt(v) for v in (spread.low, spread.median, spread.high))


def spread_table_rows(study: CalibrationStudy) -> list[list[str]]:
    """One row per model, format and size, for ``SPREAD_HEADERS``."""
    rows = []
    for r in spread_rows(study.points):
        images = str(r.size) if r.images == r.size else f"{r.size} ({r.images} available)"
        rows.append([r.model, r.format, images, _spread_text(r.agreement, True), _spread_text(r.drop_pts, False),
                     f"{r.passed}/{r.seeds}", str(r.failed) if r.failed else ""])
    return rows


def _budget(study: CalibrationStudy) -> str:
    row = study.tolerances.get("static_int8", {})
    agree, drop = row.get("min_agreement"), row.get("max_accuracy_drop_pts")
    parts = ([f"agreement >= {agree:.1%}"] if agree is not None else []) + (
        [f"accuracy drop <= {drop:g} pts"] if drop is not None else [])
    return ", ".join(parts) or "the static_int8 tolerance row"


def format_study(study: CalibrationStudy, tablefmt: str = "github") -> str:
    """The spread table as text, with the budget it was judged by and the test rows used."""
    rows = "the whole held-out split" if study.test_rows is None else f"the first {study.test_rows:,} held-out rows"
    head = (f"Calibration study: {len(study.seeds)} seed(s) per size, each checked against Keras on {rows}; "
            f"budget: {_budget(study)}")
    table = tabulate(spread_table_rows(study), headers=SPREAD_HEADERS, tablefmt=tablefmt, disable_numparse=True)
    errors = [f"- {p.model} {p.format} {p.size} images, seed {p.seed}: {p.error}" for p in study.points if p.error]
    return "\n".join([head, "", table, *([""] + errors if errors else [])])


def study_markdown(study: CalibrationStudy) -> str:
    """The spread table as Markdown (for a report or an issue)."""
    return md_table(spread_table_rows(study), SPREAD_HEADERS)


def draw_study(study: CalibrationStudy, path: str | Path) -> Path | None:
    """Agreement (%) against calibration size, one panel per model and format, one marker per seed.

    None when no point has figures.
    """
    measured = [p for p in study.points if p.measured]
    if not measured:
        return None
    models = list(dict.fromkeys(p.model for p in measured))
    formats = list(dict.fromkeys(p.format for p in measured))
    fig = _figure(2.8 * len(formats) + 0.6, 2.6 * len(models) + 0.4)
    axes = fig.subplots(len(models), len(formats), squeeze=False, sharex=True, sharey="row")  # formats compared
    floor = study.tolerances.get("static_int8", {}).get("min_agreement")
    sizes = sorted({p.size for p in study.points})
    for i, model in enumerate(models):
        for j, fmt in enumerate(formats):
            ax = axes[i, j]
            mine = [p for p in measured if p.model == model and p.format == fmt]
            for k, seed in enumerate(study.seeds):
                at = [p for p in mine if p.seed == seed]
                nudge = 1 + SEED_NUDGE * (k - (len(study.seeds) - 1) / 2)  # seeds side by side, not on top
                ax.plot([p.size * nudge for p in at], [p.top1_agreement * 100 for p in at], linestyle="none",
                        marker=SEED_MARKERS[k % len(SEED_MARKERS)], color=FORMAT_COLORS.get(fmt, "#9467bd"),
                        alpha=0.75, label=f"seed {seed}")
            if floor is not None:
                ax.axhline(floor * 100, color="#d62728", linestyle="--", linewidth=1, label="budget")
            ax.set_xscale("log")
            ax.set_xticks(sizes, [str(s) for s in sizes])
            ax.minorticks_off()
            ax.set_title(f"{model} {fmt}" + ("" if mine else " (no figures)"), fontsize=9)
            if j == 0:
                ax.set_ylabel("top-1 agreement, %")
            if i == len(models) - 1:
                ax.set_xlabel("calibration images")
            ax.grid(alpha=0.3)
    axes[0, -1].legend(fontsize=7, loc="lower right")
    fig.suptitle("int8 agreement with Keras by calibration size (one marker per seed)", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)
