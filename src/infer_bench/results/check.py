"""The record of an accuracy check (``results/check-*.json``): one typed, versioned writer and reader.

File shape (``SCHEMA_VERSION`` 2)::

    {"schema_version": 2, "created": "...", "environment": {...}, "exported": "exported" | null,
     "ok": true, "seconds": 61.2, "reference_runtime": "keras_predict", "rel_diff_floor": 0.001,
     "random_inputs": {"rows": 256, "seed": 1234, "low": 0.0, "high": 1.0, "distribution": "uniform"},
     "tolerances": {PRECISION: {"max_abs_diff": ..., "min_agreement": ..., ...}, ...},
     "results": [{...one CheckResult...}, ...]}

Version 2 adds three keys to every result: ``layer_errors`` (a list of
``quant.records.LayerError``, worst first: ``keras_layer``, ``tensor``,
``sqnr_db``, ``rel_error``, ``grid_sqnr_db``, ``clipped``, ``scale``; empty
where none were measured) and ``repair`` (``quant.records.Repair`` or null),
plus ``layer_error_note`` (why a static int8 artifact has no layer errors).
Version 1 files are still read: their results get no layer errors and no repair.

``environment`` (``environment.capture_environment``) is written by this
version and optional when reading: files written before it have none (the
record then holds None and ``to_dict`` leaves the key out).

Attribute names are the JSON keys: ``entry.top1_agreement``,
``entry.max_abs_diff``, ``entry.verdict``, ``entry.reasons``... each give
exactly the value the file holds (a non-finite difference is None there, as
in the file). The exceptions:

- ``CheckReport.entries`` holds the records of the file's ``results`` list;
- ``CheckResult.test`` and ``CheckResult.random`` are the full
  ``OutputComparison`` on the test set and on the random inputs (None where
  the artifact could not be run), infinite differences included; the flat
  keys are read from them. The file does not keep the random comparison's
  count of NaN/inf outputs, so a loaded ``random.nonfinite`` is None;
- ``tolerances`` stay the plain JSON rows (``check.tolerances`` builds them),
  so this module does not import the ``check`` package that produces it.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from ..catalog import REFERENCE_RUNTIME
from ..errors import InferBenchError
from ..quant.records import LayerError, Repair
from . import store

SCHEMA_VERSION = 2
READS = (1, 2)  # version 1 files (no layer errors, no repair) are still read
KIND = "check"  # files are results/check-<time>.json
WHAT = "check"
REGENERATE = "infer-bench check"
PASS, FAIL = "PASS", "FAIL"


def _finite(x: float | None) -> float | None:
    """``x``, or None where it is missing or not finite (JSON has no inf)."""
    return None if x is None or not math.isfinite(x) else float(x)


def _unfinite(x: float | None) -> float:
    """Inverse of ``_finite`` for a comparison that exists: None was a non-finite difference."""
    return math.inf if x is None else float(x)


@dataclass(frozen=True)
class OutputComparison:
    """How far an artifact's outputs are from the Keras model's on the same rows."""

    rows: int
    max_abs_diff: float
    mean_abs_diff: float
    max_rel_diff: float  # |a - k| / max(|k|, rel_diff_floor)
    top1_agreement: float  # share of rows with the same predicted class
    nonfinite: int | None = 0  # NaN / inf values in the artifact's outputs (None: not recorded)
    flip_margin: float | None = None  # Keras' largest top-1 lead among the disagreeing rows (None: none disagree)
    boundary_share: float | None = None  # share of all rows with a lead <= flip_margin


def _flat(side: str, name: str, doc: str, exact: bool = False, absent=None) -> property:
    """A read-only attribute giving the file's value of ``name`` of the ``side`` comparison
    ("test" or "random"): ``absent`` without one, a non-finite number as None unless ``exact``."""
    def get(self):
        comparison = getattr(self, side)
        if comparison is None:
            return absent
        value = getattr(comparison, name)
        return value if exact else _finite(value)

    return property(get, doc=doc)


@dataclass(frozen=True)
class CheckResult:
    """One artifact checked against its Keras model. Metrics are None where it could not be run."""

    model: str
    format: str
    quantization: str
    path: str
    runtime: str | None
    reference_accuracy: float | None
    test_accuracy: float | None
    test: OutputComparison | None
    random: OutputComparison | None
    reasons: tuple[str, ...]
    seconds: float
    extra: bool = False  # given as an extra artifact, not listed in the export's manifest
    layer_errors: tuple[LayerError, ...] = ()  # worst first (quant.sqnr.rank_layers)
    layer_error_note: str = ""  # why a static int8 artifact has no layer errors
    repair: Repair | None = None  # what the repair loop did (static int8 that missed its budget)

    def __post_init__(self):
        object.__setattr__(self, "reasons", tuple(self.reasons))
        object.__setattr__(self, "layer_errors", tuple(self.layer_errors))
        if not all(isinstance(e, LayerError) for e in self.layer_errors):
            raise InferBenchError(f"{self.model}: layer_errors must be LayerError records.")
        if self.repair is not None and not isinstance(self.repair, Repair):
            raise InferBenchError(f"{self.model}: repair must be a Repair record or None.")

    @property
    def passed(self) -> bool:
        """True when nothing is wrong with the artifact."""
        return not self.reasons

    @property
    def verdict(self) -> str:
        """``PASS`` or ``FAIL``."""
        return PASS if self.passed else FAIL

    @property
    def label(self) -> str:
        """e.g. "simple_cnn onnx/fp16"; an extra artifact adds its file name."""
        return f"{self.model} {self.format}/{self.quantization}" + (f" ({Path(self.path).name})" if self.extra else "")

    @property
    def accuracy_delta_pts(self) -> float | None:
        """Artifact accuracy minus Keras accuracy, in percentage points (negative: it lost accuracy)."""
        if self.test_accuracy is None or self.reference_accuracy is None:
            return None
        return (self.test_accuracy - self.reference_accuracy) * 100

    # The flat JSON values of the two comparisons: None where the artifact was not run or a
    # difference is not finite (the file's null).
    top1_agreement = _flat("test", "top1_agreement", "Share of test rows with Keras' top-1 class.", exact=True)
    max_abs_diff = _flat("test", "max_abs_diff", "Largest absolute output difference on the test set.")
    mean_abs_diff = _flat("test", "mean_abs_diff", "Mean absolute output difference on the test set.")
    max_rel_diff = _flat("test", "max_rel_diff", "Largest relative output difference on the test set.")
    nonfinite_outputs = _flat("test", "nonfinite", "NaN/inf output values on the test set.", exact=True)
    flip_margin = _flat("test", "flip_margin", "Keras' largest top-1 lead among the rows that disagree.")
    boundary_share = _flat("test", "boundary_share", "Share of test rows with a lead no larger than flip_margin.")
    random_max_abs_diff = _flat("random", "max_abs_diff", "Largest absolute output difference on random inputs.")
    random_mean_abs_diff = _flat("random", "mean_abs_diff", "Mean absolute output difference on random inputs.")
    random_max_rel_diff = _flat("random", "max_rel_diff", "Largest relative output difference on random inputs.")
    random_top1_agreement = _flat("random", "top1_agreement", "Share of random rows with Keras' top-1 class.",
                                  exact=True)
    rows = _flat("test", "rows", "Test rows compared (0: not run).", exact=True, absent=0)
    random_rows = _flat("random", "rows", "Random rows compared (0: not run).", exact=True, absent=0)

    def to_dict(self) -> dict:
        """JSON-ready form, keys in the file's order (non-finite numbers become null)."""
        out = {key: list(self.reasons) if key == "reasons" else getattr(self, key) for key in RESULT_KEYS}
        out.update(flip_margin=self.flip_margin, boundary_share=self.boundary_share,
                   layer_errors=[e.to_dict() for e in self.layer_errors], layer_error_note=self.layer_error_note,
                   repair=None if self.repair is None else self.repair.to_dict())
        return out

    @classmethod
    def from_dict(cls, data, source: str = WHAT) -> CheckResult:
        """Read one entry of the file's ``results``; a clear error naming a missing or mistyped key."""
        _require_keys(data, RESULT_KEYS, source, "a result")
        for key, kind in _RESULT_TYPES.items():
            _require_type(data[key], kind, f"{source}: result {key}")
        if (data["verdict"] == PASS) != (not data["reasons"]) or data["verdict"] not in (PASS, FAIL):
            raise _invalid(f"{source}: result verdict {data['verdict']!r} does not match its reasons "
                           f"{data['reasons']!r}")
        test = random = None
        if data["top1_agreement"] is not None:
            test = OutputComparison(data["rows"], _unfinite(data["max_abs_diff"]), _unfinite(data["mean_abs_diff"]),
                                    _unfinite(data["max_rel_diff"]), data["top1_agreement"], data["nonfinite_outputs"],
                                    data.get("flip_margin"), data.get("boundary_share"))
        if data["random_top1_agreement"] is not None:
            random = OutputComparison(data["random_rows"], _unfinite(data["random_max_abs_diff"]),
                                      _unfinite(data["random_mean_abs_diff"]), _unfinite(data["random_max_rel_diff"]),
                                      data["random_top1_agreement"], None)
        # Version 2 keys; a version 1 result has none of them (nor files written before 2026-12-02 the flip keys).
        for key, kind in (("layer_errors", "list"), ("layer_error_note", "str"), ("repair", "dict?"),
                          ("flip_margin", "num?"), ("boundary_share", "num?")):
            _require_type(data.get(key, [] if key == "layer_errors" else "" if key == "layer_error_note" else None),
                          kind, f"{source}: result {key}")
        errors = tuple(LayerError.from_dict(e, f"{source}: a layer error") for e in data.get("layer_errors", []))
        repair = Repair.from_dict(data["repair"]) if data.get("repair") is not None else None
        return cls(data["model"], data["format"], data["quantization"], data["path"], data["runtime"],
                   data["reference_accuracy"], data["test_accuracy"], test, random, tuple(data["reasons"]),
                   data["seconds"], data["extra"], errors, data.get("layer_error_note", ""), repair)


