"""``infer-bench report``: one Markdown page from what is on disk, with its figures.

Reads the newest ``bench-*.json`` (required), the newest ``check-*.json`` and
``explain-*.json`` (optional) from the results folder and the export manifest
(optional), and writes ``OUT/report.md`` plus ``OUT/figures/*.png``. A missing
optional input becomes a short section that names the command that makes it;
no number is ever filled in. Every file is written atomically.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Callable

from . import figures
from .decide import ACCURACY_WINDOW_PTS, DECISION_HEADERS, decide, decision_rows
from .errors import InferBenchError
from .fsutil import write_bytes_atomic
from .manifest import MANIFEST_NAME, load_manifest
from .results import BenchResult, ResultsFile, latest_results, load_results
from .stats import format_speedup
from .tables import LATENCY_HEADERS, REFERENCE_RUNTIME, latency_rows, skipped_summary

REPORT_NAME = "report.md"
FIGURES_DIR = "figures"
CHECK_PREFIX = "check"
EXPLAIN_PREFIX = "explain"
OPTIONAL_SCHEMA_VERSION = 1  # of the check and explain JSON files
MAX_WARNING_LINES = 8  # noisy-measurement lines listed per model before "... and N more"

CMD_BENCH = "`infer-bench bench`"
CMD_CHECK = "`infer-bench check`"
CMD_EXPLAIN = "`infer-bench explain`"
CMD_TRAIN_EXPORT = "`infer-bench train-export`"


# --- finding and loading inputs ---------------------------------------------------------------


def latest_json(folder: str | Path, prefix: str) -> Path | None:
    """The newest ``PREFIX-YYYYMMDD-HHMMSS[-N].json`` in ``folder`` by the time in its name.

    Files named ``PREFIX-*.json`` otherwise are ranked by modification time,
    after every time-stamped one. None when there is none.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return None
    pattern = re.compile(rf"^{re.escape(prefix)}-(\d{{8}}-\d{{6}})(?:-(\d+))?\.json$")
    stamped, other = [], []
    for p in folder.glob(f"{prefix}-*.json"):
        if not p.is_file():
            continue
        m = pattern.match(p.name)
        if m:
            stamped.append((m.group(1), int(m.group(2) or 1), p))
        else:
            other.append((p.stat().st_mtime, p.name, p))
    if stamped:
        return max(stamped)[2]
    return max(other)[2] if other else None


def _load_optional(folder: Path, prefix: str, log) -> tuple[dict | None, Path | None, str | None]:
    """(data, path, problem) for the newest optional JSON input; problem says why data is None."""
    path = latest_json(folder, prefix)
    if path is None:
        return None, None, None
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        problem = f"{path} could not be read ({exc})"
        log(f"report: {problem}; leaving its section out")
        return None, path, problem
    if not isinstance(data, dict) or data.get("schema_version") != OPTIONAL_SCHEMA_VERSION:
        version = data.get("schema_version") if isinstance(data, dict) else None
        problem = f"{path} has schema_version {version!r}; this report reads version {OPTIONAL_SCHEMA_VERSION}"
        log(f"report: {problem}; leaving its section out")
        return None, path, problem
    return data, path, None


# --- Markdown helpers -------------------------------------------------------------------------


def _cell(value) -> str:
    text = "" if value is None else str(value)
    return text.replace("\r", " ").replace("\n", " ").replace("|", "\\|")


def md_table(rows, headers) -> str:
    """A GitHub Markdown table; ``|`` and newlines inside cells are escaped."""
    from tabulate import tabulate

    return tabulate([[_cell(v) for v in row] for row in rows], headers=[_cell(h) for h in headers],
                    tablefmt="github", disable_numparse=True)


def _rel(path: Path, base: Path) -> str:
    return path.relative_to(base).as_posix()


def _image(path: Path, base: Path, alt: str) -> str:
    return f"![{alt}]({_rel(path, base)})"


def _pct(x) -> str:
    return "" if not isinstance(x, (int, float)) else f"{x:.2%}"


