"""The regression gate's records: the committed baseline and the outcome of one check.

``Baseline`` is the one writer and reader of ``benchmarks/baseline.json``
(schema 3); ``RegressOutcome`` is the one writer and reader of
``infer-bench regress --json`` files (schema 2; schema 1 files still read). Both write through
``results.store``. This module does not import the ``regress`` package that
produces them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from ..errors import InferBenchError
from . import store
from .machine import require_same_machine

# 2: ratios pooled over fresh processes, a machine allowance per case;
# 3: the ratios are paired candidate/reference blocks (no calibration workload), with the reference's ms
BASELINE_SCHEMA_VERSION = 3
OUTCOME_SCHEMA_VERSION = 2  # 2: adds the reference's source and each case's host change
OUTCOME_VERSIONS_READ = (1, 2)
UPDATE_BASELINE = "infer-bench regress --update-baseline"
# The part of a captured environment a baseline keeps; the thread count is a top-level key of its own.
BASELINE_ENV_KEYS = ("cpu_model", "logical_cores", "packages", "git_commit")
_REPAIR = f"restore the file from git or rerun `{UPDATE_BASELINE}`."


def kept_environment(environment: dict) -> dict:
    """The keys of a captured environment that a baseline records (None where one is missing)."""
    return {k: environment.get(k) for k in BASELINE_ENV_KEYS}


def _require_keys(data, keys, source: str, what: str) -> None:
    """Refuse ``data`` unless it is a dict holding every one of ``keys``."""
    if not isinstance(data, dict):
        raise InferBenchError(f"{source}: {what} is not a JSON object.", _REPAIR)
    missing = [k for k in keys if k not in data]
    if missing:
        raise InferBenchError(f"{source}: {what} lacks {', '.join(repr(k) for k in missing)}.", _REPAIR)


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _ratios(value, source: str, what: str, allow_empty: bool = False) -> tuple[float, ...]:
    """A list of positive finite numbers as a tuple; anything else is refused."""
    ok = isinstance(value, list) and (allow_empty or value) and all(_is_number(x) and x > 0 for x in value)
    if not ok:
        raise InferBenchError(f"{source}: {what} must be a list of positive numbers, got {value!r}.", _REPAIR)
    return tuple(float(x) for x in value)


@dataclass(frozen=True)
class CaseComparison:
    """How a case's current ratios compare with its baseline ratios (one row of ``regress --json``)."""

    case: str
    baseline_ratio: float  # median of the baseline rounds
    current_ratio: float  # median of this run's rounds
    change_pct: float  # current / baseline - 1, in percent
    ci_low_pct: float  # 95% bootstrap interval of change_pct
    ci_high_pct: float
    threshold_pct: float  # the threshold applied: the largest of the global one, the spread, the machine allowance
    threshold_reason: str  # which of the three it is: "global", "spread" or "machine"
    confidence: float  # bootstrap share of resamples whose change exceeds the threshold
    regressed: bool
    improved: bool
    # How much slower than in the baseline the reference itself ran: the host's load, not the code's
    # (None in schema-1 files).
    host_change_pct: float | None = None

    @classmethod
    def from_dict(cls, data: dict, source: str) -> CaseComparison:
        """Read one comparison; a missing key is refused (``host_change_pct`` is optional: schema 1 lacks it)."""
        names = [f.name for f in fields(cls) if f.name != "host_change_pct"]
        _require_keys(data, names, source, "a comparison")
        return cls(**{n: data[n] for n in names}, host_change_pct=data.get("host_change_pct"))


@dataclass(frozen=True)
class CaseBaseline:
    """One case of a baseline: its pooled paired ratios and how far the machine alone moved them."""

    ratio: float  # median of the pooled quiet rounds
    ratios: tuple[float, ...]  # every quiet process's rounds, pooled
    process_medians: tuple[float, ...]  # each quiet process's median
    contended_medians: tuple[float, ...]  # each process's median under memory contention
    machine_allowance_pct: float  # how much slower than ``ratio`` the slowest of all those processes ran
    reference_ms: float  # the reference's median block time over the quiet rounds (the host's speed then)

    def to_dict(self) -> dict:
        """The case's entry in baseline.json."""
        return {"ratio": self.ratio, "ratios": list(self.ratios), "process_medians": list(self.process_medians),
                "contended_medians": list(self.contended_medians),
                "machine_allowance_pct": self.machine_allowance_pct, "reference_ms": self.reference_ms}

    @classmethod
    def from_dict(cls, name: str, data: dict, source: str) -> CaseBaseline:
        """Read one case's entry; missing keys and non-positive ratios are refused."""
        what = f"case {name!r}"
        _require_keys(data, ("ratio", "ratios", "process_medians", "contended_medians", "machine_allowance_pct",
                             "reference_ms"), source, what)
        if not all(_is_number(data[k]) for k in ("ratio", "machine_allowance_pct", "reference_ms")):
            raise InferBenchError(f"{source}: {what} needs numbers for 'ratio', 'machine_allowance_pct' and "
                                  "'reference_ms'.", _REPAIR)
        return cls(float(data["ratio"]), _ratios(data["ratios"], source, f"{what} 'ratios'"),
                   _ratios(data["process_medians"], source, f"{what} 'process_medians'", allow_empty=True),
                   _ratios(data["contended_medians"], source, f"{what} 'contended_medians'", allow_empty=True),
                   float(data["machine_allowance_pct"]), float(data["reference_ms"]))


