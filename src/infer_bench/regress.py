"""Latency regression checks that hold on a noisy 2-core machine (``infer-bench regress``).

Method (why each part is there):

1. **Ratios, not times.** Every case is timed right next to a fixed calibration
   workload (an ONNX Runtime fp32 MatMul on the same threads). The recorded
   figure is case time / calibration time. A faster or slower machine, or a
   neighbour that slows the whole machine for a while, moves both and cancels.
2. **Interleaved rounds.** Each round visits the cases in a fresh (seeded)
   order, calibration block then case block, so slow periods spread over all
   cases instead of hitting one.
3. **Medians and a confidence bound.** Each block is the median of its calls;
   a case's figure is the median over rounds, and a bootstrap of that median
   gives a 95% interval of the change against the baseline. A case is flagged
   only when the *lower* bound of that interval is above its threshold.
4. **A baseline from several fresh processes, and a threshold per case.** Some
   cases run at a different speed in each new process on a shared VM host
   (``alexnet_fashion`` at batch 1 streams 85 MB of weights per call, and how
   fast depends on where they land in memory: 41-64x the calibration across six
   quiet processes), and slow further when another tenant streams through
   memory. So the baseline pools ``BASELINE_PROCESSES`` fresh processes, adds
   ``CONTENDED_PROCESSES`` run under :class:`MemoryContention`, and a case's
   threshold is the largest of the global one, its pooled spread (IQR /
   median) and its machine allowance
   (how much slower than the pooled median it ran in the slowest of those
   processes). A case that the machine alone moves by 40% is only judged beyond
   40%; the steady ones keep 10%.
5. **Confirm before failing.** When a case is flagged, the set is measured
   again in a fresh process; the case is reported as regressed only if that
   measurement flags it too.

The fast set uses seeded, untrained copies of the three models exported with the
suite's own exporters: latency does not depend on trained weight values, and CI
needs no training to build them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .contention import CONTENTION_MIB, MemoryContention, require_spare_core
from .errors import InferBenchError
from .fsutil import write_json_atomic

SCHEMA_VERSION = 2  # 2: ratios pooled over fresh processes, a machine allowance per case
DEFAULT_BASELINE = Path("benchmarks") / "baseline.json"
DEFAULT_THRESHOLD_PCT = 10.0
DEFAULT_ROUNDS = 9
BASELINE_PROCESSES = 5  # fresh quiet processes pooled into a baseline ...
CONTENDED_PROCESSES = 3  # ... and fresh processes under memory contention, for the machine allowance
BLOCK_S = 0.04  # each timed block: at least this long ...
BLOCK_MIN_CALLS = 5  # ... and at least this many calls
BOOTSTRAP_SAMPLES = 2000
CONFIDENCE = 0.95
CALIBRATION_SIZE = 192  # n of the n x n fp32 MatMul timed beside every case (~0.3 ms on one core)
# Single-threaded by default: on a 2-core shared machine a 2-thread run is at the
# mercy of whatever else runs on the other core; one thread is far steadier.
DEFAULT_THREADS = 1
FAST_SET: tuple[tuple[str, str, str, str, int], ...] = tuple(
    (model, fmt, "fp32", runtime, batch)
    for model in ("simple_cnn", "alexnet_fashion", "alexnet_catsdogs")
    for fmt, runtime in (("onnx", "onnxruntime"), ("tflite", "litert"))
    for batch in (1, 8)
)


def case_id(case: tuple) -> str:
    """``model/format/quantization/runtime/bN``: how a case is named in baselines and output."""
    model, fmt, quant, runtime, batch = case
    return f"{model}/{fmt}/{quant}/{runtime}/b{batch}"


# --- comparison (pure: tested on synthetic samples) ---------------------------------------------


@dataclass(frozen=True)
class CaseComparison:
    """How a case's current ratios compare with its baseline ratios."""

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


