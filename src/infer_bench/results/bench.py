"""Bench results: one ``BenchResult`` per case, the environment once per file.

File shape (``SCHEMA_VERSION`` 1)::

    {"schema_version": 1, "created": "2026-11-28T12:00:00+01:00",
     "environment": {...}, "results": [{...BenchResult...}, ...]}

Raw per-call times are kept in every result; the summary numbers stored next
to them are derived from them. Saving never overwrites an existing file unless
asked to, and every write is atomic, so an interrupted run keeps finished cases.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ..catalog import DEVICES, FORMATS, PRECISIONS
from ..errors import InferBenchError
from ..measure import SUMMARY_KEYS, ColdStart, LatencyStats, Measurement, peak_rss_mb as _peak_rss_mb
from . import store

SCHEMA_VERSION = 1
KIND = "bench"  # files are results/bench-<time>.json
REGENERATE = "infer-bench bench"

# Fields that hold a measurement: all None for a skipped case. (peak_rss_mb and
# bytes describe the process and the artifact, so a skipped case may keep them.)
_MEASURED = ("per_row_ms", "per_call_ms", "throughput_rows_per_s", "calls", "raw_calls_ns", "load_ms", "first_inference_ms")
# Measured fields that may still be None in a measured result (no cold start taken).
_OPTIONAL_MEASURED = ("load_ms", "first_inference_ms")

def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _choice(name: str, value, choices) -> None:
    if value not in choices:
        raise ValueError(f"{name}={value!r} is not one of {tuple(choices)}")


@dataclass(frozen=True)
class BenchResult:
    """One benchmarked case: what ran, how fast, and the raw samples.

    ``device``/``providers``/``threads`` describe what actually ran (from the
    session), not what was asked for; so does ``quantization``: the precision
    the case executed in (for OpenVINO read back from the compiled model, with
    the details in ``extra["execution"]``). A skipped case has ``skipped_reason`` set
    and every measurement field None. ``extra`` is free-form JSON-able detail.
    """

    model: str
    format: str
    quantization: str
    runtime: str
    device: str
    providers: tuple[str, ...]
    threads: int | None
    batch_size: int
    per_row_ms: dict[str, float] | None = None
    per_call_ms: dict[str, float] | None = None
    throughput_rows_per_s: float | None = None
    load_ms: float | None = None
    first_inference_ms: float | None = None
    peak_rss_mb: float | None = None
    bytes: int | None = None
    calls: int | None = None
    raw_calls_ns: tuple[int, ...] | None = None
    skipped_reason: str | None = None
    warnings: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        for name in ("model", "runtime"):
            v = getattr(self, name)
            if not isinstance(v, str) or not v:
                raise ValueError(f"{name}={v!r} must be a non-empty string")
        _choice("format", self.format, FORMATS)
        # The precision that executed: an artifact precision, or an execution precision (bf16)
        # of an fp32 artifact. Older files hold a subset of these names, so they still load.
        _choice("quantization", self.quantization, PRECISIONS)
        _choice("device", self.device, DEVICES)
        # Normalise sequences to tuples so a result is immutable and JSON lists load back equal.
        object.__setattr__(self, "providers", tuple(self.providers))
        object.__setattr__(self, "warnings", tuple(self.warnings))
        if not all(isinstance(p, str) for p in self.providers):
            raise ValueError(f"providers={self.providers!r} must be strings")
        if not all(isinstance(w, str) for w in self.warnings):
            raise ValueError(f"warnings={self.warnings!r} must be strings")
        if not _is_int(self.batch_size) or self.batch_size < 1:
            raise ValueError(f"batch_size={self.batch_size!r} must be an int >= 1")
        if self.threads is not None and (not _is_int(self.threads) or self.threads < 1):
            raise ValueError(f"threads={self.threads!r} must be an int >= 1 or None (all cores)")
        if self.bytes is not None and (not _is_int(self.bytes) or self.bytes < 0):
            raise ValueError(f"bytes={self.bytes!r} must be an int >= 0 or None")
        if self.peak_rss_mb is not None and (not _is_number(self.peak_rss_mb) or self.peak_rss_mb < 0):
            raise ValueError(f"peak_rss_mb={self.peak_rss_mb!r} must be a number >= 0 or None")
        if not isinstance(self.extra, dict):
            raise ValueError(f"extra={self.extra!r} must be a dict")
        if self.raw_calls_ns is not None:
            object.__setattr__(self, "raw_calls_ns", tuple(self.raw_calls_ns))
        if self.skipped_reason is not None:
            self._check_skipped()
        else:
            self._check_measured()

    def _check_skipped(self) -> None:
        if not isinstance(self.skipped_reason, str) or not self.skipped_reason:
            raise ValueError(f"skipped_reason={self.skipped_reason!r} must be a non-empty string or None")
        given = [n for n in _MEASURED if getattr(self, n) is not None]
        if given:
            raise ValueError(f"skipped result (skipped_reason={self.skipped_reason!r}) must not carry measurements, got {given}")

    def _check_measured(self) -> None:
        missing = [n for n in _MEASURED if n not in _OPTIONAL_MEASURED and getattr(self, n) is None]
        if missing:
            raise ValueError(f"measured result is missing {missing} (set skipped_reason for a skipped case)")
        for name in ("per_row_ms", "per_call_ms"):
            v = getattr(self, name)
            if not isinstance(v, dict) or set(v) != set(SUMMARY_KEYS):
                raise ValueError(f"{name}={v!r} must be a dict with keys {SUMMARY_KEYS}")
            if not all(_is_number(x) and x >= 0 for x in v.values()):
                raise ValueError(f"{name}={v!r}: every value must be a finite number >= 0")
            object.__setattr__(self, name, {k: float(v[k]) for k in SUMMARY_KEYS})
        if not _is_number(self.throughput_rows_per_s) or self.throughput_rows_per_s <= 0:
            raise ValueError(f"throughput_rows_per_s={self.throughput_rows_per_s!r} must be a number > 0")
        for name in _OPTIONAL_MEASURED:
            v = getattr(self, name)
            if v is not None and (not _is_number(v) or v < 0):
                raise ValueError(f"{name}={v!r} must be a number >= 0 or None")
        raw = self.raw_calls_ns
        if not raw or not all(_is_int(x) and x > 0 for x in raw):
            raise ValueError("raw_calls_ns must be a non-empty list of ints > 0 (nanoseconds per call)")
        if self.calls != len(raw):
            raise ValueError(f"calls={self.calls!r} does not match len(raw_calls_ns)={len(raw)}")

    @property
    def skipped(self) -> bool:
        return self.skipped_reason is not None

    @property
    def stats(self) -> LatencyStats | None:
        """Statistics recomputed from the raw samples (None for a skipped case)."""
        return None if self.raw_calls_ns is None else LatencyStats(self.raw_calls_ns, self.batch_size)

    @classmethod
    def from_measurement(
        cls,
        measurement: Measurement,
        session,
        *,
        model: str,
        format: str,
        quantization: str,
        cold_start: ColdStart | None = None,
        bytes: int | None = None,
        peak_rss_mb: float | None = None,
        warnings=(),
        extra: dict | None = None,
    ) -> BenchResult:
        """Build a result from a ``Measurement``, the session that ran and metadata.

        ``runtime``/``device``/``providers``/``threads`` come from ``session``
        (what actually ran). ``peak_rss_mb`` defaults to this process's peak so
        far. The noise warnings of the statistics are appended to ``warnings``.
        """
        stats = measurement.stats
        return cls(
            model=model,
            format=format,
            quantization=quantization,
            runtime=session.runtime,
            device=session.device,
            providers=tuple(session.providers),
            threads=session.threads,
            batch_size=measurement.batch_size,
            per_row_ms=stats.per_row_ms.to_dict(),
            per_call_ms=stats.per_call_ms.to_dict(),
            throughput_rows_per_s=stats.throughput_rows_per_s,
            load_ms=None if cold_start is None else cold_start.load_ms,
            first_inference_ms=None if cold_start is None else cold_start.first_inference_ms,
            peak_rss_mb=_peak_rss_mb() if peak_rss_mb is None else peak_rss_mb,
            bytes=bytes,
            calls=stats.calls,
            raw_calls_ns=stats.calls_ns,
            warnings=tuple(warnings) + tuple(stats.noise_warnings()),
            extra=dict(extra or {}),
        )

    @classmethod
    def skipped_case(
        cls, *, model: str, format: str, quantization: str, runtime: str, device: str, batch_size: int, reason: str, **kw
    ) -> BenchResult:
        """A case that was not measured (e.g. "CUDA asked for but no GPU here")."""
        kw.setdefault("providers", ())
        kw.setdefault("threads", None)
        return cls(
            model=model,
            format=format,
            quantization=quantization,
            runtime=runtime,
            device=device,
            batch_size=batch_size,
            skipped_reason=reason,
            **kw,
        )

    def to_dict(self) -> dict:
        """JSON-ready dict (tuples become lists)."""
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            out[f.name] = list(v) if isinstance(v, tuple) else v
        return out

    @classmethod
    def from_dict(cls, d: dict) -> BenchResult:
        """Inverse of ``to_dict``; unknown keys are refused (they signal a different schema)."""
        if not isinstance(d, dict):
            raise ValueError(f"a result must be a JSON object, got {type(d).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown result fields {unknown}; known: {sorted(known)}")
        return cls(**d)


@dataclass(frozen=True)
class ResultsFile:
    """The environment (captured once) and the results of one run."""

    environment: dict
    results: tuple[BenchResult, ...] = ()
    created: str = field(default_factory=store.now_iso)

    def __post_init__(self):
        if not isinstance(self.environment, dict):
            raise ValueError(f"environment must be a dict, got {type(self.environment).__name__}")
        object.__setattr__(self, "results", tuple(self.results))
        bad = [i for i, r in enumerate(self.results) if not isinstance(r, BenchResult)]
        if bad:
            raise ValueError(f"results{bad} are not BenchResult objects")

    def to_dict(self) -> dict:
        return {
            "schema_version": SCHEMA_VERSION,
            "created": self.created,
            "environment": self.environment,
            "results": [r.to_dict() for r in self.results],
        }

    @classmethod
    def from_dict(cls, d: dict, source: str = "results") -> ResultsFile:
        """Build from a loaded JSON object; refuses other schema versions."""
        store.check_version(d, SCHEMA_VERSION, source, "results", REGENERATE)
        try:
            results = tuple(BenchResult.from_dict(r) for r in d.get("results", []))
            return cls(environment=d.get("environment", {}), results=results, created=d.get("created", ""))
        except (TypeError, ValueError) as e:
            raise InferBenchError(f"{source} has an invalid result: {e}", "re-run the benchmark to write a fresh file.") from e


def load_results(path: str | os.PathLike) -> ResultsFile:
    """Read a results file; clear errors for a missing, damaged or other-version file."""
    return ResultsFile.from_dict(store.read(path, SCHEMA_VERSION, "results", REGENERATE), source=str(path))


def save_results(results_file: ResultsFile, folder: str | os.PathLike) -> Path:
    """Write ``folder/bench-YYYYMMDD-HHMMSS.json`` (time of ``created``); never overwrite."""
    return store.write_stamped(folder, KIND, results_file.to_dict(), results_file.created)


def save_results_to(results_file: ResultsFile, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Write to an explicit path (``--json PATH``); refuses an existing file unless ``overwrite``."""
    return store.write_new(path, results_file.to_dict(), overwrite=overwrite)


