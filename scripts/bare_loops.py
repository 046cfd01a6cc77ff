"""Issue 16's check: does the decision table pick the variant a bare loop finds fastest?

For each model of an ``infer-bench run`` (or bench + check), every non-Keras variant bench
measured at batch 1 on CPU (ONNX in onnxruntime and openvino, TFLite in litert and openvino,
the OpenVINO int8 IR, bf16 variants where the CPU runs them) is loaded again as bench loads
it and timed two ways on the same session, round-robin across the model's variants so all
see the same moments of a noisy host: a bare loop of N calls of the runtime's own call
(ONNX Runtime's ``InferenceSession.run``, LiteRT's set_tensor/invoke/get_tensor, OpenVINO's
input-tensor write and ``InferRequest.infer``) on one real batch-1 test image with one clock read around the loop
(``measure.bare_loop_ns``), and the harness bench times with (``measure_session(session.run,
rotation, 1, StopRule.fixed(N))``) on bench's rotation of real test images. N makes a block
last about ``BLOCK_S``. Per model: the fastest bare loop overall and within the accuracy
rule, and the "lowest p50 at batch 1" choice's bare time against them (target <= 1.15x); per
runtime: the harness overhead in us per call (target <= 2 us). It measures, it does not
gate: the exit status is 0.

Usage: python scripts/bare_loops.py --exported DIR --results-dir DIR [--models m1,m2]
                                    [--threads N] [--rounds 15] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
from tabulate import tabulate

from infer_bench.bench import BenchPlan, case_rotation, case_skip_reason, plan_cases
from infer_bench.errors import InferBenchError
from infer_bench.measure import InputRotation, StopRule, bare_loop_ns, measure_session
from infer_bench.plans import refuse_existing
from infer_bench.present.decide import CONSTRAINTS, accuracy_status, check_index, decide
from infer_bench.results import BenchResult, latest_results, load_results, store
from infer_bench.results.check import latest_check, load_check
from infer_bench.runtimes import LoadOptions, PrecisionUnavailable, get_runtime

RUNTIMES = ("onnxruntime", "litert", "openvino")  # every non-Keras runtime the suite installs
TARGET_RATIO = 1.15  # issue 16: the choice within 1.15x of the fastest bare loop
OVERHEAD_TARGET_US = 2.0  # issue 16: the harness adds at most 2 us per call
BLOCK_S = 0.05  # each timed block (bare or harness) lasts about this long
MIN_BLOCK_CALLS = 5
DEFAULT_ROUNDS = 15
P50_KEY = "p50_b1"  # decide.CONSTRAINTS' "lowest p50 at batch 1, within 1 point"


def label(format: str, quantization: str, runtime: str) -> str:
    """"onnx/fp32 via onnxruntime", as the decision table names a variant."""
    return f"{format}/{quantization} via {runtime}"


@dataclass
class Variant:
    """One loaded variant: its session, the runtime's bare call and the per-round timings (ns per call)."""

    label: str
    runtime: str
    session: Any
    call: Callable[[np.ndarray], Any]  # the runtime's own call, nothing of the harness around it
    bare_input: np.ndarray  # what ``call`` is given (already in the model's input type)
    rotation: InputRotation
    bench: BenchResult | None = None  # bench's batch-1 CPU result of the same variant
    qualifies: bool = True
    why_not: str = ""
    calls: int = MIN_BLOCK_CALLS  # calls per block
    bare_ns: list[float] = field(default_factory=list)
    harness_ns: list[float] = field(default_factory=list)


# --- the runtimes' own calls --------------------------------------------------------------------