def relative_spread_pct(ratios: Sequence[float]) -> float:
    """Interquartile range / median of a case's rounds, in percent: how much it swings by itself."""
    r = np.asarray(ratios, dtype=float)
    q1, med, q3 = np.percentile(r, [25, 50, 75])
    return float((q3 - q1) / med * 100)


def compare_ratios(case: str, baseline: float | Sequence[float], current: Sequence[float], threshold_pct: float,
                   seed: int = 0, allowance_pct: float = 0.0) -> CaseComparison:
    """Compare current per-round ratios with the baseline's (a list of rounds, or one ratio).

    Both samples are bootstrapped, so a noisy baseline widens the interval as
    much as a noisy run does. The threshold applied is the largest of
    ``threshold_pct``, the baseline's own spread (interquartile range over
    median) and ``allowance_pct`` (how much slower the unchanged case ran in
    its slowest baseline process, those under memory contention included): a
    case that swings by 25% between processes, or by 60% when a neighbour
    streams memory, on an unchanged machine cannot be judged at 10%.
    Regressed when the lower end of the 95% interval is above that threshold;
    improved when the upper end is below minus it.
    """
    current = np.asarray(current, dtype=float)
    base = np.atleast_1d(np.asarray(baseline, dtype=float))
    for name, arr in (("current ratios", current), ("baseline ratios", base)):
        if arr.size == 0 or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
            raise ValueError(f"{case}: {name} must be positive finite numbers, got {arr.tolist()}")
    rng = np.random.default_rng(seed)
    boot_now = np.median(rng.choice(current, size=(BOOTSTRAP_SAMPLES, current.size), replace=True), axis=1)
    boot_base = np.median(rng.choice(base, size=(BOOTSTRAP_SAMPLES, base.size), replace=True), axis=1)
    change = (boot_now / boot_base - 1.0) * 100.0
    alpha = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(change, [alpha, 100 - alpha])
    candidates = {"global": threshold_pct, "machine": float(allowance_pct)}
    if base.size >= 4:
        candidates["spread"] = relative_spread_pct(base)
    reason = max(candidates, key=candidates.get)
    threshold = candidates[reason]
    med, base_med = float(np.median(current)), float(np.median(base))
    return CaseComparison(case, base_med, med, (med / base_med - 1) * 100, float(low), float(high), threshold, reason,
                          float(np.mean(change > threshold)), bool(low > threshold), bool(high < -threshold))


# --- measurement ------------------------------------------------------------------------------


def _block_median_ns(run: Callable, batches: Sequence[np.ndarray], start: int) -> float:
    clock = time.perf_counter_ns
    samples = []
    spent = 0
    i = start
    while len(samples) < BLOCK_MIN_CALLS or spent < BLOCK_S * 1e9:
        b = batches[i % len(batches)]
        t0 = clock()
        run(b)
        dt = clock() - t0
        samples.append(dt)
        spent += dt
        i += 1
    return float(np.median(samples))


def calibration_workload(threads: int):
    """A fixed ONNX Runtime fp32 MatMul (same runtime, same threads as the cases)."""
    import onnxruntime as ort
    from onnx import TensorProto, helper

    n = CALIBRATION_SIZE
    rng = np.random.default_rng(0)
    w = helper.make_tensor("w", TensorProto.FLOAT, [n, n], rng.standard_normal((n, n), dtype=np.float32).ravel())
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "calibration",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [n, n])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [n, n])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    xs = [rng.standard_normal((n, n), dtype=np.float32) for _ in range(2)]
    return (lambda x: sess.run(None, {"x": x})[0]), xs


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
        _block_median_ns(run, batches, 0)
    _block_median_ns(calib, calib_batches, 0)
    ratios: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        for name in rng.permutation(names):
            run, batches = runs[name]
            c = _block_median_ns(calib, calib_batches, r)
            t = _block_median_ns(run, batches, r)
            ratios[name].append(t / c)
        log(f"  round {r + 1}/{rounds} done")
    return ratios


