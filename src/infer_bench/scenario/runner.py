"""``infer-bench scenario``: LoadGen runs of one artifact in one runtime, and the Server QPS search.

``run_scenario`` loads one session per worker, builds the sample library, runs LoadGen
once and returns the record. ``run_search`` runs the bounded search (``search``) over
``config_grid``: for each configuration its sessions are loaded once and probed (the
naive 1000/p50 estimate starts the search), then each probe is one Server run.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from ..errors import InferBenchError
from ..results.scenario import ScenarioRecord, ScenarioRun
from ..results.store import now_iso, stamp_of
from ..runtimes.devices import cpu_count
from .loadgen_run import LoadGenInterrupted, import_loadgen, run_loadgen
from .qsl import SampleLibrary
from .search import DEFAULT_REL_TOL, MIN_QPS, SearchOutcome, config_grid, search_max_qps
from .settings import ScenarioSettings
from .sut import PoolConfig, ServerSUT, SyncSUT
from .target import Target, load_library, probe, resolve_target

OFFLINE_HEADROOM = 1.2  # Offline is sized for 1.2x the probed rate, so it lasts its minimum duration
MAX_LOG_ROOTS = 1000
START_SHARE = 0.7  # the search starts at 70% of the naive workers x 1000/p50 estimate ...
FLOOR_SHARE = 0.1  # ... and gives up below 10% of it: queueing is negligible there, so the bound is out of reach
EXPECTED_LOW = 4  # how far below the probe's median latency the expected latency given to LoadGen is set


def new_log_root(results_dir: Path, created: str) -> Path:
    """A new ``results_dir/scenario-<time>[-N]-logs`` folder name (not created yet)."""
    stem = f"scenario-{stamp_of(created)}"
    for n in range(1, MAX_LOG_ROOTS):
        path = Path(results_dir) / (f"{stem}-logs" if n == 1 else f"{stem}-{n}-logs")
        if not path.exists():
            return path
    raise InferBenchError(f"Too many {stem}*-logs folders in {results_dir}.", "clean up the folder.")


def run_once(target: Target, sessions, samples: SampleLibrary, config: PoolConfig, settings: ScenarioSettings,
             log_dir: Path) -> ScenarioRun:
    """One LoadGen run of ``sessions`` (one per worker) under ``settings``; logs in ``log_dir``."""
    lg = import_loadgen()
    if settings.scenario == "server":
        sut = ServerSUT(lg, sessions, samples, target.runtime, config)
    else:
        sut = SyncSUT(lg, sessions[0], samples, target.runtime, config.max_batch)
    try:
        run = run_loadgen(sut, samples, settings, log_dir)
    finally:
        sut.close()
    qps = settings.target_qps if settings.scenario in ("server", "offline") else None
    return ScenarioRun(config, run.summary, str(run.log_dir), run.seconds, batches=sut.batch_stats(), target_qps=qps)


def _load_sessions(target: Target, config: PoolConfig) -> list:
    sessions = []
    try:
        for _ in range(config.workers):
            sessions.append(target.load(config.threads))
    except BaseException:
        _close(sessions)
        raise
    return sessions


def _close(sessions) -> None:
    for s in sessions:
        s.close()


def _check_batching(target: Target, session, config: PoolConfig) -> None:
    fixed = session.input_shape[0] if session.input_shape else None
    if config.max_batch > 1 and fixed is not None and fixed != config.max_batch:
        raise InferBenchError(f"{target.path.name} takes batches of exactly {fixed}; batches of up to "
                              f"{config.max_batch} cannot run.", "pass --max-batch 1, or export with a free batch size.")


def run_scenario(plan, environment: dict, log: Callable[[str], None] = print,
                 target: Target | None = None) -> ScenarioRecord:
    """One LoadGen run as ``plan`` (a ``plans.ScenarioPlan``) describes it (``target``: the artifact
    already resolved, as a fleet node gets it; default: the one ``plan`` names)."""
    target = target or resolve_target(plan)
    created = now_iso()
    config = plan.pool_config
    sessions = _load_sessions(target, config)
    try:
        _check_batching(target, sessions[0], config)
        samples = load_library(target, sessions[0], plan.data_dir, plan.rows)
        warm = probe(sessions[0], samples, config.max_batch)  # also warms every kernel up before LoadGen
        offline_qps = warm.rows_per_s * OFFLINE_HEADROOM if plan.scenario == "offline" else None
        # LoadGen pre-generates min_duration / expected latency queries: a guess above the real latency
        # ends the run before min_duration (INVALID), so the probe's median is divided by EXPECTED_LOW.
        settings = plan.settings(offline_qps, expected_latency_ms=warm.p50_ms / config.max_batch / EXPECTED_LOW)
        log(f"{settings.scenario} run of {target.label} ({config.label}, {len(samples)} {samples.label} images, "
            f"at least {settings.min_duration_ms / 1000:g} s and {settings.min_query_count} queries)...")
        root = new_log_root(plan.results_dir, created)
        run = run_once(target, sessions, samples, config, settings, root / "run")
        describe = target.describe(sessions, samples.label)
    finally:
        _close(sessions)
    log(f"LoadGen: {run.summary.validity} ({run.seconds:.1f} s)")
    return ScenarioRecord(created, environment, describe, settings.scenario, settings.to_dict(), str(root), (run,))


def search_grid(plan, target: Target) -> list[PoolConfig]:
    """The configurations searched: every split of the cores (``--threads``, default all), batching
    off and on; TensorFlow runtimes keep the process's one thread count for every session."""
    cores = plan.threads or cpu_count()
    grid = config_grid(cores, plan.slo_ms, batching=plan.search_batching)
    if target.uses_tensorflow:
        grid = [c for c in grid if c.threads == cores and c.workers == 1]
    return grid


