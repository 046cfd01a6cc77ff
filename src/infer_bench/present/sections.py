"""The sections of the Markdown report, each a list of lines, from typed records.

Every section takes what it shows (a ``ResultsFile``, a ``CheckReport``, an
``Explanation``, the export ``Manifest``) and, for an optional input that is
missing or could not be used, says so and names the command that makes it:
no number is ever filled in.
"""

from __future__ import annotations

from pathlib import Path

from ..catalog import COMPUTE_PRECISIONS, REFERENCE_RUNTIME
from ..manifest import MANIFEST_NAME
from ..results.bench import BenchResult, ResultsFile
from ..results.check import CheckReport
from ..results.explain import Explanation
from . import figures
from .decide import ACCURACY_WINDOW_PTS, DECISION_HEADERS, decision_rows
from .markdown import image, md_table, missing
from .scenario_decide import ScenarioInputs, all_decisions, rows_note
from .tables import (LATENCY_HEADERS, MODEL_BEST_BATCH_HEADERS, latency_rows, model_best_batch_rows,
                     skipped_summary)
from .wording import is_number, number, percent, ratio, si

MAX_WARNING_LINES = 8  # noisy-measurement lines listed per model before "... and N more"

CMD_BENCH = "`infer-bench bench`"
CMD_CHECK = "`infer-bench check`"
CMD_EXPLAIN = "`infer-bench explain`"
CMD_TRAIN_EXPORT = "`infer-bench train-export`"


def _unusable(what: str, cmd: str, problem: str | None) -> str:
    """The line for an optional input that is absent (``problem`` None) or could not be used."""
    if problem is None:
        return missing(f"No {what} found; run {cmd}.")
    return missing(f"The {what} could not be used ({problem}); run {cmd} again.")


# --- machine and decisions --------------------------------------------------------------------


def machine_section(results_file: ResultsFile) -> list[str]:
    """The machine the benchmark ran on: CPU, cores, memory, GPU, libraries, threads, commit, command."""
    env = results_file.environment
    flags = env.get("cpu_flags") or {}
    on = [k for k, v in flags.items() if v]
    gpu = env.get("gpu")
    if isinstance(gpu, dict):
        gpu_text = f"{gpu.get('name', '?')} (driver {gpu.get('driver_version', '?')}, count {gpu.get('count', 1)})"
    else:
        gpu_text = "none" if "gpu" in env else "unknown"
    threads = env.get("threads") or {}
    env_set = {k: v for k, v in (threads.get("env") or {}).items() if v is not None}
    requested = threads.get("requested")
    packages = env.get("packages") or {}
    commit = env.get("git_commit")
    rows = [
        ["CPU", f"{env.get('cpu_model', 'unknown')}" + (f" ({', '.join(on)})" if on else "")],
        ["cores", f"{env.get('logical_cores', '?')} logical, {env.get('usable_cores', '?')} usable"],
        ["memory", f"{env['memory_total_mb'] / 1024:.1f} GiB" if is_number(env.get("memory_total_mb"))
         else "unknown"],
        ["GPU", gpu_text],
        ["platform", env.get("platform", "unknown")],
        ["Python", f"{env.get('python', '?')} ({env.get('python_implementation', '?')})"],
        ["libraries", ", ".join(f"{k} {v}" for k, v in packages.items() if v) or "unknown"],
        ["ONNX Runtime providers", ", ".join(env.get("onnxruntime_providers") or []) or "none"],
        ["threads", ("all cores" if requested is None else f"{requested} requested")
         + ("; " + ", ".join(f"{k}={v}" for k, v in env_set.items()) if env_set else "; no thread variables set")],
        ["commit", (f"{commit[:10]}" + (" (uncommitted changes)" if env.get("git_dirty") else "")) if commit
         else "unknown"],
        ["benchmark run", results_file.created or "unknown"],
    ]
    if env.get("argv"):
        argv = list(env["argv"])
        argv[0] = Path(argv[0]).name
        rows.append(["command", "`" + " ".join(argv).replace("`", "'") + "`"])
    return ["## Machine", "", md_table(rows, ["", ""]), ""]