# --- baseline file ------------------------------------------------------------------------------


def load_baseline(path: Path) -> dict:
    """Read a baseline file; a missing one or another schema says how to make one."""
    if not path.exists():
        raise InferBenchError(f"No baseline at {path}.", "record one with `infer-bench regress --update-baseline`.")
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InferBenchError(f"{path} is not valid JSON ({exc}).",
                              "restore it from git or rerun with --update-baseline.") from exc
    if raw.get("schema_version") != SCHEMA_VERSION:
        raise InferBenchError(f"{path} has schema_version {raw.get('schema_version')!r}; expected {SCHEMA_VERSION}.",
                              "rerun with --update-baseline.")
    for name, entry in (raw.get("cases") or {}).items():
        entry = entry if isinstance(entry, dict) else {}
        ratios, allowance = entry.get("ratios"), entry.get("machine_allowance_pct")
        if not isinstance(ratios, list) or not ratios or not isinstance(allowance, (int, float)):
            raise InferBenchError(f"{path}: case {name!r} lacks its 'ratios' list or 'machine_allowance_pct'.",
                                  "restore the file from git or rerun with --update-baseline.")
    return raw


def baseline_dict(per_process: Sequence[dict[str, list[float]]], contended: Sequence[dict[str, list[float]]],
                  threads: int, rounds: int, environment: dict) -> dict:
    """The JSON written by ``--update-baseline``.

    Per case: the ratios of every quiet process pooled (``ratios``, their
    median ``ratio``), each quiet and each contended process's median, and the
    machine allowance: how much slower than the pooled median the unchanged
    case ran in the slowest of all those processes (in percent, at least 0).
    """
    if not per_process or not contended:
        raise ValueError("need at least one quiet and one contended process's ratios")
    cases = {}
    for name in per_process[0]:
        pooled = [x for proc in per_process for x in proc[name]]
        quiet = float(np.median(pooled))
        medians = [float(np.median(proc[name])) for proc in per_process]
        under = [float(np.median(proc[name])) for proc in contended]
        cases[name] = {"ratio": quiet, "ratios": [round(x, 5) for x in pooled],
                       "process_medians": [round(m, 5) for m in medians],
                       "contended_medians": [round(m, 5) for m in under],
                       "machine_allowance_pct": round(max(0.0, (max(*under, *medians) / quiet - 1) * 100), 1)}
    return {"schema_version": SCHEMA_VERSION,
            "method": "case/calibration time ratio, interleaved rounds, pooled over fresh processes",
            "calibration": f"onnxruntime fp32 MatMul {CALIBRATION_SIZE}x{CALIBRATION_SIZE}",
            "threads": threads, "rounds": rounds, "processes": len(per_process),
            "contended_processes": len(contended),
            "contention": f"processes measured while another streams {CONTENTION_MIB} MiB through memory",
            "environment": {k: environment.get(k) for k in ("cpu_model", "logical_cores", "packages", "git_commit")},
            "cases": cases}


def save_baseline(path: Path, data: dict) -> None:
    """Write the baseline atomically."""
    write_json_atomic(path, data)


def comparisons_to_dict(comparisons: list[CaseComparison]) -> list[dict]:
    return [asdict(c) for c in comparisons]


# --- the fast set's artifacts and the whole check ------------------------------------------------

CACHE_DIR = Path(".cache") / "regress"