RESULT_KEYS = ("model", "format", "quantization", "path", "runtime", "reference_accuracy", "test_accuracy",
               "accuracy_delta_pts", "top1_agreement", "max_abs_diff", "mean_abs_diff", "max_rel_diff",
               "nonfinite_outputs", "random_max_abs_diff", "random_mean_abs_diff", "random_max_rel_diff",
               "random_top1_agreement", "rows", "random_rows", "verdict", "reasons", "seconds", "extra")
# What each key of a result must hold: "?" also allows null. Derived keys are recomputed, not read.
_RESULT_TYPES = {"model": "str", "format": "str", "quantization": "str", "path": "str", "runtime": "str?",
                 "reference_accuracy": "num?", "test_accuracy": "num?", "top1_agreement": "num?",
                 "max_abs_diff": "num?", "mean_abs_diff": "num?", "max_rel_diff": "num?", "nonfinite_outputs": "int?",
                 "random_max_abs_diff": "num?", "random_mean_abs_diff": "num?", "random_max_rel_diff": "num?",
                 "random_top1_agreement": "num?", "rows": "int", "random_rows": "int", "verdict": "str",
                 "reasons": "strs", "seconds": "num", "extra": "bool"}


@dataclass(frozen=True)
class RandomInputs:
    """The seeded random inputs every artifact also ran on: ``rows`` images uniform over [low, high]."""

    rows: int
    seed: int
    low: float
    high: float
    distribution: str = "uniform"

    def to_dict(self) -> dict:
        """The file's ``random_inputs`` object."""
        return {"rows": self.rows, "seed": self.seed, "low": self.low, "high": self.high,
                "distribution": self.distribution}


