"""LoadGen's ``mlperf_log_summary.txt`` (and the query count of its detail log) as a typed result (pure).

The summary is the file MLPerf results are read from: its verdict ("Result is : VALID"),
which constraints held, the scenario's figure (samples per second, completed QPS, the
target percentile's latency), every latency percentile and the early-stopping
estimates ("Early stopping 90.0th percentile estimate: 2802437", in ns).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InferBenchError

SUMMARY_FILE = "mlperf_log_summary.txt"
DETAIL_FILE = "mlperf_log_detail.txt"
VALID, INVALID = "VALID", "INVALID"

_VERDICT = re.compile(r"^Result is\s*:\s*(VALID|INVALID)\s*$", re.M)
_CONSTRAINT = re.compile(r"^\s*(Performance constraints|Min duration|Min queries|Early stopping) satisfied\s*:\s*(Yes|NO)",
                         re.M)
_SCENARIO = re.compile(r"^Scenario\s*:\s*(\w+)", re.M)
# The scenario's figures, keyed as the record keys them.
_FIGURES = {
    "completed_samples_per_second": r"^Completed samples per second\s*:\s*([\d.]+)",
    "samples_per_second": r"^Samples per second\s*:\s*([\d.eE+-]+)",
    "scheduled_samples_per_second": r"^Scheduled samples per second\s*:\s*([\d.]+)",
    "qps_with_loadgen_overhead": r"^QPS w/ loadgen overhead\s*:\s*([\d.]+)",
    "qps_without_loadgen_overhead": r"^QPS w/o loadgen overhead\s*:\s*([\d.]+)",
}
_TARGET_PERCENTILE = re.compile(r"^([\d.]+)th percentile latency \(ns\)\s*:\s*(\d+)", re.M)
_LATENCY = re.compile(r"^(Min|Max|Mean) latency \(ns\)\s*:\s*(\d+)", re.M)
_PERCENTILE = re.compile(r"^([\d.]+) percentile latency \(ns\)\s*:\s*(\d+)", re.M)
_EARLY = re.compile(r"Early stopping ([\d.]+)th percentile estimate:\s*(\d+)")
_RECOMMENDATION = re.compile(r"^Recommendations:\n((?: \*.*\n?)+)", re.M)
_PARAM = re.compile(r"^(target_qps|target_latency \(ns\)|min_duration \(ms\)|min_query_count)\s*:\s*([\d.]+)", re.M)
_ERRORS = re.compile(r"^(\d+) ERROR", re.M)
_EARLY_BLOCK = re.compile(r"^Early Stopping Result:\n((?: \*.*\n?|  ?\S.*\n?)+)", re.M)


def _pct_key(text: str) -> str:
    """"90.0" / "99.00" -> "p90", "99.90" -> "p99.9"."""
    return "p" + f"{float(text):g}"


@dataclass(frozen=True)
class LoadGenSummary:
    """What one LoadGen run concluded. Latencies are in ms; ``early_stopping_ms`` maps "p90"/"p99"
    to LoadGen's early-stopping estimate (absent when the run had too few queries for it)."""

    scenario: str
    validity: str
    constraints: dict = field(default_factory=dict)  # "min_duration" -> True, ...
    figures: dict = field(default_factory=dict)
    target_percentile: str | None = None  # "p90": the percentile the scenario is judged at
    target_latency_ms: float | None = None
    latency_ms: dict = field(default_factory=dict)  # "min", "max", "mean", "p50", "p90", ..., "p99.9"
    early_stopping_ms: dict = field(default_factory=dict)
    recommendations: tuple[str, ...] = ()
    parameters: dict = field(default_factory=dict)
    errors: int = 0
    queries: int | None = None  # result_query_count from the detail log
    over_bound: int | None = None  # Server: queries over the latency bound (result_overlatency_query_count)
    early_stopping_note: str = ""  # LoadGen's early-stopping lines, joined

    def __post_init__(self):
        if self.validity not in (VALID, INVALID):
            raise InferBenchError(f"LoadGen validity {self.validity!r} is neither VALID nor INVALID.",
                                  "pass the mlperf_log_summary.txt LoadGen wrote.")

    @property
    def valid(self) -> bool:
        return self.validity == VALID

    @property
    def throughput(self) -> float | None:
        """Samples per second: Offline's rate, Server's completed rate, else single-stream's with LoadGen."""
        for key in ("samples_per_second", "completed_samples_per_second", "qps_with_loadgen_overhead"):
            if key in self.figures:
                return self.figures[key]
        return None

    def to_dict(self) -> dict:
        return {"scenario": self.scenario, "validity": self.validity, "constraints": dict(self.constraints),
                "figures": dict(self.figures), "target_percentile": self.target_percentile,
                "target_latency_ms": self.target_latency_ms, "latency_ms": dict(self.latency_ms),
                "early_stopping_ms": dict(self.early_stopping_ms), "recommendations": list(self.recommendations),
                "parameters": dict(self.parameters), "errors": self.errors, "queries": self.queries,
                "over_bound": self.over_bound, "early_stopping_note": self.early_stopping_note}

    @classmethod
    def from_dict(cls, d: dict) -> "LoadGenSummary":
        return cls(**{**d, "recommendations": tuple(d.get("recommendations", ()))})