def native_call(session, batch: np.ndarray) -> tuple[Callable[[np.ndarray], Any], np.ndarray]:
    """(call, input) that run ``session``'s model on ``batch`` through the runtime's own API.

    The session classes have no public accessor for their runtime objects, and src/ is
    not this script's to change, so their private attributes are reached from here on
    purpose; if a session class renames them, this is the place to follow.
    """
    if session.runtime == "onnxruntime":
        sess, names, name = session._sess, session._output_names, session._input_name
        return (lambda x: sess.run(names, {name: x})), np.ascontiguousarray(batch, dtype=session._input_np)
    if session.runtime == "litert":
        interpreter = session._interpreter(1)  # the batch-1 interpreter bench's run uses
        if session._in_q is not None:  # a full-integer model: quantize once, outside the loop
            from infer_bench.runtimes.litert_rt import quantize
            x = quantize(batch, session._input_np, *session._in_q)
        else:
            x = np.ascontiguousarray(batch, dtype=session._input_np)
        set_tensor, invoke, get_tensor = interpreter.set_tensor, interpreter.invoke, interpreter.get_tensor
        i, o = session._input["index"], session._output["index"]

        def litert_call(x):
            set_tensor(i, x)
            invoke()
            return get_tensor(o)
        return litert_call, x
    if session.runtime == "openvino":
        infer, inputs, outputs = session._request_for(1)  # the batch-1 infer request bench's run uses
        x = np.ascontiguousarray(batch, dtype=inputs.dtype)

        def openvino_call(x):
            # The least a real call does: write the image into the request's input tensor (as
            # LiteRT's set_tensor does), infer, read the output in place (share_outputs=True).
            # A loop that skips the write reuses an input the inference threads already hold in
            # their caches and is not a call any server makes (docs/results-2026-12-02.md).
            inputs[...] = x
            infer(share_outputs=True)
            return outputs
        return openvino_call, x
    raise InferBenchError(f"No bare call for runtime {session.runtime!r}.", f"use one of: {', '.join(RUNTIMES)}.")


def make_variant(name: str, runtime: str, path: Path, rotation: InputRotation, threads: int | None,
                 precision: str | None = None) -> Variant:
    """Load ``path`` in ``runtime`` exactly as bench does (same LoadOptions) and find its bare call."""
    session = get_runtime(runtime).load(path, LoadOptions(threads=threads, precision=precision))
    call, x = native_call(session, rotation.first(1))
    return Variant(name, runtime, session, call, x, rotation)


# --- timing -------------------------------------------------------------------------------------


def calibrate(v: Variant, block_s: float = BLOCK_S) -> None:
    """Warm both paths up, then set ``v.calls`` so one block lasts about ``block_s``."""
    for _ in range(10):
        v.call(v.bare_input)
        v.session.run(v.rotation.first(1))
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < block_s or n < 3:  # one block's worth sizes the blocks
        v.call(v.bare_input)
        n += 1
    per_call = (time.perf_counter() - t0) / n
    v.calls = max(MIN_BLOCK_CALLS, round(block_s / per_call))


def bare_block(v: Variant) -> float:
    """Mean ns per call of one bare loop of ``v.calls`` calls."""
    return bare_loop_ns(v.call, v.bare_input, v.calls) / v.calls


def harness_block(v: Variant) -> float:
    """Mean ns per call of the harness (bench's loop, rotation and per-call clock) over ``v.calls`` calls."""
    m = measure_session(v.session.run, v.rotation, 1, StopRule.fixed(v.calls))
    return sum(m.calls_ns) / len(m.calls_ns)


def time_round_robin(variants: list[Variant], rounds: int) -> None:
    """``rounds`` rounds; in each, every variant's bare block and harness block.

    The order of variants shifts by one each round and bare/harness alternate which
    goes first, so no variant or path always follows the same neighbour.
    """
    k = len(variants)
    for r in range(rounds):
        for j in range(k):
            i = (r + j) % k
            v = variants[i]
            if (r + i) % 2:  # each variant's own order flips every round (by variant, not position)
                v.bare_ns.append(bare_block(v))
                v.harness_ns.append(harness_block(v))
            else:
                v.harness_ns.append(harness_block(v))
                v.bare_ns.append(bare_block(v))


# --- analysis (pure) ----------------------------------------------------------------------------


def variant_stats(bare_ns: list[float], harness_ns: list[float]) -> dict:
    """Bare and harness ms per call (medians over rounds) and the harness overhead in us per call:
    the median over rounds of harness - bare, with its 25th-75th percentile range."""
    diffs = [h - b for b, h in zip(bare_ns, harness_ns)]
    q25, q75 = np.percentile(diffs, [25, 75]) if diffs else (float("nan"),) * 2
    return {"bare_ms": statistics.median(bare_ns) / 1e6, "harness_ms": statistics.median(harness_ns) / 1e6,
            "overhead_us": statistics.median(diffs) / 1e3, "overhead_us_iqr": [q25 / 1e3, q75 / 1e3]}


