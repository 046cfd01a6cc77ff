"""The gate's measurements and the whole check: ratios in interleaved rounds, fresh processes, baseline, verdict.

Every block is timed by the suite's one timing core (``measure.time_calls``
under ``measure.REGRESSION_BLOCK``), and the calibration beside each case is
``measure.workloads``' fp32 MatMul on the same threads.
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
from ..measure import REGRESSION_BLOCK, time_calls
from ..measure.workloads import matmul_inputs, matmul_session
from ..models import get_spec
from ..results.regress import Baseline, RegressOutcome, kept_environment
from ..runtimes import LoadOptions, get_runtime
from .contention import CONTENTION_MIB, MemoryContention, require_spare_core
from .fastset import FAST_SET, case_id, fast_set_artifacts, resolve_cases
from .stats import CaseComparison, compare_ratios, pool_processes

DEFAULT_BASELINE = Path("benchmarks") / "baseline.json"
DEFAULT_THRESHOLD_PCT = 10.0
DEFAULT_ROUNDS = 9
# Single-threaded by default: on a 2-core shared machine a 2-thread run is at the
# mercy of whatever else runs on the other core; one thread is far steadier.
DEFAULT_THREADS = 1
BASELINE_PROCESSES = 5  # fresh quiet processes pooled into a baseline ...
CONTENDED_PROCESSES = 3  # ... and fresh processes under memory contention, for the machine allowance
CALIBRATION_SIZE = 192  # n of the n x n fp32 MatMul timed beside every case (~0.3 ms on one core)
CALIBRATION_INPUT_SEED = 1
METHOD = "case/calibration time ratio, interleaved rounds, pooled over fresh processes"
WORKER = "infer_bench.regress.worker"


def calibration_workload(threads: int) -> tuple[Callable, list[np.ndarray]]:
    """The fixed ONNX Runtime fp32 MatMul (same runtime, same threads as the cases) and its two inputs."""
    return (matmul_session(CALIBRATION_SIZE, threads),
            matmul_inputs(CALIBRATION_SIZE, count=2, seed=CALIBRATION_INPUT_SEED))


def block_median_ns(run: Callable, batches: Sequence[np.ndarray], start: int) -> float:
    """One block: the median call time of at least 40 ms and 5 calls, from batch ``start`` on."""
    return float(np.median(time_calls(run, batches, REGRESSION_BLOCK, start=start)))


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


def measure_ratios(runs: dict[str, tuple[Callable, Sequence[np.ndarray]]], rounds: int, threads: int,
                   seed: int = 0, log: Callable[[str], None] = print) -> dict[str, list[float]]:
    """Per case, one ratio (case block median / calibration block median) per round, interleaved."""
    calib, calib_batches = calibration_workload(threads)
    rng = np.random.default_rng(seed)
    names = list(runs)
    for name in names:  # warm every session (and the calibration) before the first round
        run, batches = runs[name]
        block_median_ns(run, batches, 0)
    block_median_ns(calib, calib_batches, 0)
    ratios: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        for name in rng.permutation(names):
            run, batches = runs[name]
            c = block_median_ns(calib, calib_batches, r)
            t = block_median_ns(run, batches, r)
            ratios[name].append(t / c)
        log(f"  round {r + 1}/{rounds} done")
    return ratios


def measure_cases(cases: Sequence[str], rounds: int, threads: int, seed: int = 0, data_dir=None,
                  with_contention: bool = False, slowdowns: dict[str, float] | None = None,
                  log: Callable[[str], None] = print) -> dict[str, list[float]]:
    """Load the fast-set sessions for ``cases`` in this process and measure their ratios (``measure_ratios``).

    ``with_contention`` measures while :class:`MemoryContention` runs;
    ``slowdowns`` ({case: fraction}) slow cases on purpose, to test the gate.
    Runs in the worker process, which has configured TensorFlow's threads.
    """
    slowdowns = dict(slowdowns or {})
    resolve_cases(list(slowdowns))
    chosen = dict(zip(cases, resolve_cases(cases)))
    artifacts = fast_set_artifacts(log=log, models=[case[0] for case in chosen.values()])
    runs, sessions, inputs = {}, [], {}
    try:
        for name, (model, fmt, _, runtime, batch) in chosen.items():
            session = get_runtime(runtime).load(artifacts[(model, fmt)], LoadOptions(threads=threads))
            sessions.append(session)
            run = with_slowdown(session.run, slowdowns[name]) if name in slowdowns else session.run
            runs[name] = (run, input_rotation(InputSpec(get_spec(model).dataset), data_dir, inputs).batches(batch))
        with MemoryContention() if with_contention else nullcontext():
            return measure_ratios(runs, rounds, threads, seed=seed, log=log)
    finally:
        for session in sessions:
            session.close()


def measure_in_fresh_process(cases: Sequence[str], rounds: int, threads: int, seed: int = 0, data_dir=None,
                             with_contention: bool = False, slowdowns: dict[str, float] | None = None,
                             log: Callable[[str], None] | None = None) -> dict[str, list[float]]:
    """``measure_cases`` in a new Python process, as CI runs it: a process's memory layout is part of the result.

    With ``log``, the worker's progress lines are passed to it as they come.
    """
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "ratios.json"
        spec = {"out": str(out), "cases": list(cases), "rounds": rounds, "threads": threads, "seed": seed,
                "data_dir": None if data_dir is None else str(data_dir), "with_contention": with_contention,
                "slowdowns": dict(slowdowns or {}), "log": log is not None}
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


def make_baseline(per_process: Sequence[dict[str, list[float]]], contended: Sequence[dict[str, list[float]]],
                  threads: int, rounds: int, environment: dict) -> Baseline:
    """The baseline of quiet and contended processes' ratios (see ``stats.pool_processes``)."""
    return Baseline(METHOD, f"onnxruntime fp32 MatMul {CALIBRATION_SIZE}x{CALIBRATION_SIZE}", threads, rounds,
                    len(per_process), len(contended),
                    f"processes measured while another streams {CONTENTION_MIB} MiB through memory",
                    kept_environment(environment), pool_processes(per_process, contended))


