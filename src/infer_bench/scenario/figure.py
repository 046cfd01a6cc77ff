"""The search's figure: LoadGen's p99 against the offered Server rate, one line per configuration."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from ..errors import InferBenchError
from ..results.scenario import ScenarioRecord


def search_curves(record: ScenarioRecord) -> dict[str, list[tuple[float, float, bool]]]:
    """{config label: [(target QPS, p99 ms, VALID), ...] sorted by QPS} from the record's Server runs."""
    curves = defaultdict(list)
    for r in record.runs:
        p99 = r.summary.latency_ms.get("p99")
        if r.target_qps is not None and p99 is not None:
            curves[r.config.label].append((r.target_qps, p99, r.valid))
    return {k: sorted(v) for k, v in curves.items()}


def draw_search(record: ScenarioRecord, path: Path) -> Path:
    """Draw p99 vs target QPS (VALID runs filled, INVALID hollow, the SLO dashed) to ``path`` (a new file)."""
    if not record.search:
        raise InferBenchError("only a --find-max-qps record has a search to draw.", "run the search first.")
    path = Path(path)
    if path.exists():
        raise InferBenchError(f"{path} already exists; figures are never overwritten.", "remove it first.")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, points in search_curves(record).items():
        qps, p99, valid = zip(*points)
        line, = ax.plot(qps, p99, "-", alpha=0.6, label=label)
        ax.scatter([q for q, v in zip(qps, valid) if v], [p for p, v in zip(p99, valid) if v], color=line.get_color())
        ax.scatter([q for q, v in zip(qps, valid) if not v], [p for p, v in zip(p99, valid) if not v],
                   facecolors="none", edgecolors=line.get_color())
    slo = record.search["slo_ms"]
    ax.axhline(slo, color="k", linestyle="--", linewidth=1, label=f"p99 bound {slo:g} ms")
    ax.set_yscale("log")
    ax.set_xlabel("offered load (LoadGen Server target QPS)")
    ax.set_ylabel("p99 latency (ms)")
    t = record.target
    ax.set_title(f"{t['model']} {t['format']}/{t['quantization']} via {t['runtime']}: filled = VALID")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.rename(path)
    return path