def model_summary(rows: list[dict], chosen: str | None) -> dict:
    """The fastest bare-loop variant overall and among the qualifying ones, and the chosen one against them.

    ``rows``: one dict per variant with ``label``, ``bare_ms`` and ``qualifies``.
    ``chosen``: the decision table's choice (a label), or None when it chose nothing measurable here.
    """
    if not rows:
        raise ValueError("no variants measured")
    fastest = min(rows, key=lambda r: r["bare_ms"])
    qualifying = [r for r in rows if r["qualifies"]]
    fastest_ok = min(qualifying, key=lambda r: r["bare_ms"]) if qualifying else None
    mine = next((r for r in rows if r["label"] == chosen), None)
    out = {"chosen": chosen, "chosen_bare_ms": mine and mine["bare_ms"],
           "chosen_bench_p50_ms": mine and mine.get("bench_p50_ms"),
           "fastest": fastest["label"], "fastest_bare_ms": fastest["bare_ms"],
           "fastest_qualifying": fastest_ok and fastest_ok["label"],
           "fastest_qualifying_bare_ms": fastest_ok and fastest_ok["bare_ms"],
           "ratio_vs_qualifying": None, "ratio_vs_fastest": None, "within_target": None}
    if mine is not None:
        out["ratio_vs_fastest"] = mine["bare_ms"] / fastest["bare_ms"]
        if fastest_ok is not None:
            out["ratio_vs_qualifying"] = mine["bare_ms"] / fastest_ok["bare_ms"]
            out["within_target"] = out["ratio_vs_qualifying"] <= TARGET_RATIO
    return out


def overhead_by_runtime(rows: list[dict]) -> dict:
    """{runtime: the harness overhead (us per call) over the variants that resolve it, and over all}.

    The overhead is a fixed few us per call while block-to-block noise grows with the call's
    time, so a 5 ms model's rounds scatter by hundreds of us. A variant "resolves" the target
    when half its rounds' 25th-75th percentile range is within ``OVERHEAD_TARGET_US``; the
    verdict is the median over those (None when no variant of the runtime resolves it).
    """
    out = {}
    for rt in sorted({r["runtime"] for r in rows}):
        mine = [r for r in rows if r["runtime"] == rt]
        sharp = [r["overhead_us"] for r in mine
                 if (r["overhead_us_iqr"][1] - r["overhead_us_iqr"][0]) / 2 <= OVERHEAD_TARGET_US]
        median = statistics.median(sharp) if sharp else None
        out[rt] = {"variants": len(mine), "resolved": len(sharp), "median_us": median,
                   "max_us": max(sharp) if sharp else None,
                   "median_all_us": statistics.median(r["overhead_us"] for r in mine),
                   "within_target": None if median is None else median <= OVERHEAD_TARGET_US}
    return out


# --- inputs -------------------------------------------------------------------------------------


def read_results(results_dir: Path):
    """(bench file path, its ResultsFile, check file path, its CheckReport), or a clear error."""
    if not results_dir.is_dir():
        raise InferBenchError(f"--results-dir {results_dir} is not a folder.",
                              "pass the --results-dir of an `infer-bench run` (or bench + check).")
    bench_path, check_path = latest_results(results_dir), latest_check(results_dir)
    if bench_path is None:
        raise InferBenchError(f"{results_dir} has no bench-*.json.",
                              f"run `infer-bench bench --results-dir {results_dir}`.")
    if check_path is None:
        raise InferBenchError(f"{results_dir} has no check-*.json: the accuracy rule needs one.",
                              f"run `infer-bench check --results-dir {results_dir}`.")
    return bench_path, load_results(bench_path), check_path, load_check(check_path)


def batch1_results(results) -> dict[tuple[str, str], BenchResult]:
    """{(model, label): bench's measured batch-1 CPU result} of the runtimes here."""
    return {(r.model, label(r.format, r.quantization, r.runtime)): r for r in results.results
            if not r.skipped and r.device == "cpu" and r.batch_size == 1 and r.runtime in RUNTIMES}