def record_baseline(path: Path, rounds: int, threads: int, data_dir=None,
                    log: Callable[[str], None] = print) -> Baseline:
    """Measure ``BASELINE_PROCESSES`` fresh quiet processes and ``CONTENDED_PROCESSES`` under memory contention."""
    require_spare_core(threads, "--update-baseline (its contention run)")
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


def run_regress(baseline_path: Path, threshold_pct: float = DEFAULT_THRESHOLD_PCT, rounds: int = DEFAULT_ROUNDS,
                threads: int = DEFAULT_THREADS, update: bool = False, slowdowns: dict[str, float] | None = None,
                data_dir=None, with_contention: bool = False, log: Callable[[str], None] = print) -> RegressOutcome:
    """Measure the fast set and compare it with the baseline (or record the baseline if ``update``).

    A baseline from another machine setup (CPU, core count, library versions,
    threads) is refused before anything is measured. The check runs in a fresh
    process, like each of the baseline's. ``with_contention`` runs it while
    another process streams memory, as a busy CI neighbour does; unchanged
    code should still pass.
    """
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
    log(f"Measuring {len(names)} cases x {rounds} interleaved rounds on {threads} thread(s)"
        f"{' while another process streams memory' if with_contention else ''}...")
    fast_set_artifacts(log=log, models=[case[0] for case in resolve_cases(names)])  # built here, with its log
    ratios = measure_in_fresh_process(names, rounds, threads, data_dir=data_dir, with_contention=with_contention,
                                      slowdowns=slowdowns, log=log)

    def compare(name: str, now: list[float]) -> CaseComparison:
        entry = baseline.cases[name]
        return compare_ratios(name, entry.ratios, now, threshold_pct, allowance_pct=entry.machine_allowance_pct)

    comparisons = {n: compare(n, r) for n, r in ratios.items()}
    flagged = [n for n, c in comparisons.items() if c.regressed]
    confirmed = []
    if flagged:
        log(f"{len(flagged)} case(s) look slower: measuring the set again in a fresh process before failing: "
            f"{', '.join(flagged)}")
        # The whole set, not the flagged cases alone: a case timed alone keeps its weights in cache between
        # blocks and runs faster than in the interleaved set the baseline was recorded in.
        again = measure_in_fresh_process(names, rounds, threads, seed=1, data_dir=data_dir,
                                         with_contention=with_contention, slowdowns=slowdowns)
        for n in flagged:
            second = compare(n, again[n])
            if second.regressed:
                confirmed.append(n)
                comparisons[n] = second
    return RegressOutcome(tuple(comparisons.values()), tuple(confirmed), threshold_pct, with_contention, ratios)