def decision_section(results_file: ResultsFile, check: CheckReport | None,
                     scenarios: ScenarioInputs | None = None) -> list[str]:
    """The deployment decision table, with the accuracy rule it applied (or why it could not), and
    each model's LoadGen rows from ``scenarios`` (None: no LoadGen rows, nothing said of them)."""
    lines = ["## Deployment decisions", ""]
    if check is None:
        lines.append(f"No accuracy check found, so the accuracy constraint cannot be applied: every choice "
                     f"below is made among fp32 artifacts only. Run {CMD_CHECK} to allow fp16 and int8.")
    else:
        lines.append(f"\"Within {ACCURACY_WINDOW_PTS:g} point\": the artifact passed {CMD_CHECK} and lost at most "
                     f"{ACCURACY_WINDOW_PTS:g} accuracy point against its Keras model (the .keras model itself "
                     "always qualifies; an artifact the check did not cover does not). CPU rows compare "
                     "CPU results only.")
    decisions = all_decisions(results_file, check, scenarios)
    if scenarios is not None:
        lines += ["", rows_note(scenarios)]
    lines += ["", md_table(decision_rows(decisions), DECISION_HEADERS), ""]
    return lines


# --- latency ----------------------------------------------------------------------------------


def _warning_lines(results: list[BenchResult]) -> list[str]:
    noisy = [f"{r.format}/{r.quantization} {r.runtime} {r.device} batch {r.batch_size}: {'; '.join(r.warnings)}"
             for r in results if r.warnings]
    if not noisy:
        return []
    lines = [f"- {len(noisy)} measurement(s) carry warnings:"] + [f"  - {n}" for n in noisy[:MAX_WARNING_LINES]]
    if len(noisy) > MAX_WARNING_LINES:
        lines.append(f"  - ... and {len(noisy) - MAX_WARNING_LINES} more (see the results file)")
    return lines


def latency_section(results: list[BenchResult], figs: dict[str, Path], out_dir: Path) -> list[str]:
    """Per model: batch-1 latencies and each variant's best batch, with the skipped cases and warnings."""
    lines = ["## Latency and throughput", "",
             "Per-row times are call time / batch size, in ms; the cold start (load, first call) is measured "
             f"once per variant at batch 1. \"vs {REFERENCE_RUNTIME}\" compares p50 with model.predict on the "
             "CPU at the same batch size (at its best batch for throughput).", ""]
    for key, alt in (("latency_bars", "p50 ms per row at batch 1"), ("latency_vs_batch", "ms per row vs batch size")):
        if key in figs:
            lines += [image(figs[key], out_dir, alt), ""]
    batch1 = latency_rows(results, 1)
    for model in dict.fromkeys(r.model for r in results):
        lines += [f"### {model}", ""]
        rows = [row[1:] for row in batch1 if row[0] == model]
        if rows:
            lines += ["Batch 1, fastest first:", "", md_table(rows, LATENCY_HEADERS[1:]), ""]
        else:
            lines += [missing("no measured results at batch 1"), ""]
        best = model_best_batch_rows(results, model)
        if best:
            lines += ["Best batch per variant (highest throughput), highest first:", "",
                      md_table(best, MODEL_BEST_BATCH_HEADERS), ""]
        mine = [r for r in results if r.model == model]
        lines += [f"- {line}" for line in skipped_summary(mine)]
        lines += _warning_lines(mine)
        if lines[-1] != "":
            lines.append("")
    return lines


# --- accuracy ---------------------------------------------------------------------------------


CHECK_HEADERS = ["model", "format", "quant", "Keras acc", "acc", "Δ pts", "agreement", "max abs diff", "verdict"]


def accuracy_section(check: CheckReport | None, check_path: Path | None, problem: str | None) -> list[str]:
    """One row per checked artifact: accuracies, agreement with Keras, largest output difference, verdict."""
    lines = ["## Accuracy", ""]
    if check is None:
        return lines + [_unusable("accuracy check", CMD_CHECK, problem), ""]
    rows = []
    for e in check.entries:
        verdict = e.verdict if e.passed else f"{e.verdict}: " + "; ".join(e.reasons)
        rows.append([e.model, e.format, e.quantization, percent(e.reference_accuracy), percent(e.test_accuracy),
                     number(e.accuracy_delta_pts, "{:+.2f}"), percent(e.top1_agreement),
                     number(e.max_abs_diff, "{:.1e}"), verdict])
    passed = sum(1 for e in check.entries if e.passed)
    lines.append(f"From `{check_path}`: {passed} of {len(check.entries)} artifact(s) passed. \"Δ pts\" is the "
                 "artifact's test accuracy minus its Keras model's, in percentage points; \"agreement\" is the "
                 "share of rows with the same top-1 class as Keras.")
    lines += ["", md_table(rows, CHECK_HEADERS) if rows else missing("the check report lists no artifacts"), ""]
    return lines