def chosen_labels(results, check) -> dict[str, str | None]:
    """{model: the "lowest p50 at batch 1" choice as a variant label (None: nothing chosen)}."""
    constraint = next(c for c in CONSTRAINTS if c.key == P50_KEY)
    # Decision.choice is "<format>/<quantization> via <runtime> (batch 1)", or "none" when nothing qualifies.
    return {d.model: d.choice.rsplit(" (batch", 1)[0] if " via " in d.choice else None
            for d in decide(results, check, constraints=(constraint,))}


def load_model_variants(exported: Path, model: str, bench: dict, index, threads: int | None,
                        log: Callable[[str], None]) -> list[Variant]:
    """Every variant of ``model`` bench measured, loaded as bench loads it (the same cases and images)."""
    plan = BenchPlan(exported=exported, models=[model], runtimes=list(RUNTIMES), batch_sizes=[1], threads=threads)
    cases, cache, variants = plan_cases(plan, log), {}, []
    for case in cases:
        name = label(case.entry.format, case.quantization, case.runtime)
        result = bench.get((model, name))
        if result is None or case_skip_reason(case):
            continue  # bench did not measure it (skipped, or not in its filters): nothing to compare with
        try:
            v = make_variant(name, case.runtime, case.path, case_rotation(case, plan, cache), threads, case.precision)
        except PrecisionUnavailable as exc:
            log(f"  {model} {name}: skipped, {exc.problem}")
            continue
        v.bench = result
        v.qualifies, v.why_not, _ = accuracy_status(result, index)
        calibrate(v)
        log(f"  [{len(variants) + 1}] {model} {name}: loaded, {v.calls} calls per block "
            f"(bench p50 {result.per_call_ms['p50']:.4f} ms)")
        variants.append(v)
    return variants


# --- output -------------------------------------------------------------------------------------


def _f(x, spec: str = ".4f", unit: str = "") -> str:
    """``x`` formatted (ms with 4 decimals by default), "-" for none."""
    return "-" if x is None else f"{x:{spec}}{unit}"


def print_model(model: str, rows: list[dict]) -> None:
    """One model's variants, fastest bare loop first."""
    table = [[r["label"], _f(r["bare_ms"]), _f(r["harness_ms"]),
              f"{r['overhead_us']:+.1f} [{r['overhead_us_iqr'][0]:+.1f}, {r['overhead_us_iqr'][1]:+.1f}]",
              _f(r["bench_p50_ms"]), "yes" if r["qualifies"] else f"no: {r['why_not'][:60]}"]
             for r in sorted(rows, key=lambda r: r["bare_ms"])]
    print(f"\n{model}: bare loop vs harness, ms per call at batch 1 (median over rounds), fastest bare first")
    print(tabulate(table, headers=["variant", "bare ms", "harness ms", "overhead us [p25, p75]", "bench p50 ms",
                                   "within 1 pt"], tablefmt="github", disable_numparse=True))


def print_summary(summaries: dict, overheads: dict) -> None:
    """The choice against the fastest bare loops per model, then the harness overhead per runtime."""
    verdict = {True: "yes", False: "NO", None: "-"}
    table = [[m, s["chosen"] or "none", _f(s["chosen_bare_ms"]), f"{s['fastest']} {_f(s['fastest_bare_ms'])}",
              f"{s['fastest_qualifying'] or '-'} {_f(s['fastest_qualifying_bare_ms'])}",
              _f(s["ratio_vs_qualifying"], ".3f", "x"), _f(s["ratio_vs_fastest"], ".3f", "x"),
              verdict[s["within_target"]]]
             for m, s in summaries.items()]
    print(f"\nThe decision table's 'lowest p50 at batch 1' choice against the fastest bare loop "
          f"(target <= {TARGET_RATIO}x)")
    print(tabulate(table, headers=["model", "chosen", "chosen bare ms", "fastest bare (ms)", "fastest within 1 pt (ms)",
                                   "chosen / fastest within 1 pt", "chosen / fastest", "<= 1.15x"],
                   tablefmt="github", disable_numparse=True))
    table = [[rt, f"{o['resolved']} of {o['variants']}", *(_f(o[k], "+.1f") for k in ("median_us", "max_us",
              "median_all_us")), verdict[o["within_target"]]] for rt, o in overheads.items()]
    print(f"\nHarness overhead per runtime, us per call (harness - bare; target <= {OVERHEAD_TARGET_US:g} us), over "
          f"the variants whose rounds resolve it (p25-p75 half-range <= {OVERHEAD_TARGET_US:g} us)")
    print(tabulate(table, headers=["runtime", "variants resolved", "median us", "max us", "median us, all variants",
                                   "median <= 2 us"], tablefmt="github", disable_numparse=True))


