"""The decision table's LoadGen rows: per model, the most requests per second under each p99 bound
that ``scenario --find-max-qps`` searched, and the most rows per second offline (pure).

The rows are chosen among EVERY scenario record in the results folder (each
``scenario-*.json``, and each target's record inside a ``fleet-scenario-*.json``) that
was measured on the same machine setup as the benchmark results (``split_by_machine``:
another setup's record is left out and the report says so; records of different
machines are never pooled, since only the matching ones count), from VALID LoadGen
results only, under decide.py's accuracy rule (its ``check_index``,
``accuracy_status`` and ``rank_within_accuracy``, not a copy). Labels say what ran:
the sessions' own thread counts from ``target["executed"]`` (one session per
worker) and the precision the runtime reported. Each row says why: the figure, the
configuration, and the naive "1000 / p50 at batch 1" estimate that ``bench``
measured for the same artifact in the same runtime, as a ratio in words.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from ..catalog import compute_precision
from ..errors import InferBenchError
from ..results.bench import BenchResult
from ..results.check import CheckReport
from ..results.machine import machine_differences
from ..results.scenario import ScenarioRecord, ScenarioRun
from ..scenario.sut import PoolConfig
from .decide import (ACCURACY_WINDOW_PTS, Decision, accuracy_words, check_index, decide, nothing_qualifies,
                     rank_within_accuracy, ratio_words)
from .wording import short_number as _num

NAIVE = "the naive 1000/p50 at batch 1 from bench"
CMD_SEARCH = "`infer-bench scenario --find-max-qps --slo-ms 10`"


class ScenarioFile(NamedTuple):
    """One scenario record and the file it was read from (``target``: the fleet target whose entry of a
    ``fleet-scenario-*.json`` it is; None for a ``scenario-*.json``)."""

    path: Path
    record: ScenarioRecord
    target: str | None = None

    @property
    def name(self) -> str:
        """How the report names it: the file, and the fleet target inside it."""
        return self.path.name if self.target is None else f"{self.path.name} (target {self.target})"


@dataclass(frozen=True)
class ScenarioInputs:
    """The scenario records a report may use (oldest first), and those it may not, each with why."""

    usable: tuple[ScenarioFile, ...] = ()
    left_out: tuple[tuple[Path, str], ...] = ()


def split_by_machine(files, environment: dict, unreadable=()) -> ScenarioInputs:
    """Keep the records measured on ``environment``'s machine setup (the bench results'), oldest first.

    ``files``: ``ScenarioFile``s; ``unreadable``: ``(path, problem)`` of files that
    could not be read, passed through as left out. A record whose environment
    differs (``machine_differences``) is left out, naming the differences.
    """
    if not isinstance(environment, dict):
        raise InferBenchError(f"the benchmark environment is {type(environment).__name__}, not a dict.",
                              "pass the ResultsFile's environment block.")
    usable, left_out = [], [(Path(p), why) for p, why in unreadable]
    for f in sorted(files, key=lambda f: (f.record.created, f.path.name, f.target or "")):
        # Per-worker threads are what a search varies, and each run records its own: only the
        # thread environment variables of the two setups must agree.
        diffs = machine_differences(environment, f.record.environment, requested_threads=False)
        if diffs:
            where = "" if f.target is None else f"target {f.target}: "
            left_out.append((f.path, f"{where}measured on another machine setup than the benchmark results: "
                                     f"{'; '.join(diffs)}"))
        else:
            usable.append(f)
    return ScenarioInputs(tuple(usable), tuple(left_out))


# --- what ran -----------------------------------------------------------------------------------


def ran_precision(target: dict) -> str:
    """The precision that ran, named as bench names it: the runtime's own report when it is another
    compute precision than the artifact's (an fp32 file run in bf16: "bf16"), else the artifact's
    name (a static_int8 IR that OpenVINO reports as "int8" stays "static_int8")."""
    artifact = target["quantization"]
    executed = (target.get("executed") or {}).get("precision")
    return artifact if executed is None or executed == compute_precision(artifact) else executed


def executed_threads(target: dict) -> tuple[int, ...]:
    """Each session's intra-op threads as it ran (one session per worker)."""
    threads = tuple((target.get("executed") or {}).get("threads") or ())
    if not threads:
        raise InferBenchError(f"the scenario record of {target.get('artifact')} names no executed threads.",
                              "run `infer-bench scenario` again: its records say what each session ran.")
    return threads