# --- explanation ------------------------------------------------------------------------------


CEILINGS = (("peak_gflops_fp32", "fp32 peak", "GFLOP/s"), ("peak_gflops_bf16", "bf16 peak", "GFLOP/s"),
            ("peak_gops_int8", "int8 peak", "G op/s"), ("memory_gbps", "memory bandwidth", "GB/s"))
COST_HEADERS = ["model", "FLOPs", "MACs", "params", "weights MB fp32", "fp16", "int8"]
PAIR_HEADERS = ["a", "b", "FLOPs", "weight bytes", "ONNX Runtime time", "model.predict time", "in words"]


def _cost_rows(explain: Explanation) -> list[list[str]]:
    rows = []
    for name, m in explain.models.items():
        wb = m.weight_bytes
        rows.append([name, si(m.flops, "FLOP"), si(m.macs, "MAC"), number(m.params, "{:,}"),
                     *(number(wb[p] / 1e6, "{:.2f}") if is_number(wb.get(p)) else "" for p in COMPUTE_PRECISIONS)])
    return rows


def _pair_rows(explain: Explanation) -> list[list[str]]:
    # Pairs stay the file's plain dicts (``results.explain``): read them leniently.
    return [[p.get("a", "?"), p.get("b", "?"), ratio(p.get("flop_ratio")), ratio(p.get("weight_bytes_ratio")),
             ratio(p.get("ort_ratio")), ratio(p.get("predict_ratio")), p.get("text", "")]
            for p in explain.pairs if isinstance(p, dict)]


INT8_WHY_HEADERS = ["model", "variant", "int8 / fp32", "compute ops in float", "ConvInteger / MatMulInteger",
                    "conversions left", "int8 ISA", "why"]


def _reason(why: dict, code: str) -> dict:
    return next((r for r in why.get("reasons", []) if isinstance(r, dict) and r.get("code") == code), {})


def _share_words(r: dict) -> str:
    return f" ({r['share']:.0%} of {r.get('share_of', '')})" if is_number(r.get("share")) else ""


def _int8_why_rows(explain: Explanation) -> list[list[str]]:
    # int8_why entries stay the file's plain dicts (``explain.int8why``): read them leniently.
    rows = []
    for name, m in explain.models.items():
        for label, why in m.int8_why.items():
            if "skipped" in why:
                rows.append([name, label, "", "", "", "", "", f"not explained: {why['skipped']}"])
                continue
            fl, ik, qdq = _reason(why, "float_ops"), _reason(why, "integer_kernels"), _reason(why, "unfused_qdq")
            rows.append([name, label, ratio(why.get("ratio")),
                         f"{fl.get('count', '')} of {fl.get('compute_ops', '')}{_share_words(fl)}" if fl else "",
                         f"{ik.get('conv_integer', 0)} / {ik.get('matmul_integer', 0)}" if ik else "",
                         f"{qdq.get('count', '')}{_share_words(qdq)}" if qdq else "",
                         str(_reason(why, "isa").get("int8_isa", "")), why.get("sentence", "")])
    return rows