# --- main ---------------------------------------------------------------------------------------


def run(args, log: Callable[[str], None] = print) -> dict:
    """Measure every model asked for; the JSON-ready record of it all."""
    exported, results_dir = Path(args.exported), Path(args.results_dir)
    if not exported.is_dir():
        raise InferBenchError(f"--exported {exported} is not a folder.", "pass the --exported folder of the run.")
    refuse_existing(Path(args.json) if args.json else None, "bare loop")  # before minutes of measuring
    bench_path, results, check_path, check = read_results(results_dir)
    bench, index, chosen = batch1_results(results), check_index(check), chosen_labels(results, check)
    measured = list(dict.fromkeys(m for m, _ in bench))
    models = args.models.split(",") if args.models else measured
    missing = [m for m in models if m not in measured]
    if missing:
        raise InferBenchError(f"{bench_path} has no batch-1 CPU results of {', '.join(missing)} in these runtimes.",
                              f"use some of: {', '.join(measured) or 'none'}, or bench those models first.")
    # Bench's own thread count, read back from its results, unless asked for another.
    threads = args.threads or next((r.threads for r in bench.values() if r.threads), None)
    log(f"bench {bench_path.name}, check {check_path.name}; {len(models)} model(s), {threads} threads, "
        f"{args.rounds} rounds of ~{BLOCK_S * 1e3:.0f} ms blocks")
    record = {"created": store.now_iso(), "exported": str(exported), "bench_file": str(bench_path),
              "check_file": str(check_path), "threads": threads, "rounds": args.rounds, "block_s": BLOCK_S,
              "target_ratio": TARGET_RATIO, "overhead_target_us": OVERHEAD_TARGET_US, "models": {}}
    all_rows, summaries = [], {}
    for model in models:
        variants = load_model_variants(exported, model, bench, index, threads, log)
        if not variants:
            log(f"{model}: no variant to time")
            continue
        t0 = time.perf_counter()
        time_round_robin(variants, args.rounds)
        rows = [{"label": v.label, "runtime": v.runtime, **variant_stats(v.bare_ns, v.harness_ns),
                 "bench_p50_ms": v.bench.per_call_ms["p50"], "qualifies": v.qualifies, "why_not": v.why_not,
                 "calls_per_block": v.calls, "bare_ns_per_call": v.bare_ns, "harness_ns_per_call": v.harness_ns}
                for v in variants]
        for v in variants:  # before the next model's sessions load
            v.session.close()
        summary = model_summary(rows, chosen.get(model))
        log(f"{model}: {len(variants)} variants x {args.rounds} rounds timed in {time.perf_counter() - t0:.0f} s")
        print_model(model, rows)
        all_rows, summaries[model] = all_rows + rows, summary
        record["models"][model] = {"summary": summary, "variants": rows}
    record["overhead_by_runtime"] = overhead_by_runtime(all_rows) if all_rows else {}
    print_summary(summaries, record["overhead_by_runtime"])
    if args.json:
        store.write_new(args.json, record, what="bare loop")
        log(f"\nwrote {args.json}")
    return record


def parse_args(argv=None) -> argparse.Namespace:
    """The command line, checked."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exported", required=True, help="the export folder bench read (manifest.json)")
    parser.add_argument("--results-dir", required=True, help="holds the bench-*.json and check-*.json to read")
    parser.add_argument("--models", help="comma-separated; default: every model bench measured")
    parser.add_argument("--threads", type=int, help="default: the thread count bench ran with")
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS)
    parser.add_argument("--json", help="write the record here (an existing file is refused)")
    args = parser.parse_args(argv)
    if args.rounds < 1 or (args.threads is not None and args.threads < 1):
        parser.error("--rounds and --threads must be >= 1")
    return args


def main(argv=None) -> int:
    """Run; an InferBenchError is printed as one paragraph with its exit code."""
    try:
        run(parse_args(argv))
    except InferBenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