def serving_words(threads: tuple[int, ...], config: PoolConfig, offline: bool = False) -> str:
    """"2 workers x 1 thread, batches of up to 8 within 2 ms"; offline: "2 threads, batches of 32"."""
    n = len(threads)
    if len(set(threads)) == 1:
        each = f"{threads[0]} thread{'s' if threads[0] != 1 else ''}"
    else:
        each = "threads " + "+".join(map(str, threads))
    if offline:
        return f"{each}, batches of {config.max_batch}"
    batching = (f"batches of up to {config.max_batch} within {config.max_wait_ms:g} ms" if config.max_batch > 1
                else "no batching")
    return f"{n} worker{'s' if n != 1 else ''} x {each}, {batching}"


@dataclass(frozen=True)
class Served:
    """One VALID LoadGen result a row may choose: the artifact as it ran, how it was served, its figure.

    ``value``: the search winner's offered QPS, or Offline's samples per second.
    ``model``/``format``/``quantization``/``runtime`` are what ``accuracy_status`` reads.
    """

    file: ScenarioFile
    run: ScenarioRun
    value: float
    threads: tuple[int, ...]

    @property
    def target(self) -> dict:
        return self.file.record.target

    @property
    def model(self) -> str:
        return self.target["model"]

    @property
    def format(self) -> str:
        return self.target["format"]

    @property
    def quantization(self) -> str:
        return ran_precision(self.target)

    @property
    def runtime(self) -> str:
        return self.target["runtime"]

    @property
    def offline(self) -> bool:
        return self.file.record.scenario == "offline"

    @property
    def artifact(self) -> str:
        return f"{self.format}/{self.quantization} via {self.runtime}"

    @property
    def choice(self) -> str:
        return f"{self.artifact}, {serving_words(self.threads, self.run.config, self.offline)}"


def search_winner(f: ScenarioFile) -> Served | None:
    """The search's winner, backed by the VALID Server run at its rate in the same record (None: no
    search, nothing VALID, or a winner no VALID run backs); an InferBenchError when the record does not
    say what the winner's sessions ran."""
    winner = f.record.winner
    if winner is None:
        return None
    config = PoolConfig(**winner["config"])
    run = next((r for r in f.record.runs if r.valid and r.config == config and r.target_qps is not None
                and math.isclose(r.target_qps, winner["qps"], rel_tol=1e-9)), None)
    if run is None:
        return None
    # What the winner's sessions ran is in its configuration's entry. Records written before the
    # search kept it describe the FIRST configuration in their target, so the target cannot stand in.
    entry = next((c for c in f.record.search.get("configs", []) if c.get("config") == winner["config"]), {})
    if not entry.get("executed_threads"):
        raise InferBenchError(f"{f.name}: its search does not record what the winning configuration "
                              f"({winner.get('label', '?')}) ran (threads per session).",
                              "run the search again: this infer-bench records it.")
    return Served(f, run, float(winner["qps"]), tuple(entry["executed_threads"]))


def offline_runs(f: ScenarioFile) -> list[Served]:
    """Every VALID Offline run of the record, with its samples per second."""
    if f.record.scenario != "offline":
        return []
    return [Served(f, r, r.summary.figures["samples_per_second"], executed_threads(f.record.target))
            for r in f.record.runs if r.valid and r.summary.figures.get("samples_per_second", 0) > 0]