@dataclass(frozen=True)
class CheckReport:
    """All results of one check, with the tolerances they were judged by and how the check ran."""

    entries: tuple[CheckResult, ...]
    tolerances: dict[str, dict]  # {precision: Tolerance fields}, as ``check.tolerances.tolerances_to_dict`` gives
    exported: str | None
    created: str
    seconds: float
    random_inputs: RandomInputs
    rel_diff_floor: float
    reference_runtime: str = REFERENCE_RUNTIME
    environment: dict | None = None

    def __post_init__(self):
        object.__setattr__(self, "entries", tuple(self.entries))
        bad = [i for i, e in enumerate(self.entries) if not isinstance(e, CheckResult)]
        if bad:
            raise InferBenchError(f"CheckReport: entries {bad} are not CheckResult records.")

    @property
    def ok(self) -> bool:
        """True when every artifact passed."""
        return all(r.passed for r in self.entries)

    @property
    def failed(self) -> list[CheckResult]:
        """The artifacts that failed, in check order."""
        return [r for r in self.entries if not r.passed]

    @property
    def random_rows(self) -> int:
        """Random input rows each artifact ran on."""
        return self.random_inputs.rows

    def to_dict(self) -> dict:
        """The versioned JSON form (no ``environment`` key when there is none)."""
        out = {"schema_version": SCHEMA_VERSION, "created": self.created}
        if self.environment is not None:
            out["environment"] = self.environment
        out.update(exported=self.exported, ok=self.ok, seconds=self.seconds, reference_runtime=self.reference_runtime,
                   rel_diff_floor=self.rel_diff_floor, random_inputs=self.random_inputs.to_dict(),
                   tolerances=self.tolerances, results=[r.to_dict() for r in self.entries])
        return out

    @classmethod
    def from_dict(cls, data, source: str = WHAT) -> CheckReport:
        """Read the file's JSON object; refuses another schema version and names what is missing or wrong."""
        store.check_version(data, READS, source, WHAT, REGENERATE)
        _require_keys(data, _REPORT_KEYS, source, "the check")
        for key, kind in (("created", "str"), ("exported", "str?"), ("ok", "bool"), ("seconds", "num"),
                          ("reference_runtime", "str"), ("rel_diff_floor", "num"), ("random_inputs", "dict"),
                          ("tolerances", "dict"), ("results", "list"), ("environment", "dict?")):
            _require_type(data.get(key), kind, f"{source}: {key}")
        rnd = data["random_inputs"]
        _require_keys(rnd, ("rows", "seed", "low", "high", "distribution"), source, "random_inputs")
        if not all(isinstance(row, dict) for row in data["tolerances"].values()):
            raise _invalid(f"{source}: a tolerances row is not an object")
        entries = tuple(CheckResult.from_dict(r, f"{source} (result {i + 1})") for i, r in enumerate(data["results"]))
        report = cls(entries, data["tolerances"], data["exported"], data["created"], data["seconds"],
                     RandomInputs(rnd["rows"], rnd["seed"], rnd["low"], rnd["high"], rnd["distribution"]),
                     data["rel_diff_floor"], data["reference_runtime"], data.get("environment"))
        if report.ok != data["ok"]:
            raise _invalid(f"{source}: ok is {data['ok']!r} but {len(report.failed)} result(s) fail")
        return report