def latest_results(folder: str | os.PathLike) -> Path | None:
    """The newest ``bench-*.json`` in ``folder`` by the time in its name, or None."""
    return store.latest(folder, KIND)


class ResultsWriter:
    """Writes the results file again after every case, so an interrupted run keeps finished ones.

    ``target`` ending in ``.json`` is an explicit file path (refused at once if
    it exists, unless ``overwrite``); anything else is a folder where a new
    ``bench-*.json`` is created at the first ``add``. ``path`` is where the
    file is (None before the first ``add`` when writing to a folder).
    """

    def __init__(self, target: str | os.PathLike, environment: dict, *, overwrite: bool = False):
        target = Path(target)
        self._explicit = target.suffix == ".json"
        self._target = target
        self._overwrite = overwrite
        self._path: Path | None = None
        self._created = store.now_iso()
        self._environment = environment
        self._results: list[BenchResult] = []
        if self._explicit and target.exists() and not overwrite:
            # Fail before minutes of benchmarking, not after.
            raise store.exists_error(target)

    @property
    def path(self) -> Path | None:
        return self._path if self._path is not None or not self._explicit else self._target

    @property
    def results_file(self) -> ResultsFile:
        return ResultsFile(environment=self._environment, results=tuple(self._results), created=self._created)

    def add(self, result: BenchResult) -> Path:
        """Append ``result`` and rewrite the file atomically. Returns the path."""
        if not isinstance(result, BenchResult):
            raise TypeError(f"expected a BenchResult, got {type(result).__name__}")
        self._results.append(result)
        rf = self.results_file
        try:
            if self._path is None:
                if self._explicit:
                    self._path = save_results_to(rf, self._target, overwrite=self._overwrite)
                else:
                    self._path = save_results(rf, self._target)
            else:
                store.rewrite(self._path, rf.to_dict())
        except BaseException:
            # Keep memory and disk in step: the file does not have this case.
            self._results.pop()
            raise
        return self._path