def run_search(plan, environment: dict, log: Callable[[str], None] = print,
               target: Target | None = None) -> ScenarioRecord:
    """``--find-max-qps``: the most Server QPS with a VALID LoadGen result at p99 <= ``plan.slo_ms``
    (``target`` as in ``run_scenario``)."""
    target = target or resolve_target(plan)
    created = now_iso()
    grid = search_grid(plan, target)
    root = new_log_root(plan.results_dir, created)
    log(f"Searching {len(grid)} configurations of {target.label} for the most QPS at p99 <= {plan.slo_ms:g} ms: "
        f"at most {plan.max_runs} LoadGen runs of >= {plan.settings(1.0).min_duration_ms / 1000:g} s each per "
        f"configuration (at most {len(grid) * plan.max_runs} runs).")
    runs: list[ScenarioRun] = []
    configs: list[dict] = []
    best: tuple[float, PoolConfig, float] | None = None  # (qps, config, naive qps)
    describe, start = None, time.perf_counter()
    for k, config in enumerate(grid, 1):
        sessions = _load_sessions(target, config)
        try:
            _check_batching(target, sessions[0], config)
            samples = load_library(target, sessions[0], plan.data_dir, plan.rows)
            for s in sessions[1:]:
                probe(s, samples)  # warm-up of every worker's session
            first = probe(sessions[0], samples)
            naive = config.workers * first.naive_qps

            def one(qps: float, config=config, sessions=sessions, samples=samples) -> bool:
                name = f"{len(runs) + 1:03d}-{config.label.replace(' ', '-').replace('/', '-')}-{qps:.1f}qps"
                try:
                    run = run_once(target, sessions, samples, config, plan.settings(qps), root / name)
                except LoadGenInterrupted as exc:  # the message names the search's finished runs too
                    exc.what = f"{exc.what} at {qps:.1f} QPS ({config.label}), run {len(runs) + 1} of the search"
                    exc.finished_runs, exc.log_root = len(runs), root
                    raise
                runs.append(run)
                p99 = run.summary.latency_ms.get("p99")
                log(f"  [{config.label}] {qps:8.1f} QPS: {run.summary.validity:7s} p99 {p99:.2f} ms "
                    f"(mean batch {run.batches.get('mean_batch', 0):.2f}; {time.perf_counter() - start:.0f} s elapsed)")
                return run.valid

            if first.p50_ms > plan.slo_ms:
                # Half the queries already take longer than the bound alone: p99 cannot be under it.
                outcome = SearchOutcome(None, (), f"p50 {first.p50_ms:.1f} ms above the bound")
            else:
                outcome = search_max_qps(one, start_qps=max(naive * START_SHARE, MIN_QPS), max_runs=plan.max_runs,
                                         rel_tol=DEFAULT_REL_TOL, min_qps=max(naive * FLOOR_SHARE, MIN_QPS),
                                         must_beat=best[0] if best else None)
            described = target.describe(sessions, samples.label)  # what this configuration's sessions ran
            describe = describe or described
        finally:
            _close(sessions)
        configs.append({"config": config.to_dict(), "label": config.label, "p50_ms": first.p50_ms,
                        "executed_threads": described["executed"]["threads"],
                        "naive_qps": naive, "best_qps": outcome.best_qps, "stopped": outcome.stopped,
                        "probes": [{"qps": p.qps, "valid": p.valid} for p in outcome.probes]})
        log(f"[{k}/{len(grid)}] {config.label}: best {_qps(outcome.best_qps)} QPS ({outcome.stopped}; "
            f"naive 1000/p50: {naive:.0f} QPS)")
        if outcome.best_qps is not None and (best is None or outcome.best_qps > best[0]):
            best = (outcome.best_qps, config, naive)
            describe = described  # the record's target says what the winning configuration ran
    seconds = time.perf_counter() - start
    winner = None if best is None else {"config": best[1].to_dict(), "label": best[1].label, "qps": best[0],
                                        "naive_qps": best[2]}
    search = {"slo_ms": plan.slo_ms, "loadgen_runs": len(runs), "seconds": seconds, "configs": configs,
              "winner": winner}
    log(f"Search done: {len(runs)} LoadGen runs in {seconds:.0f} s.")
    settings = plan.settings(runs[-1].target_qps)
    return ScenarioRecord(created, environment, describe, "server", settings.to_dict(), str(root), tuple(runs), search)


def _qps(q: float | None) -> str:
    return "none VALID" if q is None else f"{q:.1f}"