# --- the rows -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RowKey:
    """One LoadGen row of the decision table: a model on a device, at a p99 bound (None: offline)."""

    model: str
    device: str
    slo_ms: float | None

    @property
    def text(self) -> str:
        prefix = "" if self.device == "cpu" else f"{self.device.upper()}: "
        what = ("most rows per second, offline" if self.slo_ms is None
                else f"most requests per second at p99 <= {self.slo_ms:g} ms")
        return f"{prefix}{what}, within {ACCURACY_WINDOW_PTS:g} point"


def row_key(record: ScenarioRecord) -> RowKey | None:
    """The row a record competes for: a search's bound, or offline; None for any other record."""
    t = record.target
    if record.search:
        return RowKey(t["model"], t["device"], float(record.search["slo_ms"]))
    if record.scenario == "offline":
        return RowKey(t["model"], t["device"], None)
    return None


def bench_batch1(results, served: Served) -> BenchResult | None:
    """Bench's batch-1 result of the same artifact, precision, runtime and device (the one run at the
    sessions' thread count first, then the fastest)."""
    same = [r for r in results if not r.skipped and r.batch_size == 1 and r.model == served.model
            and r.format == served.format and r.quantization == served.quantization
            and r.runtime == served.runtime and r.device == served.target["device"] and r.per_row_ms["p50"] > 0]
    return min(same, key=lambda r: (r.threads != served.threads[0], r.per_row_ms["p50"]), default=None)


def _naive_words(results, best: Served, numbers: dict) -> str:
    bench = bench_batch1(results, best)
    if bench is None:
        return f"bench did not measure {best.artifact} at batch 1 (no naive 1000/p50 to compare)"
    naive = 1000.0 / bench.per_row_ms["p50"]
    numbers["naive_qps"] = naive
    threads = "all cores" if bench.threads is None else f"{bench.threads} thread{'s' if bench.threads != 1 else ''}"
    return ratio_words(naive, best.value, True, f"{NAIVE} ({_num(naive)}/s, {threads})")


def _why(key: RowKey, best: Served, delta: float | None, no_check: bool, excluded, results,
         searched: int) -> tuple[str, dict]:
    config = best.run.config
    numbers = {"value": best.value, "unit": "rows/s" if key.slo_ms is None else "QPS", "workers": len(best.threads),
               "threads": list(best.threads), "max_batch": config.max_batch, "max_wait_ms": config.max_wait_ms,
               "record": str(best.file.path)}
    if key.slo_ms is None:
        parts = [f"{_num(best.value)} rows/s, VALID offline run"]
    else:
        p99 = best.run.summary.latency_ms.get("p99")
        numbers.update(slo_ms=key.slo_ms, p99_ms=p99)
        at = "" if p99 is None else f"; p99 {p99:.2f} ms at that rate"
        parts = [f"{_num(best.value)} QPS with a VALID LoadGen result at p99 <= {key.slo_ms:g} ms"
                 f"{at}; best of {searched} search(es)"]
    parts[0] += ", " + _naive_words(results, best, numbers)
    parts += accuracy_words(delta, no_check, numbers)
    if excluded is not None:
        other, reason = excluded
        parts.append(f"more but excluded: {other.choice} ({_num(other.value)} {numbers['unit']}; {reason})")
    parts.append(f"from `{best.file.name}`")
    return "; ".join(parts), numbers