def fast_set_artifacts(cache_dir: Path = CACHE_DIR, log: Callable[[str], None] = print,
                       models: Sequence[str] | None = None) -> dict[tuple, Path]:
    """Build (once) seeded untrained exports of each model in the fast set (or of ``models``); {(model, format): path}.

    Cached under ``cache_dir/<library versions>``: a new TensorFlow or exporter
    builds fresh files, since it may change the graphs being timed.
    """
    import hashlib

    from .export import artifact_filename
    from .export.keras_formats import export_savedmodel
    from .export.onnx_formats import export_onnx_fp32
    from .export.tflite_formats import export_tflite
    from .models import get_spec
    from .train_export import library_versions

    key = hashlib.sha256(json.dumps(library_versions(), sort_keys=True).encode()).hexdigest()[:12]
    folder = cache_dir / key
    out = {}
    for model in dict.fromkeys(models or [c[0] for c in FAST_SET]):
        paths = {fmt: folder / artifact_filename(model, fmt, "fp32") for fmt in ("onnx", "tflite", "savedmodel")}
        if not (paths["onnx"].exists() and paths["tflite"].exists()):
            import keras

            log(f"  building the fast-set exports of {model} (seeded, untrained; once per library versions)")
            keras.utils.set_random_seed(0)
            spec = get_spec(model)
            net = spec.build()
            export_onnx_fp32(net, paths["onnx"])
            export_savedmodel(net, paths["savedmodel"])
            export_tflite(paths["savedmodel"], paths["tflite"], "fp32")
        out[(model, "onnx")], out[(model, "tflite")] = paths["onnx"], paths["tflite"]
    return out


def measure_cases(cases: Sequence[str], rounds: int, threads: int, seed: int = 0, data_dir=None,
                  with_contention: bool = False, slowdowns: dict[str, float] | None = None,
                  log: Callable[[str], None] = print) -> dict[str, list[float]]:
    """Load the fast-set sessions for ``cases`` in this process and measure their ratios (``measure_ratios``).

    ``with_contention`` measures while :class:`MemoryContention` runs;
    ``slowdowns`` ({case: fraction}) slow cases on purpose, to test the gate.
    """
    from .bench import input_rotation
    from .models import get_spec
    from .runtimes import LoadOptions, get_runtime
    from .runtimes.devices import configure_tensorflow

    slowdowns = dict(slowdowns or {})
    by_id = {case_id(c): c for c in FAST_SET}
    for name in [*cases, *slowdowns]:
        if name not in by_id:
            raise InferBenchError(f"Unknown fast-set case {name!r}.", f"use one of: {', '.join(sorted(by_id))}.")
    configure_tensorflow(threads)
    artifacts = fast_set_artifacts(log=log, models=[by_id[name][0] for name in cases])
    runs, sessions, inputs = {}, [], {}
    try:
        for name in cases:
            model, fmt, _, runtime, batch = by_id[name]
            session = get_runtime(runtime).load(artifacts[(model, fmt)], LoadOptions(threads=threads))
            sessions.append(session)
            run = with_slowdown(session.run, slowdowns[name]) if name in slowdowns else session.run
            runs[name] = (run, input_rotation(get_spec(model).dataset, data_dir, inputs).batches(batch))
        with MemoryContention() if with_contention else nullcontext():
            return measure_ratios(runs, rounds, threads, seed=seed, log=log)
    finally:
        for session in sessions:
            session.close()