def _num(x, fmt: str = "{:,.3g}") -> str:
    return fmt.format(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else ""


def _si(x, unit: str) -> str:
    """1.23e9 -> "1.23 G" + unit."""
    if not isinstance(x, (int, float)) or isinstance(x, bool):
        return ""
    for scale, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= scale:
            return f"{x / scale:.3g} {prefix}{unit}"
    return f"{x:.3g} {unit}"


def _missing(text: str) -> str:
    return f"_{text}_"


# --- sections ---------------------------------------------------------------------------------


def _machine_section(results_file: ResultsFile) -> list[str]:
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
        ["memory", f"{env['memory_total_mb'] / 1024:.1f} GiB" if isinstance(env.get("memory_total_mb"), (int, float))
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


def _decision_section(results_file: ResultsFile, check: dict | None) -> list[str]:
    lines = ["## Deployment decisions", ""]
    if check is None:
        lines.append(f"No accuracy check found, so the accuracy constraint cannot be applied: every choice "
                     f"below is made among fp32 artifacts only. Run {CMD_CHECK} to allow fp16 and int8.")
    else:
        lines.append(f"\"Within {ACCURACY_WINDOW_PTS:g} point\": the artifact passed {CMD_CHECK} and lost at most "
                     f"{ACCURACY_WINDOW_PTS:g} accuracy point against its Keras model (the .keras model itself "
                     "always qualifies; an artifact the check did not cover does not). CPU rows compare "
                     "CPU results only.")
    lines += ["", md_table(decision_rows(decide(results_file, check)), DECISION_HEADERS), ""]
    return lines


def _best_batch_rows(results: list[BenchResult], model: str) -> list[list[str]]:
    best: dict[tuple, BenchResult] = {}
    for r in results:
        if r.skipped or r.model != model:
            continue
        k = (r.format, r.quantization, r.runtime, r.device)
        if k not in best or r.throughput_rows_per_s > best[k].throughput_rows_per_s:
            best[k] = r
    base = best.get(("keras", "fp32", REFERENCE_RUNTIME, "cpu"))
    rows = []
    for r in sorted(best.values(), key=lambda r: -r.throughput_rows_per_s):
        if r is base:
            vs = "reference"
        elif base is None:
            vs = "n/a"
        else:  # compare as time per row, so "faster" reads the same as in the latency tables
            vs = format_speedup(1 / base.throughput_rows_per_s, 1 / r.throughput_rows_per_s)
        rows.append([r.format, r.quantization, r.runtime, r.device, str(r.batch_size),
                     f"{r.throughput_rows_per_s:,.0f}", f"{r.per_row_ms['p50']:.4f}", vs])
    return rows


BEST_HEADERS = ["format", "quant", "runtime", "device", "best batch", "rows/s", "p50 ms/row",
                f"vs {REFERENCE_RUNTIME} at its best batch (CPU)"]


def _latency_section(results: list[BenchResult], figs: dict[str, Path], out_dir: Path) -> list[str]:
    lines = ["## Latency and throughput", "",
             "Per-row times are call time / batch size, in ms; the cold start (load, first call) is measured "
             f"once per variant at batch 1. \"vs {REFERENCE_RUNTIME}\" compares p50 with model.predict on the "
             "CPU at the same batch size (at its best batch for throughput).", ""]
    for key, alt in (("latency_bars", "p50 ms per row at batch 1"), ("latency_vs_batch", "ms per row vs batch size")):
        if key in figs:
            lines += [_image(figs[key], out_dir, alt), ""]
    batch1 = latency_rows(results, 1)
    for model in dict.fromkeys(r.model for r in results):
        lines += [f"### {model}", ""]
        rows = [row[1:] for row in batch1 if row[0] == model]
        if rows:
            lines += ["Batch 1, fastest first:", "", md_table(rows, LATENCY_HEADERS[1:]), ""]
        else:
            lines += [_missing("no measured results at batch 1"), ""]
        best = _best_batch_rows(results, model)
        if best:
            lines += ["Best batch per variant (highest throughput), highest first:", "", md_table(best, BEST_HEADERS),
                      ""]
        mine = [r for r in results if r.model == model]
        for line in skipped_summary(mine):
            lines.append(f"- {line}")
        noisy = [f"{r.format}/{r.quantization} {r.runtime} {r.device} batch {r.batch_size}: {'; '.join(r.warnings)}"
                 for r in mine if r.warnings]
        if noisy:
            lines.append(f"- {len(noisy)} measurement(s) carry warnings:")
            lines += [f"  - {n}" for n in noisy[:MAX_WARNING_LINES]]
            if len(noisy) > MAX_WARNING_LINES:
                lines.append(f"  - ... and {len(noisy) - MAX_WARNING_LINES} more (see the results file)")
        if lines[-1] != "":
            lines.append("")
    return lines


CHECK_HEADERS = ["model", "format", "quant", "Keras acc", "acc", "Δ pts", "agreement", "max abs diff", "verdict"]


def _accuracy_section(check: dict | None, check_path: Path | None, problem: str | None) -> list[str]:
    lines = ["## Accuracy", ""]
    if check is None:
        text = f"No accuracy check found; run {CMD_CHECK}." if problem is None else \
            f"The accuracy check could not be used ({problem}); run {CMD_CHECK} again."
        return lines + [_missing(text), ""]
    entries = [e for e in check.get("results") or [] if isinstance(e, dict)]
    rows = []
    for e in entries:
        delta = e.get("accuracy_delta_pts")
        verdict = e.get("verdict", "?")
        if verdict != "PASS" and e.get("reasons"):
            verdict = f"{verdict}: " + "; ".join(map(str, e["reasons"]))
        diff = e.get("max_abs_diff")
        rows.append([e.get("model", "?"), e.get("format", "?"), e.get("quantization", "?"),
                     _pct(e.get("reference_accuracy")), _pct(e.get("test_accuracy")),
                     f"{delta:+.2f}" if isinstance(delta, (int, float)) else "", _pct(e.get("top1_agreement")),
                     f"{diff:.1e}" if isinstance(diff, (int, float)) else "", verdict])
    passed = sum(1 for e in entries if e.get("verdict") == "PASS")
    lines.append(f"From `{check_path}`: {passed} of {len(entries)} artifact(s) passed. \"Δ pts\" is the "
                 "artifact's test accuracy minus its Keras model's, in percentage points; \"agreement\" is the "
                 "share of rows with the same top-1 class as Keras.")
    lines += ["", md_table(rows, CHECK_HEADERS) if rows else _missing("the check report lists no artifacts"), ""]
    return lines


def _explain_section(explain: dict | None, explain_path: Path | None, problem: str | None, results,
                     figs: dict[str, Path], out_dir: Path) -> list[str]:
    lines = ["## Why: cost, roofline and layers", ""]
    if explain is None:
        text = f"No explanation found; run {CMD_EXPLAIN}." if problem is None else \
            f"The explanation could not be used ({problem}); run {CMD_EXPLAIN} again."
        return lines + [_missing(text), ""]
    lines += [f"From `{explain_path}`.", ""]
    if isinstance(explain.get("text"), str) and explain["text"].strip():
        lines += [explain["text"].strip(), ""]
    machine = explain.get("machine") or {}
    if machine:
        lines += ["Measured ceilings of this machine: "
                  + ", ".join(f"{label} {_num(machine.get(k), '{:,.1f}')} {unit}"
                              for k, label, unit in (("peak_gflops_fp32", "fp32 peak", "GFLOP/s"),
                                                     ("peak_gops_int8", "int8 peak", "G op/s"),
                                                     ("memory_gbps", "memory bandwidth", "GB/s"))
                              if isinstance(machine.get(k), (int, float))) + ".", ""]
    models = explain.get("models") or {}
    cost_rows = []
    for name, info in models.items():
        info = info or {}
        wb = info.get("weight_bytes") or {}
        cost_rows.append([name, _si(info.get("flops"), "FLOP"), _si(info.get("macs"), "MAC"),
                          _num(info.get("params"), "{:,}"),
                          *(_num(wb.get(p) / 1e6, "{:.2f}") if isinstance(wb.get(p), (int, float)) else ""
                            for p in ("fp32", "fp16", "int8"))])
    if cost_rows:
        lines += ["Cost of one row:", "", md_table(cost_rows, ["model", "FLOPs", "MACs", "params", "weights MB fp32",
                                                               "fp16", "int8"]), ""]
    pairs = [p for p in explain.get("pairs") or [] if isinstance(p, dict)]
    if pairs:
        ratio = lambda x: f"{x:.3g}x" if isinstance(x, (int, float)) else ""  # noqa: E731
        rows = [[p.get("a", "?"), p.get("b", "?"), ratio(p.get("flop_ratio")), ratio(p.get("weight_bytes_ratio")),
                 ratio(p.get("ort_ratio")), ratio(p.get("predict_ratio")), p.get("text", "")] for p in pairs]
        lines += ["Model against model (b / a):", "",
                  md_table(rows, ["a", "b", "FLOPs", "weight bytes", "ONNX Runtime time", "model.predict time",
                                  "in words"]), ""]
    if "roofline" in figs:
        lines += [_image(figs["roofline"], out_dir, "roofline"), ""]
    else:
        lines += [_missing(f"No roofline figure: {figures.roofline_missing(explain, results)}."), ""]
    if "layer_times" in figs:
        lines += [_image(figs["layer_times"], out_dir, "slowest layers per model"), ""]
    else:
        lines += [_missing(f"No per-layer figure: {figures.layer_times_missing(explain)}."), ""]
    return lines


def _training_section(exported: Path, manifest, problem: str | None, bench_models, curves: dict[str, Path],
                      out_dir: Path) -> list[str]:
    lines = ["## Training", ""]
    if problem is not None:
        return lines + [_missing(f"The export manifest could not be used ({problem}); run {CMD_TRAIN_EXPORT}."), ""]
    if manifest is None or not manifest.models:
        where = exported / MANIFEST_NAME
        return lines + [_missing(f"No trained models listed at {where}; run {CMD_TRAIN_EXPORT} "
                                 f"(or pass --exported DIR)."), ""]
    rows = []
    for name, info in manifest.models.items():
        acc, target = info.get("test_accuracy"), info.get("target_accuracy")
        met = "" if not isinstance(acc, (int, float)) or not isinstance(target, (int, float)) else (
            "yes" if acc >= target else "no")
        st = info.get("stability") or {}
        stability = ""
        if isinstance(st.get("std_pts"), (int, float)) and isinstance(st.get("range_pts"), (int, float)):
            stability = (f"std {st['std_pts']:.2f} pts, range {st['range_pts']:.2f} pts over the last "
                         f"{st.get('epochs', '?')} epoch(s)")
        rows.append([name, info.get("dataset", ""), _pct(acc), _pct(target), met, stability,
                     str(info.get("test_rows", "")), "yes" if info.get("quick") else "no"])
    lines += [f"From `{manifest.path}`. Test accuracy is the Keras model's on the held-out test set; stability is "
              "the spread of validation accuracy over the last epochs.", "",
              md_table(rows, ["model", "dataset", "test accuracy", "target", "met", "stability", "test rows",
                              "quick"]), ""]
    if any(info.get("quick") for info in manifest.models.values()):
        lines += ["**These are `--quick` smoke models (small subsets, one epoch): their accuracy is not a real "
                  f"result.** Run {CMD_TRAIN_EXPORT} without `--quick` for the real ones.", ""]
    not_listed = [m for m in bench_models if m not in manifest.models]
    if not_listed:
        lines += [_missing(f"Benchmarked but not in this manifest: {', '.join(not_listed)}."), ""]
    for name in manifest.models:
        if name in curves:
            lines += [_image(curves[name], out_dir, f"{name} training curves"), ""]
        else:
            lines += [_missing(f"{name}: no training curves or history found in {exported}."), ""]
    return lines


# --- the report -------------------------------------------------------------------------------


def _draw(figs: dict, key: str, fn, *args, log) -> None:
    """Draw one figure; a drawing failure is reported and leaves that figure out, not the report."""
    try:
        path = fn(*args)
    except Exception as exc:  # noqa: BLE001 - a broken figure must not cost the whole report
        log(f"report: figure {key} failed ({type(exc).__name__}: {exc}); left out")
        return
    if path is not None:
        figs[key] = path


def write_report(exported: Path, results_dir: Path, out_dir: Path = Path("report"),
                 log: Callable[[str], None] = print) -> Path:
    """Write ``out_dir/report.md`` and ``out_dir/figures/*.png`` from the newest inputs on disk.

    ``results_dir`` must hold at least one ``bench-*.json``; the newest
    ``check-*.json`` and ``explain-*.json`` there, and ``exported``'s manifest,
    are used when present. Returns the path of ``report.md``.
    """
    exported, results_dir, out_dir = Path(exported), Path(results_dir), Path(out_dir)
    bench_path = latest_results(results_dir)
    if bench_path is None:
        raise InferBenchError(f"No benchmark results in {results_dir} (no bench-*.json).",
                              f"run {CMD_BENCH} first, or pass --results-dir DIR.")
    results_file = load_results(bench_path)
    results = list(results_file.results)
    check, check_path, check_problem = _load_optional(results_dir, CHECK_PREFIX, log)
    explain, explain_path, explain_problem = _load_optional(results_dir, EXPLAIN_PREFIX, log)
    manifest, manifest_problem = None, None
    if exported.is_dir():
        try:
            manifest = load_manifest(exported, missing_ok=True)
        except InferBenchError as exc:  # a damaged manifest costs the training section, not the report
            manifest_problem = exc.problem
            log(f"report: {exc.problem}; leaving the training section out")
    if check is None:
        log(f"report: no accuracy check in {results_dir}; run {CMD_CHECK} for the accuracy sections")
    if explain is None:
        log(f"report: no explanation in {results_dir}; run {CMD_EXPLAIN} for the roofline and per-layer figures")

    fig_dir = out_dir / FIGURES_DIR
    figs: dict[str, Path] = {}
    if any(not r.skipped for r in results):
        _draw(figs, "latency_bars", figures.latency_bars, results, fig_dir / "latency-batch1.png", log=log)
        _draw(figs, "latency_vs_batch", figures.latency_vs_batch, results, fig_dir / "latency-vs-batch.png", log=log)
        _draw(figs, "roofline", figures.roofline, results, explain, fig_dir / "roofline.png", log=log)
    _draw(figs, "layer_times", figures.layer_times, explain, fig_dir / "layer-times.png", log=log)
    curves: dict[str, Path] = {}
    if manifest is not None and manifest.models:
        try:
            curves = figures.training_curves(exported, manifest.models, fig_dir)
        except Exception as exc:  # noqa: BLE001
            log(f"report: training curves failed ({type(exc).__name__}: {exc}); left out")

    bench_models = list(dict.fromkeys(r.model for r in results))
    measured = sum(1 for r in results if not r.skipped)
    lines = ["# Inference benchmark report", "",
             f"Generated {datetime.now().astimezone().isoformat(timespec='seconds')} from `{bench_path}` "
             f"({measured} measured and {len(results) - measured} skipped case(s); models: {', '.join(bench_models)}).",
             ""]
    if manifest is not None and any(info.get("quick") for info in manifest.models.values()):
        lines += [f"> **Note:** `{exported}` holds `--quick` smoke models: timings are real, accuracies are not.", ""]
    lines += _machine_section(results_file)
    lines += _decision_section(results_file, check)
    lines += _latency_section(results, figs, out_dir)
    lines += _accuracy_section(check, check_path, check_problem)
    lines += _explain_section(explain, explain_path, explain_problem, results, figs, out_dir)
    lines += _training_section(exported, manifest, manifest_problem, bench_models, curves, out_dir)
    has_manifest = manifest is not None and bool(manifest.models)
    lines += ["## Inputs", "",
              f"- benchmark results: `{bench_path}`",
              f"- accuracy check: {f'`{check_path}`' if check_path else f'none (run {CMD_CHECK})'}",
              f"- explanation: {f'`{explain_path}`' if explain_path else f'none (run {CMD_EXPLAIN})'}",
              f"- export manifest: {f'`{manifest.path}`' if has_manifest else f'none (run {CMD_TRAIN_EXPORT})'}",
              ""]
    report_path = out_dir / REPORT_NAME
    write_bytes_atomic(report_path, "\n".join(lines).encode())
    log(f"report: wrote {report_path} and {len(figs) + len(curves)} figure(s) in {fig_dir}")
    return report_path
