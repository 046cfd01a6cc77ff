"""The deployment decision table: per model and constraint, which artifact and runtime to ship.

Each constraint is one row of ``CONSTRAINTS`` (data, not code): which measured
number it ranks by, on which device, at which batch sizes, and whether the
artifact must stay within ``ACCURACY_WINDOW_PTS`` of the Keras model.

The accuracy rule reads an ``infer-bench check`` report (a ``CheckReport``
record of ``results.check``): an artifact qualifies when it passed the check
and ``accuracy_delta_pts >= -ACCURACY_WINDOW_PTS``. The ``.keras`` model is the reference and always
qualifies. An artifact the check did not cover does not qualify. Without a
check report the accuracy rule cannot be applied; the choice is then made among
fp32 artifacts only (no precision loss by construction), and the decision says so.

Every decision carries the numbers behind it and a sentence in plain words:
"0.0250 ms/row p50, 1600x faster than model.predict; accuracy -0.30 pts".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from ..results.bench import BenchResult
from ..results.check import CheckReport, CheckResult
from .tables import is_reference
from .wording import compare_speed, megabytes as _mb, short_number as _num

ACCURACY_WINDOW_PTS = 1.0  # an artifact may lose at most this many accuracy points against Keras
SAME_SIZE_RATIO = 1.05  # files within 5% of each other are "about the same size"
NO_CHECK_NOTE = "fp32 only: no accuracy check found (run `infer-bench check`)"


def _p50(r: BenchResult) -> float:
    return r.per_row_ms["p50"]


def _p99(r: BenchResult) -> float:
    return r.per_row_ms["p99"]


def _throughput(r: BenchResult) -> float:
    return r.throughput_rows_per_s


def _bytes(r: BenchResult) -> float | None:
    return None if r.bytes is None else float(r.bytes)


def _cold_ms(r: BenchResult) -> float | None:
    if r.load_ms is None or r.first_inference_ms is None:
        return None
    return r.load_ms + r.first_inference_ms


@dataclass(frozen=True)
class Constraint:
    """One way to choose: rank measured results by ``metric`` (lower wins unless ``higher_is_better``)."""

    key: str
    text: str
    metric: Callable[[BenchResult], float | None]
    unit: str
    device: str = "cpu"
    batch_size: int | None = 1  # None: any batch size
    higher_is_better: bool = False
    within_accuracy: bool = True
    better: str = "faster"  # how an excluded, better-ranked result is described


CONSTRAINTS: tuple[Constraint, ...] = (
    Constraint("p50_b1", "lowest p50 at batch 1, within 1 point of Keras accuracy", _p50, "ms/row p50"),
    Constraint("p99_b1", "lowest p99 at batch 1, within 1 point of Keras accuracy", _p99, "ms/row p99"),
    Constraint("throughput", "highest throughput (any batch), within 1 point", _throughput, "rows/s",
               batch_size=None, higher_is_better=True, better="higher throughput"),
    Constraint("smallest", "smallest file, within 1 point", _bytes, "bytes", better="smaller"),
    Constraint("cold_start", "fastest cold start (load + first call), within 1 point", _cold_ms, "ms cold start",
               batch_size=None),
    Constraint("cuda_p50_b1", "CUDA: lowest p50 at batch 1, within 1 point", _p50, "ms/row p50", device="cuda"),
)


@dataclass(frozen=True)
class Decision:
    """What to ship for one model under one constraint, with the numbers behind the choice.

    ``choice`` is "format/quantization via runtime (batch N)", or "none" /
    "not measured" when nothing qualifies; ``why`` says it in plain words.
    """

    model: str
    constraint: str
    choice: str
    numbers: dict = field(default_factory=dict)
    why: str = ""


# --- accuracy rule ------------------------------------------------------------------------------


CheckIndex = dict[tuple[str, str, str], CheckResult]


def check_index(check: CheckReport | None) -> CheckIndex | None:
    """``{(model, format, quantization): CheckResult}`` of a check report; None without one.

    An artifact checked twice (an extra file beside the manifest's) keeps its last entry.
    """
    if check is None:
        return None
    return {(e.model, e.format, e.quantization): e for e in check.entries}


def accuracy_status(r: BenchResult, index: CheckIndex | None) -> tuple[bool, str, float | None]:
    """(qualifies, reason if not, accuracy delta in points) for one result under the accuracy rule.

    ``r``: a ``BenchResult``, or anything else with its ``model``, ``format``,
    ``quantization`` (the precision that ran) and ``runtime`` (a LoadGen result's
    target, in ``scenario_decide``). ``index``: ``check_index`` of the check
    report, or None when there is none (fp32 only then).
    """
    if r.format == "keras":
        return True, "", 0.0
    if index is None:
        return (r.quantization == "fp32"), "not fp32 and no accuracy check", None
    entry = index.get((r.model, r.format, r.quantization))
    if entry is None:
        return False, "not covered by the accuracy check", None
    if r.quantization != "fp32" and entry.runtime and r.runtime != entry.runtime:
        # A quantized file's answers depend on the runtime's integer kernels: a PASS in one
        # runtime says nothing about another (OpenVINO running a TFLite int8 file, say).
        return False, f"checked in {entry.runtime}, not in {r.runtime}", None
    delta = entry.accuracy_delta_pts
    if not entry.passed:
        reasons = "; ".join(entry.reasons)  # a failed entry always has its reasons
        return False, f"check FAIL: {reasons}", delta
    if delta is None:
        return False, "the check has no accuracy for it", None
    if delta < -ACCURACY_WINDOW_PTS:
        return False, f"accuracy {delta:+.2f} pts", delta
    return True, "", delta


def rank_within_accuracy(scored, index: CheckIndex | None, apply: bool = True) -> tuple[list, tuple | None]:
    """([(item, value, delta)] that qualify, best first; (item, reason) of the first better-ranked one excluded).

    ``scored``: ``[(item, value)]`` best first, each item as ``accuracy_status``
    takes it. ``apply`` False lets every item qualify (a constraint without the rule).
    """
    qualifying, excluded = [], None
    for r, v in scored:
        ok, reason, delta = accuracy_status(r, index) if apply else (True, "", None)
        if ok:
            qualifying.append((r, v, delta))
        elif excluded is None and not qualifying:
            excluded = (r, reason)
    # An fp32 choice made only because no check exists is not excluded-by-accuracy news.
    if index is None and excluded is not None and excluded[0].quantization != "fp32":
        excluded = (excluded[0], "no accuracy check")
    return qualifying, excluded


def nothing_qualifies(scored, index: CheckIndex | None) -> str:
    """Why none of ``scored`` (``[(item, value)]``) may be chosen under the accuracy rule, in words."""
    if index is None:
        return f"no fp32 artifact measured; {NO_CHECK_NOTE}"
    reasons = sorted({accuracy_status(r, index)[1] for r, _ in scored})
    return f"no artifact is within {ACCURACY_WINDOW_PTS:g} point of Keras accuracy ({'; '.join(reasons)})"


# --- choosing -----------------------------------------------------------------------------------


def _label(r: BenchResult) -> str:
    return f"{r.format}/{r.quantization} via {r.runtime} (batch {r.batch_size})"


def _short(r: BenchResult) -> str:
    return f"{r.format}/{r.quantization} via {r.runtime}"


def _reference(results, model: str, device: str, batch_size: int | None) -> BenchResult | None:
    """The report's way (keras_predict on the .keras model) on ``device``: at ``batch_size``, or its best."""
    refs = [r for r in results if not r.skipped and r.model == model and is_reference(r) and r.device == device]
    if batch_size is not None:
        refs = [r for r in refs if r.batch_size == batch_size]
    return max(refs, key=_throughput) if refs else None


def ratio_words(ref_value: float, value: float, higher_is_better: bool, ref_name: str) -> str:
    """"13.9x faster than model.predict" (times and rates alike), "same speed as ..."."""
    words = compare_speed(ref_value, value, higher_is_better)
    return f"same speed as {ref_name}" if words == "same" else f"{words} than {ref_name}"


def _why(c: Constraint, best: BenchResult, value: float, results, delta: float | None, no_check: bool,
         excluded: tuple[BenchResult, str] | None) -> tuple[str, dict]:
    numbers: dict = {"value": value, "unit": c.unit}
    parts = []
    ref_name = "model.predict"
    if c.key in ("p50_b1", "p99_b1", "cuda_p50_b1"):
        ref = _reference(results, best.model, c.device, best.batch_size)
        text = f"{_num(value)} {c.unit}"
        if ref is not None and not is_reference(best):
            ref_value = c.metric(ref)
            numbers["reference"] = ref_value
            text += ", " + ratio_words(ref_value, value, False, ref_name)
        parts.append(text)
    elif c.key == "throughput":
        ref = _reference(results, best.model, c.device, None)
        text = f"{_num(value)} rows/s at batch {best.batch_size}"
        if ref is not None and ref is not best:
            numbers["reference"] = ref.throughput_rows_per_s
            text += (", " + ratio_words(ref.throughput_rows_per_s, value, True, ref_name)
                     + f" at its best batch ({ref.batch_size})")
        parts.append(text)
    elif c.key == "smallest":
        keras = next((r for r in results if r.model == best.model and r.format == "keras" and r.bytes), None)
        text = _mb(value)
        if keras is not None and keras.bytes != best.bytes:
            numbers["reference"] = float(keras.bytes)
            ratio = keras.bytes / value
            same = 1 / SAME_SIZE_RATIO < ratio < SAME_SIZE_RATIO
            text += (f", about the size of the .keras file ({_mb(keras.bytes)})" if same
                     else f", {ratio:.1f}x smaller than the .keras file ({_mb(keras.bytes)})")
        parts.append(text + f"; {_num(_p50(best))} ms/row p50 at batch {best.batch_size}")
    elif c.key == "cold_start":
        ref = next((r for r in results if not r.skipped and r.model == best.model and r.device == c.device
                    and is_reference(r) and _cold_ms(r) is not None), None)
        text = f"{_num(value)} ms (load {_num(best.load_ms)} + first call {_num(best.first_inference_ms)})"
        if ref is not None and ref is not best:
            numbers["reference"] = _cold_ms(ref)
            text += ", " + ratio_words(_cold_ms(ref), value, False, "loading the .keras model for model.predict")
        parts.append(text)
    numbers["p50_ms"] = _p50(best)
    numbers["p99_ms"] = _p99(best)
    numbers["throughput_rows_per_s"] = best.throughput_rows_per_s
    if best.bytes is not None:
        numbers["bytes"] = best.bytes
    parts += accuracy_words(delta, no_check, numbers)
    if excluded is not None:
        r, reason = excluded
        parts.append(f"{c.better} but excluded: {_short(r)} "
                     f"(batch {r.batch_size}, {_num(c.metric(r))} {c.unit}; {reason})")
    if best.warnings:
        parts.append("note: " + "; ".join(best.warnings))
    return "; ".join(parts), numbers


def accuracy_words(delta: float | None, no_check: bool, numbers: dict) -> list[str]:
    """["accuracy -0.30 pts"] (the delta kept in ``numbers``), [the fp32-only note] without a check, else []."""
    if delta is not None:
        numbers["accuracy_delta_pts"] = delta
        return [f"accuracy {delta:+.2f} pts"]
    return [NO_CHECK_NOTE] if no_check else []


def _rank_key(c: Constraint):
    sign = -1.0 if c.higher_is_better else 1.0
    # Ties (same file in two runtimes) go to the faster one, then to a stable name order.
    return lambda rv: (sign * rv[1], _p50(rv[0]), rv[0].format, rv[0].quantization, rv[0].runtime, rv[0].batch_size)


def _decide_one(c: Constraint, model: str, results, index, environment) -> Decision:
    on_device = [r for r in results if r.model == model and r.device == c.device]
    measured = [r for r in on_device if not r.skipped
                and (c.batch_size is None or r.batch_size == c.batch_size)]
    scored = [(r, v) for r in measured if (v := c.metric(r)) is not None]
    if not scored:
        if c.device == "cuda":
            return Decision(model, c.text, "not measured", {}, _not_measured_cuda(on_device, environment))
        what = "no measured cold start" if c.key == "cold_start" else "no measured results"
        return Decision(model, c.text, "none", {}, f"{what} for {model} on {c.device}")
    key = _rank_key(c)
    scored.sort(key=key)
    no_check = index is None
    qualifying, excluded = rank_within_accuracy(scored, index, c.within_accuracy)
    if not qualifying:
        return Decision(model, c.text, "none", {}, nothing_qualifies(scored, index))
    best, value, delta = qualifying[0]
    why, numbers = _why(c, best, value, results, delta, no_check, excluded)
    return Decision(model, c.text, _label(best), numbers, why)


def _not_measured_cuda(on_device, environment) -> str:
    if isinstance(environment, dict) and "gpu" in environment and not environment["gpu"]:
        return "not measured on this machine: no GPU"
    reasons = sorted({r.skipped_reason for r in on_device if r.skipped})
    if reasons:
        return "not measured on this machine: " + "; ".join(reasons)
    return "not measured: the benchmark ran without `--devices cuda`"


def decide(results, check: CheckReport | None = None, constraints=CONSTRAINTS) -> list[Decision]:
    """One ``Decision`` per model and constraint.

    ``results``: a ``ResultsFile`` (its environment says whether a GPU was
    there) or an iterable of ``BenchResult``. ``check``: the ``CheckReport``
    of an ``infer-bench check`` run (``results.check.load_check``), or None.
    """
    environment = getattr(results, "environment", None)
    rs = list(getattr(results, "results", results))
    index = check_index(check)
    models = list(dict.fromkeys(r.model for r in rs))
    return [_decide_one(c, m, rs, index, environment) for m in models for c in constraints]


DECISION_HEADERS = ["model", "constraint", "choice", "why"]


def decision_rows(decisions: list[Decision]) -> list[list[str]]:
    """Rows for ``DECISION_HEADERS`` (tabulate)."""
    return [[d.model, d.constraint, d.choice, d.why] for d in decisions]