def measure_in_fresh_process(cases: Sequence[str], rounds: int, threads: int, seed: int = 0, data_dir=None,
                             with_contention: bool = False,
                             slowdowns: dict[str, float] | None = None) -> dict[str, list[float]]:
    """``measure_cases`` in a new Python process, as CI runs it: a process's memory layout is part of the result."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "ratios.json"
        spec = {"out": str(out), "cases": list(cases), "rounds": rounds, "threads": threads, "seed": seed,
                "data_dir": None if data_dir is None else str(data_dir), "with_contention": with_contention,
                "slowdowns": dict(slowdowns or {})}
        proc = subprocess.run([sys.executable, "-m", "infer_bench.regress_worker", json.dumps(spec)],
                              capture_output=True, text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
        if proc.returncode != 0 or not out.exists():
            raise InferBenchError(f"A measurement process failed (exit {proc.returncode}): "
                                  f"{proc.stderr.strip()[-1500:]}")
        return json.loads(out.read_text())


def record_baseline(path: Path, rounds: int, threads: int, data_dir=None, log: Callable[[str], None] = print) -> dict:
    """Measure ``BASELINE_PROCESSES`` fresh quiet processes and ``CONTENDED_PROCESSES`` under memory contention."""
    from .environment import capture_environment

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
    per_process, contended = measured[:BASELINE_PROCESSES], measured[BASELINE_PROCESSES:]
    data = baseline_dict(per_process, contended, threads, rounds, capture_environment(threads))
    save_baseline(Path(path), data)
    return data


@dataclass
class RegressOutcome:
    """The comparisons of one check, the cases confirmed as regressed, and the raw ratios."""

    comparisons: list[CaseComparison]
    regressed: list[str]
    ratios: dict[str, list[float]]


def run_regress(baseline_path: Path, threshold_pct: float = DEFAULT_THRESHOLD_PCT, rounds: int = DEFAULT_ROUNDS,
                threads: int = DEFAULT_THREADS, update: bool = False, slowdowns: dict[str, float] | None = None,
                data_dir=None, with_contention: bool = False, log: Callable[[str], None] = print) -> RegressOutcome:
    """Measure the fast set and compare it with the baseline (or record the baseline if ``update``).

    ``with_contention`` runs the check while another process streams memory,
    as a busy CI neighbour does; unchanged code should still pass.
    """
    baseline_path = Path(baseline_path)
    if update:
        log(f"Recording a baseline: {BASELINE_PROCESSES} fresh processes, then {CONTENDED_PROCESSES} under memory "
            f"contention ({rounds} rounds each, {threads} thread(s); a few minutes)...")
        data = record_baseline(baseline_path, rounds, threads, data_dir, log)
        log(f"Baseline written to {baseline_path}")
        return RegressOutcome([], [], {n: c["ratios"] for n, c in data["cases"].items()})
    baseline = load_baseline(baseline_path)
    if with_contention:
        require_spare_core(threads, "--memory-contention")
    if baseline.get("threads") != threads:
        log(f"note: the baseline was recorded with {baseline.get('threads')} thread(s), this run uses {threads}")
    names = [case_id(c) for c in FAST_SET if case_id(c) in baseline["cases"]]
    log(f"Measuring {len(names)} cases x {rounds} interleaved rounds on {threads} thread(s)"
        f"{' while another process streams memory' if with_contention else ''}...")
    ratios = measure_cases(names, rounds, threads, data_dir=data_dir, with_contention=with_contention,
                           slowdowns=slowdowns, log=log)

    def compare(name: str, now: list[float]) -> CaseComparison:
        entry = baseline["cases"][name]
        return compare_ratios(name, entry["ratios"], now, threshold_pct, allowance_pct=entry["machine_allowance_pct"])

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
    return RegressOutcome(list(comparisons.values()), confirmed, ratios)


def outcome_rows(outcome: RegressOutcome, threshold_pct: float) -> list[list]:
    """Table rows: case, baseline and current ratio, change with its 95% interval, verdict."""
    rows = []
    for c in sorted(outcome.comparisons, key=lambda c: -c.change_pct):
        if c.case in outcome.regressed:
            verdict = f"REGRESSED (confidence {c.confidence:.0%} that it is > {c.threshold_pct:.0f}% slower)"
        elif c.regressed:
            verdict = "looked slower, not confirmed in a fresh process"
        elif c.improved:
            verdict = "faster"
        else:
            verdict = "ok"
        rows.append([c.case, f"{c.baseline_ratio:.3f}", f"{c.current_ratio:.3f}", f"{c.change_pct:+.1f}%",
                     f"[{c.ci_low_pct:+.1f}%, {c.ci_high_pct:+.1f}%]",
                     f"{c.threshold_pct:.0f}%" + ("" if c.threshold_reason == "global" else f" ({c.threshold_reason})"),
                     verdict])
    return rows


REGRESS_HEADERS = ["case", "baseline ratio", "now", "change", "95% interval", "threshold", "verdict"]