def parse_summary(text: str, detail_text: str = "") -> LoadGenSummary:
    """Parse a LoadGen summary (``detail_text``: the detail log, for the query count)."""
    verdict = _VERDICT.search(text)
    scenario = _SCENARIO.search(text)
    if not verdict or not scenario:
        raise InferBenchError("This text is not a LoadGen summary: no 'Result is' or 'Scenario' line.",
                              f"pass the {SUMMARY_FILE} a finished LoadGen run wrote.")
    constraints = {m.group(1).lower().replace(" ", "_"): m.group(2) == "Yes" for m in _CONSTRAINT.finditer(text)}
    figures = {}
    for key, pattern in _FIGURES.items():
        m = re.search(pattern, text, re.M)
        if m:
            figures[key] = float(m.group(1))
    latency = {m.group(1).lower(): int(m.group(2)) / 1e6 for m in _LATENCY.finditer(text)}
    latency.update({_pct_key(m.group(1)): int(m.group(2)) / 1e6 for m in _PERCENTILE.finditer(text)})
    target = _TARGET_PERCENTILE.search(text)
    recs = _RECOMMENDATION.search(text)
    errors = _ERRORS.search(text)
    early = _EARLY_BLOCK.search(text)
    return LoadGenSummary(
        scenario=scenario.group(1), validity=verdict.group(1), constraints=constraints, figures=figures,
        target_percentile=_pct_key(target.group(1)) if target else None,
        target_latency_ms=int(target.group(2)) / 1e6 if target else None, latency_ms=latency,
        early_stopping_ms={_pct_key(m.group(1)): int(m.group(2)) / 1e6 for m in _EARLY.finditer(text)},
        recommendations=tuple(line.strip(" *") for line in recs.group(1).splitlines()) if recs else (),
        parameters={m.group(1).split(" ")[0]: float(m.group(2)) for m in _PARAM.finditer(text)},
        errors=int(errors.group(1)) if errors else 0, queries=detail_value(detail_text, "result_query_count"),
        over_bound=detail_value(detail_text, "result_overlatency_query_count"),
        early_stopping_note=" ".join(" ".join(early.group(1).split()).split(" * ")).strip(" *") if early else "")


def detail_value(detail_text: str, key: str):
    """The value of ``key`` in a LoadGen detail log (``:::MLLOG {json}`` lines); None if absent."""
    for line in detail_text.splitlines():
        if line.startswith(":::MLLOG ") and f'"{key}"' in line:
            try:
                record = json.loads(line[len(":::MLLOG "):])
            except json.JSONDecodeError:
                continue
            if record.get("key") == key:
                return record.get("value")
    return None


def read_summary(log_dir: Path) -> LoadGenSummary:
    """The summary of the LoadGen run whose logs are in ``log_dir``."""
    log_dir = Path(log_dir)
    path = log_dir / SUMMARY_FILE
    if not path.is_file():
        raise InferBenchError(f"LoadGen wrote no {SUMMARY_FILE} in {log_dir}.",
                              "check the folder is writable and that the run was not interrupted.")
    detail = log_dir / DETAIL_FILE
    return parse_summary(path.read_text(), detail.read_text() if detail.is_file() else "")