def merge_reports(reports: list[CheckReport]) -> CheckReport:
    """One report of several checks of the same export folder (``run`` checks each model in its own process).

    The entries follow the reports' order; the time is their sum; the rest is the first report's,
    and must be the same in all of them (a merge of checks judged by other tolerances, on other
    random inputs or of another export folder would mix results that cannot be compared).
    """
    if not reports:
        raise InferBenchError("merge_reports: no check reports to merge.")
    first = reports[0]
    for other in reports[1:]:
        for field in ("tolerances", "exported", "random_inputs", "rel_diff_floor", "reference_runtime"):
            if getattr(other, field) != getattr(first, field):
                raise InferBenchError(f"The checks to merge differ in {field}: {getattr(first, field)!r} "
                                      f"against {getattr(other, field)!r}.",
                                      "merge only checks of one export folder run with the same settings.")
    return CheckReport(entries=tuple(e for r in reports for e in r.entries), tolerances=first.tolerances,
                       exported=first.exported, created=first.created, seconds=sum(r.seconds for r in reports),
                       random_inputs=first.random_inputs, rel_diff_floor=first.rel_diff_floor,
                       reference_runtime=first.reference_runtime, environment=first.environment)


_REPORT_KEYS = ("created", "exported", "ok", "seconds", "reference_runtime", "rel_diff_floor", "random_inputs",
                "tolerances", "results")


def _invalid(problem: str) -> InferBenchError:
    return InferBenchError(problem + ".", f"run `{REGENERATE}` to write a fresh check file.")


def _require_keys(data, keys, source: str, what: str) -> None:
    """Refuse a non-object or an object lacking any of ``keys``, naming them."""
    if not isinstance(data, dict):
        raise _invalid(f"{source}: {what} is {type(data).__name__}, not an object")
    lacking = [k for k in keys if k not in data]
    if lacking:
        raise _invalid(f"{source}: {what} lacks {', '.join(lacking)}")


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


_KINDS = {
    "str": lambda v: isinstance(v, str),
    "num": _is_number,
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "bool": lambda v: isinstance(v, bool),
    "dict": lambda v: isinstance(v, dict),
    "list": lambda v: isinstance(v, list),
    "strs": lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
}


def _require_type(value, kind: str, name: str) -> None:
    """Refuse ``value`` unless it is of ``kind`` ("num", "str?", ...; "?" also allows None)."""
    optional = kind.endswith("?")
    base = kind.rstrip("?")
    if not ((optional and value is None) or _KINDS[base](value)):
        expected = {"num": "a number", "int": "an integer", "strs": "a list of strings"}.get(base, f"a {base}")
        raise _invalid(f"{name} is {value!r}, not {expected}" + (" or null" if optional else ""))


def save_check(report: CheckReport, folder: str | os.PathLike, json_path: str | os.PathLike | None = None,
               *, overwrite: bool = False) -> Path:
    """Write ``report``: to ``json_path`` (refused if it exists, unless ``overwrite``) or a new
    ``folder/check-YYYYMMDD-HHMMSS[-N].json`` (time of ``created``).

    Atomic and never overwriting by itself (``results.store``); NaN or Inf is
    refused before anything is written. Returns the path written.
    """
    data = report.to_dict()
    if overwrite and json_path is not None:
        return store.write_new(json_path, data, overwrite=True, what=WHAT)
    return store.write(data, KIND, report.created, folder, json_path, what=WHAT)


def load_check(path: str | os.PathLike) -> CheckReport:
    """Read a ``check-*.json``; a clear error when it is missing, damaged, of another version or incomplete."""
    return CheckReport.from_dict(store.read(path, READS, WHAT, REGENERATE), str(path))


def latest_check(folder: str | os.PathLike) -> Path | None:
    """The newest ``check-*.json`` in ``folder`` (by the time in its name), or None."""
    return store.latest(folder, KIND)
