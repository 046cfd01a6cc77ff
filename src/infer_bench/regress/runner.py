"""The gate's measurements and the whole check: paired A/B rounds, fresh processes, baseline, verdict.

Every block is timed by the suite's one timing core (``measure.time_pairs`` over
``measure.time_calls``, twice ``REGRESSION_BLOCK``'s time). Each case's candidate (the code under
test) is timed right beside its reference (``reference.reference_run`` on the
baseline commit's export), in alternating order, and the figure judged is
their ratio.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..bench import input_rotation
from ..inputs import InputSpec
from ..environment import capture_environment
from ..errors import InferBenchError
from ..measure import REGRESSION_BLOCK, time_pairs
from ..models import get_spec
from ..results.regress import Baseline, RegressOutcome, kept_environment
from ..runtimes import LoadOptions, get_runtime
from .baselines import BASELINE_DIR, baseline_for_machine
from .contention import CONTENTION_MIB, MemoryContention, require_spare_core
from .fastset import FAST_SET, case_id, fast_set_artifacts, resolve_cases
from .reference import ReferenceExports, reference_exports, reference_run, require_committed_exports
from .stats import CaseComparison, compare_ratios, pool_processes

DEFAULT_BASELINE = Path("benchmarks") / "baseline.json"
DEFAULT_THRESHOLD_PCT = 10.0
DEFAULT_ROUNDS = 9
# Single-threaded by default: on a 2-core shared machine a 2-thread run is at the
# mercy of whatever else runs on the other core; one thread is far steadier.
DEFAULT_THREADS = 1
BASELINE_PROCESSES = 5  # fresh quiet processes pooled into a baseline ...
CONTENDED_PROCESSES = 3  # ... and fresh processes under memory contention, for the machine allowance
METHOD = "candidate/reference time ratio, paired A/B blocks in alternating order, pooled over fresh processes"
REFERENCE = "plain runtime calls (regress.reference) on the baseline commit's fast-set exports"
WORKER = "infer_bench.regress.worker"
# A pair is two calls: twice the single-run block's time, the same minimum count.
PAIRED_BLOCK = REGRESSION_BLOCK.with_min_time(2 * REGRESSION_BLOCK.min_time_s)


def paired_block(reference: Callable, candidate: Callable, batches: Sequence[np.ndarray],
                 start: int) -> tuple[float, float]:
    """One paired block: (median of candidate/reference over its call pairs, the reference's median ms).

    Pairs of calls (``measure.time_pairs``) until both sides together ran 80 ms
    and 5 pairs: a neighbour that takes the core for a few milliseconds spoils
    one pair, which the median drops, not a whole block.
    """
    pairs = np.asarray(time_pairs(reference, candidate, batches, PAIRED_BLOCK, start=start), dtype=float)
    return float(np.median(pairs[:, 1] / pairs[:, 0])), float(np.median(pairs[:, 0])) / 1e6


def with_slowdown(run: Callable, fraction: float) -> Callable:
    """Test-only: make every call ``fraction`` slower by spinning after it (no sleep: its granularity is too coarse)."""
    clock = time.perf_counter_ns

    def slowed(batch):
        t0 = clock()
        out = run(batch)
        until = t0 + (clock() - t0) * (1.0 + fraction)
        while clock() < until:
            pass
        return out

    return slowed


def measure_pairs(pairs: dict[str, tuple[Callable, Callable, Sequence[np.ndarray]]], rounds: int, seed: int = 0,
                  log: Callable[[str], None] = print) -> dict[str, dict[str, list[float]]]:
    """Per case and round: the paired ratio candidate / reference (``paired_block``) and the reference's ms.

    ``pairs`` maps a case to (reference run, candidate run, batches). Each
    round visits the cases in a fresh seeded order.
    """
    rng = np.random.default_rng(seed)
    names = list(pairs)
    for reference, candidate, batches in pairs.values():  # warm every session before the first round
        paired_block(reference, candidate, batches, 0)
    out = {n: {"ratios": [], "reference_ms": []} for n in names}
    for r in range(rounds):
        for name in rng.permutation(names):
            ratio, reference_ms = paired_block(*pairs[name], r)
            out[name]["ratios"].append(ratio)
            out[name]["reference_ms"].append(reference_ms)
        log(f"  round {r + 1}/{rounds} done")
    return out


def measure_cases(cases: Sequence[str], rounds: int, threads: int, seed: int = 0, data_dir=None,
                  with_contention: bool = False, slowdowns: dict[str, float] | None = None,
                  reference_paths: dict[str, str] | None = None,
                  log: Callable[[str], None] = print) -> dict[str, dict[str, list[float]]]:
    """Load each case's candidate and reference in this process and measure them in pairs (``measure_pairs``).

    ``reference_paths`` ({"model/format": path}) names the reference artifacts;
    without it (or for a model it lacks) the candidate's file is the reference.
    ``with_contention`` measures while :class:`MemoryContention` runs;
    ``slowdowns`` ({case: fraction}) slow candidates on purpose, to test the gate.
    Runs in the worker process, which has configured TensorFlow's threads.
    """
    slowdowns = dict(slowdowns or {})
    resolve_cases(list(slowdowns))
    chosen = dict(zip(cases, resolve_cases(cases)))
    artifacts = fast_set_artifacts(log=log, models=[case[0] for case in chosen.values()])
    references = dict(reference_paths or {})
    pairs, sessions, inputs = {}, [], {}
    try:
        for name, (model, fmt, _, runtime, batch) in chosen.items():
            session = get_runtime(runtime).load(artifacts[(model, fmt)], LoadOptions(threads=threads))
            sessions.append(session)
            ref_path = Path(references.get(f"{model}/{fmt}", artifacts[(model, fmt)]))
            reference = reference_run(runtime, ref_path, threads, batch)
            run = with_slowdown(session.run, slowdowns[name]) if name in slowdowns else session.run
            batches = input_rotation(InputSpec(get_spec(model).dataset), data_dir, inputs).batches(batch)
            pairs[name] = (reference, run, batches)
        with MemoryContention() if with_contention else nullcontext():
            return measure_pairs(pairs, rounds, seed=seed, log=log)
    finally:
        for session in sessions:
            session.close()


def measure_in_fresh_process(cases: Sequence[str], rounds: int, threads: int, seed: int = 0, data_dir=None,
                             with_contention: bool = False, slowdowns: dict[str, float] | None = None,
                             reference_paths: dict[str, str] | None = None,
                             log: Callable[[str], None] | None = None) -> dict[str, dict[str, list[float]]]:
    """``measure_cases`` in a new Python process, as CI runs it: a process's memory layout is part of the result.

    With ``log``, the worker's progress lines are passed to it as they come.
    """
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "pairs.json"
        spec = {"out": str(out), "cases": list(cases), "rounds": rounds, "threads": threads, "seed": seed,
                "data_dir": None if data_dir is None else str(data_dir), "with_contention": with_contention,
                "slowdowns": dict(slowdowns or {}), "reference_paths": dict(reference_paths or {}),
                "log": log is not None}
        # stderr goes to a file, not a pipe: a chatty library could fill a pipe nobody reads while stdout is read.
        with open(Path(tmp) / "stderr.txt", "w+") as err:
            proc = subprocess.Popen([sys.executable, "-m", WORKER, json.dumps(spec)], stdout=subprocess.PIPE,
                                    stderr=err, text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
            with proc.stdout:
                for line in proc.stdout:
                    if log is not None:
                        log(line.rstrip("\n"))
            code = proc.wait()
            err.seek(0)
            stderr = err.read()
        if code != 0 or not out.exists():
            raise InferBenchError(f"A measurement process failed (exit {code}): {stderr.strip()[-1500:]}")
        return json.loads(out.read_text())


def make_baseline(per_process: Sequence[dict], contended: Sequence[dict], threads: int, rounds: int,
                  environment: dict) -> Baseline:
    """The baseline of quiet and contended processes' paired ratios (see ``stats.pool_processes``)."""
    return Baseline(METHOD, REFERENCE, threads, rounds, len(per_process), len(contended),
                    f"processes measured while another streams {CONTENTION_MIB} MiB through memory",
                    kept_environment(environment), pool_processes(per_process, contended))


def record_baseline(path: Path, rounds: int, threads: int, data_dir=None,
                    log: Callable[[str], None] = print) -> Baseline:
    """Measure ``BASELINE_PROCESSES`` fresh quiet processes and ``CONTENDED_PROCESSES`` under memory contention.

    The reference is the candidate itself here (both are this commit's
    exports), so the ratios record what the adapter costs over the plain call.
    """
    require_spare_core(threads, "--update-baseline (its contention run)")
    require_committed_exports()
    fast_set_artifacts(log=log)  # built once here, so the measuring processes find them cached
    names = [case_id(c) for c in FAST_SET]
    plan = [(False, f"quiet process {i + 1}/{BASELINE_PROCESSES}") for i in range(BASELINE_PROCESSES)]
    plan += [(True, f"process under memory contention {i + 1}/{CONTENDED_PROCESSES}")
             for i in range(CONTENDED_PROCESSES)]
    measured = []
    for seed, (with_contention, label) in enumerate(plan):
        t0 = time.perf_counter()
        measured.append(measure_in_fresh_process(names, rounds, threads, seed=seed, data_dir=data_dir,
                                                 with_contention=with_contention))
        log(f"  {label}: {len(names)} cases x {rounds} rounds ({time.perf_counter() - t0:.0f} s)")
    baseline = make_baseline(measured[:BASELINE_PROCESSES], measured[BASELINE_PROCESSES:], threads, rounds,
                             capture_environment(threads))
    baseline.save(path)
    return baseline


def confirms(second: CaseComparison, pooled: CaseComparison) -> bool:
    """A suspect is confirmed when the fresh process also finds it slower than its threshold (median) and
    both processes' rounds together put the lower end of the 95% interval above the threshold."""
    return second.change_pct > second.threshold_pct and pooled.regressed


def _reference_for(baseline: Baseline, names: Sequence[str], log: Callable[[str], None]) -> ReferenceExports:
    """The candidate's fast-set exports for ``names`` (built here, with their log) and the matching reference."""
    candidate = fast_set_artifacts(log=log, models=[case[0] for case in resolve_cases(names)])
    return reference_exports(baseline.environment.get("git_commit") or "", candidate, log)


def run_regress(baseline_path: Path | None, threshold_pct: float = DEFAULT_THRESHOLD_PCT, rounds: int = DEFAULT_ROUNDS,
                threads: int = DEFAULT_THREADS, update: bool = False, slowdowns: dict[str, float] | None = None,
                data_dir=None, with_contention: bool = False, log: Callable[[str], None] = print) -> RegressOutcome:
    """Measure the fast set against its reference and compare the paired ratios with the baseline's.

    With ``update``, record the baseline instead. A baseline from another
    machine setup (CPU, core count, library versions, threads) is refused
    before anything is measured. The check runs in a fresh process, like each
    of the baseline's. ``with_contention`` runs it while another process
    streams memory, as a busy CI neighbour does; unchanged code should still
    pass.
    """
    if baseline_path is None:  # the one recorded on this machine setup (or, to record, where it goes)
        baseline_path = baseline_for_machine(BASELINE_DIR, capture_environment(threads), threads, update)
        log(f"Baseline: {baseline_path}")
    baseline_path = Path(baseline_path)
    if update:
        log(f"Recording a baseline: {BASELINE_PROCESSES} fresh processes, then {CONTENDED_PROCESSES} under memory "
            f"contention ({rounds} rounds each, {threads} thread(s); a few minutes)...")
        recorded = record_baseline(baseline_path, rounds, threads, data_dir, log)
        log(f"Baseline written to {baseline_path}")
        return RegressOutcome((), (), threshold_pct, ratios={n: list(c.ratios) for n, c in recorded.cases.items()})
    baseline = Baseline.load(baseline_path)
    baseline.check_machine(capture_environment(threads), threads, str(baseline_path))
    if with_contention:
        require_spare_core(threads, "--memory-contention")
    resolve_cases(list(slowdowns or {}))
    names = [case_id(c) for c in FAST_SET if case_id(c) in baseline.cases]
    reference = _reference_for(baseline, names, log)
    paths = {"/".join(key): str(path) for key, path in reference.paths.items()}
    log(f"Measuring {len(names)} cases x {rounds} paired rounds on {threads} thread(s)"
        f"{' while another process streams memory' if with_contention else ''}; reference: {reference.source}...")
    measured = measure_in_fresh_process(names, rounds, threads, data_dir=data_dir, with_contention=with_contention,
                                        slowdowns=slowdowns, reference_paths=paths, log=log)

    def compare(name: str, now: dict) -> CaseComparison:
        entry = baseline.cases[name]
        return compare_ratios(name, entry.ratios, now["ratios"], threshold_pct,
                              allowance_pct=entry.machine_allowance_pct,
                              host_change_pct=(float(np.median(now["reference_ms"])) / entry.reference_ms - 1) * 100)

    comparisons = {n: compare(n, m) for n, m in measured.items()}
    # Flagged cases, and suspects: slower than the threshold at the median though the interval still
    # reaches below it (a slowed case on a host busy enough to widen its rounds' spread).
    suspects = [n for n, c in comparisons.items() if c.regressed or c.change_pct > c.threshold_pct]
    confirmed = []
    if suspects:
        log(f"{len(suspects)} case(s) look slower: measuring the set again in a fresh process before failing: "
            f"{', '.join(suspects)}")
        # The whole set, not the suspects alone: a case timed alone keeps its weights in cache between
        # blocks and runs faster than in the interleaved set the baseline was recorded in.
        again = measure_in_fresh_process(names, rounds, threads, seed=1, data_dir=data_dir,
                                         with_contention=with_contention, slowdowns=slowdowns, reference_paths=paths)
        for n in suspects:
            second = compare(n, again[n])
            pooled = compare(n, {key: measured[n][key] + again[n][key] for key in ("ratios", "reference_ms")})
            if confirms(second, pooled):
                confirmed.append(n)
                comparisons[n] = pooled
    return RegressOutcome(tuple(comparisons.values()), tuple(confirmed), threshold_pct, with_contention,
                          {n: m["ratios"] for n, m in measured.items()}, reference.source)