def _decide_row(key: RowKey, files: list[ScenarioFile], results, index) -> Decision:
    if key.slo_ms is None:
        served = [s for f in files for s in offline_runs(f)]
    else:
        served = [s for f in files if (s := search_winner(f)) is not None]
    if not served:
        what = (f"no VALID offline run in {len(files)} record(s)" if key.slo_ms is None
                else f"no VALID configuration in {len(files)} search(es)")
        return Decision(key.model, key.text, "none", {},
                        f"{what}: {', '.join(f'`{f.name}`' for f in files)}")
    # Most first; equal figures go to a stable order (the choice's words, then the file name).
    scored = sorted(((s, s.value) for s in served), key=lambda sv: (-sv[1], sv[0].choice, sv[0].file.name))
    qualifying, excluded = rank_within_accuracy(scored, index)
    if not qualifying:
        return Decision(key.model, key.text, "none", {}, nothing_qualifies(scored, index))
    best, _, delta = qualifying[0]
    why, numbers = _why(key, best, delta, index is None, excluded, results, len(files))
    return Decision(key.model, key.text, best.choice, numbers, why)


def scenario_decisions(inputs: ScenarioInputs, results, check: CheckReport | None = None) -> list[Decision]:
    """The LoadGen rows: per model, one per p99 bound searched (lowest bound first), then offline.

    ``inputs``: ``split_by_machine``'s usable records. ``results``: the bench
    ``ResultsFile`` (or its ``BenchResult``s), for the naive 1000/p50.
    ``check``: the ``CheckReport`` the accuracy rule reads (None: fp32 only).
    """
    rs = list(getattr(results, "results", results))
    rows: dict[RowKey, list[ScenarioFile]] = {}
    for f in inputs.usable:
        key = row_key(f.record)
        if key is not None:
            rows.setdefault(key, []).append(f)
    models = list(dict.fromkeys(k.model for k in rows))
    order = sorted(rows, key=lambda k: (models.index(k.model), k.device, k.slo_ms is None, k.slo_ms or 0.0))
    index = check_index(check)
    return [_decide_row(k, rows[k], rs, index) for k in order]


def all_decisions(results_file, check: CheckReport | None, scenarios: ScenarioInputs | None) -> list[Decision]:
    """The bench decisions (``decide``), each model's LoadGen rows from ``scenarios`` right after its own
    (None: bench rows only)."""
    decisions = decide(results_file, check)
    if scenarios is None:
        return decisions
    return merge_by_model(decisions, scenario_decisions(scenarios, results_file, check))


def merge_by_model(decisions: list[Decision], extra: list[Decision]) -> list[Decision]:
    """``decisions`` with each model's ``extra`` rows right after its own; extra models at the end."""
    models = list(dict.fromkeys([d.model for d in decisions] + [d.model for d in extra]))
    return [d for m in models for d in decisions + extra if d.model == m]


def rows_note(inputs: ScenarioInputs) -> str:
    """The decision section's sentence on the LoadGen rows: where they come from, what was left out."""
    if not inputs.usable and not inputs.left_out:
        return (f"No LoadGen scenario records, so no requests-per-second rows: run {CMD_SEARCH} "
                "(and `--scenario offline` for rows per second).")
    text = (f"LoadGen rows (\"most requests per second at p99 <= X ms\", \"most rows per second, offline\"): the "
            f"best VALID LoadGen result among the {len(inputs.usable)} scenario record(s) measured on this machine "
            f"setup, under the same accuracy rule; \"{NAIVE}\" is what one session answering back to back "
            "would serve.")
    if inputs.left_out:
        text += " Left out: " + "; ".join(f"`{p.name}` ({why})" for p, why in inputs.left_out) + "."
    return text


def check_record(f: ScenarioFile, *readers) -> None:
    """Raise an InferBenchError when the rows, or any of ``readers`` (functions of a ``ScenarioFile``),
    cannot read ``f`` (a search block or target missing keys, say): such a file is left out, not fatal."""
    try:
        ran_precision(f.record.target)
        executed_threads(f.record.target)
        row_key(f.record)
        search_winner(f)
        offline_runs(f)
        for read in readers:
            read(f)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        where = f.path if f.target is None else f"{f.path} (target {f.target})"
        raise InferBenchError(f"{where} lacks what the decision rows read ({type(exc).__name__}: {exc}).",
                              "run `infer-bench scenario` again to write a complete record.") from exc