@dataclass(frozen=True)
class Baseline:
    """What ``--update-baseline`` records: per case, paired ratios pooled over fresh processes, a machine allowance."""

    method: str
    reference: str  # what the candidate is paired with
    threads: int
    rounds: int
    processes: int
    contended_processes: int
    contention: str
    environment: dict  # ``kept_environment`` of the machine that recorded it
    cases: dict[str, CaseBaseline]

    def to_dict(self) -> dict:
        """baseline.json's content (schema 3)."""
        return {"schema_version": BASELINE_SCHEMA_VERSION, "method": self.method, "reference": self.reference,
                "threads": self.threads, "rounds": self.rounds, "processes": self.processes,
                "contended_processes": self.contended_processes, "contention": self.contention,
                "environment": dict(self.environment),
                "cases": {name: case.to_dict() for name, case in self.cases.items()}}

    @classmethod
    def from_dict(cls, data: dict, source: str = "the baseline") -> Baseline:
        """Read a schema-3 baseline; missing or malformed entries are refused, naming the entry."""
        store.check_version(data, BASELINE_SCHEMA_VERSION, source, "regression baseline", UPDATE_BASELINE)
        _require_keys(data, ("method", "reference", "threads", "rounds", "processes", "contended_processes",
                             "contention", "environment", "cases"), source, "the baseline")
        threads = data["threads"]
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise InferBenchError(f"{source}: 'threads' must be a whole number >= 1, got {threads!r}.", _REPAIR)
        if not isinstance(data["environment"], dict):
            raise InferBenchError(f"{source}: 'environment' is not a JSON object.", _REPAIR)
        if not isinstance(data["cases"], dict) or not data["cases"]:
            raise InferBenchError(f"{source} has no cases.", _REPAIR)
        cases = {name: CaseBaseline.from_dict(name, entry, source) for name, entry in data["cases"].items()}
        return cls(data["method"], data["reference"], threads, data["rounds"], data["processes"],
                   data["contended_processes"], data["contention"], dict(data["environment"]), cases)

    @classmethod
    def load(cls, path: str | Path) -> Baseline:
        """Read a baseline file: a missing, damaged or other-schema file says how to record one."""
        data = store.read(path, BASELINE_SCHEMA_VERSION, "regression baseline", UPDATE_BASELINE)
        return cls.from_dict(data, str(path))

    def save(self, path: str | Path) -> Path:
        """Write the baseline atomically; it replaces the previous one (``--update-baseline`` does so on purpose)."""
        return store.write_new(path, self.to_dict(), overwrite=True, what="regression baseline")

    def check_machine(self, environment: dict, threads: int, source: str) -> None:
        """Refuse to compare this baseline with a run on another machine setup.

        ``environment`` is this run's captured environment and ``threads`` its
        thread count; the fields compared are those a baseline keeps (CPU model,
        core count, library versions) and the thread count. The error names
        every field that differs.
        """
        recorded = {**self.environment, "threads": self.threads}
        current = {**kept_environment(environment), "threads": threads}
        try:
            require_same_machine(recorded, current, source, "this machine")
        except InferBenchError as exc:
            raise InferBenchError(
                exc.problem,
                f"record a baseline for this machine with `{UPDATE_BASELINE}` (add the same --threads; a few "
                "minutes, and commit it if this is the CI machine), or run the check where the baseline was "
                "recorded.") from None


@dataclass(frozen=True)
class RegressOutcome:
    """The comparisons of one check and the cases confirmed as regressed (``regress --json``).

    ``ratios`` (this run's ratio per round, per case) is kept for callers and
    not written: a file read back has none. ``reference`` says where the
    reference artifacts came from ("" in schema-1 files).
    """

    comparisons: tuple[CaseComparison, ...]
    regressed: tuple[str, ...]
    threshold_pct: float
    memory_contention: bool = False
    ratios: dict[str, list[float]] = field(default_factory=dict)
    reference: str = ""

    def __post_init__(self):
        # Tuples, so the record stays what it was when made even if the caller's lists change.
        object.__setattr__(self, "comparisons", tuple(self.comparisons))
        object.__setattr__(self, "regressed", tuple(self.regressed))

    def to_dict(self) -> dict:
        """The ``regress --json`` file's content (schema 2)."""
        return {"schema_version": OUTCOME_SCHEMA_VERSION, "threshold_pct": self.threshold_pct,
                "memory_contention": self.memory_contention, "reference": self.reference,
                "regressed": list(self.regressed),
                "comparisons": [asdict(c) for c in self.comparisons]}

    @classmethod
    def from_dict(cls, data: dict, source: str = "the regress outcome") -> RegressOutcome:
        """Read a schema-1 or schema-2 outcome."""
        store.check_version(data, OUTCOME_VERSIONS_READ, source, "regress outcome", "infer-bench regress --json PATH")
        _require_keys(data, ("threshold_pct", "memory_contention", "regressed", "comparisons"), source,
                      "the regress outcome")
        return cls(tuple(CaseComparison.from_dict(c, source) for c in data["comparisons"]), tuple(data["regressed"]),
                   data["threshold_pct"], data["memory_contention"], reference=data.get("reference", ""))

    @classmethod
    def load(cls, path: str | Path) -> RegressOutcome:
        """Read a ``regress --json`` file."""
        return cls.from_dict(store.read(path, OUTCOME_VERSIONS_READ, "regress outcome",
                                        "infer-bench regress --json PATH"), str(path))

    def save(self, path: str | Path) -> Path:
        """Write the outcome to ``path``; an existing file is refused."""
        return store.write_new(path, self.to_dict(), what="regress")