def explain_section(explain: Explanation | None, explain_path: Path | None, problem: str | None, results,
                    figs: dict[str, Path], out_dir: Path) -> list[str]:
    """The explanation: its text, the machine's ceilings, cost per row, model against model, the figures."""
    lines = ["## Why: cost, roofline and layers", ""]
    if explain is None:
        return lines + [_unusable("explanation", CMD_EXPLAIN, problem), ""]
    lines += [f"From `{explain_path}`.", ""]
    if explain.text.strip():
        lines += [explain.text.strip(), ""]
    ceilings = [f"{label} {number(explain.machine.get(k), '{:,.1f}')} {unit}" for k, label, unit in CEILINGS
                if is_number(explain.machine.get(k))]
    if ceilings:
        lines += ["Measured ceilings of this machine: " + ", ".join(ceilings) + ".", ""]
    routes = explain.machine.get("routes") or {}
    if routes:
        said = [f"{p} {r['runtime']} ({r['isa']})" if r.get("runtime") else f"{p} not measured ({r.get('reason', '')})"
                for p, r in routes.items() if isinstance(r, dict)]
        lines += ["How each peak was reached: " + "; ".join(said) + ".", ""]
    cost_rows = _cost_rows(explain)
    if cost_rows:
        lines += ["Cost of one row:", "", md_table(cost_rows, COST_HEADERS), ""]
    pair_rows = _pair_rows(explain)
    if pair_rows:
        lines += ["Model against model (b / a):", "", md_table(pair_rows, PAIR_HEADERS), ""]
    int8_rows = _int8_why_rows(explain)
    if int8_rows:
        lines += ["Why int8 is slower or faster here (batch 1, each int8 variant against the fp32 artifact of the "
                  "same format in the same runtime; shares are of its profiled time, else of its MACs or compute "
                  "nodes):", "", md_table(int8_rows, INT8_WHY_HEADERS), ""]
    if "roofline" in figs:
        lines += [image(figs["roofline"], out_dir, "roofline"), ""]
    else:
        lines += [missing(f"No roofline figure: {figures.roofline_missing(explain, results)}."), ""]
    if "layer_times" in figs:
        lines += [image(figs["layer_times"], out_dir, "slowest layers per model"), ""]
    else:
        lines += [missing(f"No per-layer figure: {figures.layer_times_missing(explain)}."), ""]
    return lines


# --- training ---------------------------------------------------------------------------------


TRAINING_HEADERS = ["model", "dataset", "test accuracy", "target", "met", "stability", "test rows", "quick"]


def _training_row(name: str, info: dict) -> list[str]:
    acc, target = info.get("test_accuracy"), info.get("target_accuracy")
    met = "" if not is_number(acc) or not is_number(target) else ("yes" if acc >= target else "no")
    st = info.get("stability") or {}
    stability = ""
    if is_number(st.get("std_pts")) and is_number(st.get("range_pts")):
        stability = (f"std {st['std_pts']:.2f} pts, range {st['range_pts']:.2f} pts over the last "
                     f"{st.get('epochs', '?')} epoch(s)")
    return [name, info.get("dataset") or info.get("data", ""), percent(acc), percent(target), met, stability,
            str(info.get("test_rows", "")), "yes" if info.get("quick") else "no"]


def training_section(exported: Path, manifest, problem: str | None, bench_models, curves: dict[str, Path],
                     out_dir: Path) -> list[str]:
    """The trained models from the export manifest: accuracy against target, stability, training curves."""
    lines = ["## Training", ""]
    if problem is not None:
        return lines + [missing(f"The export manifest could not be used ({problem}); run {CMD_TRAIN_EXPORT}."), ""]
    if manifest is None or not manifest.models:
        where = exported / MANIFEST_NAME
        return lines + [missing(f"No trained models listed at {where}; run {CMD_TRAIN_EXPORT} "
                                f"(or pass --exported DIR)."), ""]
    rows = [_training_row(name, info) for name, info in manifest.models.items()]
    lines += [f"From `{manifest.path}`. Test accuracy is the Keras model's on the held-out test set; stability is "
              "the spread of validation accuracy over the last epochs.", "", md_table(rows, TRAINING_HEADERS), ""]
    if any(info.get("quick") for info in manifest.models.values()):
        lines += ["**These are `--quick` smoke models (small subsets, one epoch): their accuracy is not a real "
                  f"result.** Run {CMD_TRAIN_EXPORT} without `--quick` for the real ones.", ""]
    not_listed = [m for m in bench_models if m not in manifest.models]
    if not_listed:
        lines += [missing(f"Benchmarked but not in this manifest: {', '.join(not_listed)}."), ""]
    for name, info in manifest.models.items():
        if name in curves:
            lines += [image(curves[name], out_dir, f"{name} training curves"), ""]
        elif info.get("source_model"):
            lines += [f"{name}: a user's model, exported from `{info['source_model']}` with `infer-bench export` "
                      "(not trained here, so no training curves).", ""]
        else:
            lines += [missing(f"{name}: no training curves or history found in {exported}."), ""]
    return lines
