"""How close an exported artifact must stay to its Keras model: one row per precision, as data.

``DEFAULT_TOLERANCES`` is the one table the check judges by:

============  ============  =============  ==========================  ===================
precision     max abs diff  min agreement  max accuracy drop (points)  repair (layers, attempts)
============  ============  =============  ==========================  ===================
fp32          1e-4          100%           -                           -
fp16          1e-2          99.5%          -                           -
dynamic_int8  -             99%            0.5                         -
static_int8   -             99%            0.5                         3, 10
bf16          1e-2          99.5%          -                           -
============  ============  =============  ==========================  ===================

The int8 budget (99% agreement, 0.5 points) is the tightened one of issue 17
(it was 98% and 1.0 point, which let a model lose a point in silence).
``INT8_BUDGET`` holds it and ``int8_budget_overrides`` turns the CLI's
``--int8-budget AGREE_PCT,DROP_PTS`` into overrides of both int8 rows.
"repair" is how far ``check`` may go to repair a static int8 artifact that
misses its budget (``quant.repair``): at most that many layers kept in float,
at most that many re-exports in all (the one-layer-at-a-time scan included);
0 switches the repair off.

bf16 is not an artifact: it is an fp32 artifact run by OpenVINO with its bf16
inference precision (on CPUs with AVX512-BF16 or AMX), checked like the
artifacts.

"max abs diff" is over every output value (softmax or sigmoid probabilities)
on the real held-out set; "agreement" is the share of rows where the artifact
predicts the same class as the Keras model; "accuracy drop" is Keras accuracy
minus artifact accuracy on the same rows, in percentage points.

Random inputs (uniform over the pixel range [0, 1]) count toward the verdict
only where ``check_random_inputs`` is set: for fp32, whose outputs must match
everywhere (an fp32 export that is right only on typical images is wrong),
and for fp16, whose rounding does not depend on the input distribution. For
the int8 precisions they are reported only: quantization ranges are
calibrated on (or fitted to) real images, so a larger error on
out-of-distribution inputs is expected and says nothing about the artifact.
Nor for bf16: it keeps 8 significant bits (fp16 keeps 11), and on uniform
noise, whose softmax outputs sit near ties far from any image, a 1e-2 limit
on every probability measures that noise; the held-out set is its test.

``parse_override("fp16.max_abs_diff=0.02")`` reads the CLI form;
``tolerances_with_overrides`` applies a set of them to the defaults;
``tolerances_to_dict`` gives the plain rows a check record keeps. Nothing
here imports the rest of the ``check`` package.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace

from ..catalog import PRECISIONS  # a row per precision a result can carry (artifact precisions and bf16)
from ..errors import InferBenchError


class ToleranceError(InferBenchError, ValueError):
    """A tolerance value or an override string is invalid."""


def format_limit(value: float) -> str:
    """A limit in the shortest exact scientific form: 1e-04, 2.5e-02 (never rounded to look tighter)."""
    for digits in range(4):
        text = f"{value:.{digits}e}"
        if float(text) == value:
            return text
    return f"{value:.4e}"


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass(frozen=True)
class Tolerance:
    """What one precision must meet. ``None`` switches a limit off.

    ``max_abs_diff``: largest allowed absolute difference of any output value.
    ``min_agreement``: smallest allowed share (0..1) of rows with the same top-1 class.
    ``max_accuracy_drop_pts``: largest allowed accuracy loss, in percentage points.
    ``check_random_inputs``: ``max_abs_diff`` must also hold on the random inputs.
    """

    max_abs_diff: float | None
    min_agreement: float
    max_accuracy_drop_pts: float | None
    check_random_inputs: bool = False
    repair_max_float_layers: int = 0
    repair_max_attempts: int = 0

    def __post_init__(self):
        for name in ("repair_max_float_layers", "repair_max_attempts"):
            value = getattr(self, name)
            if isinstance(value, float) and value.is_integer():
                object.__setattr__(self, name, int(value))  # "3" from the CLI arrives as 3.0
            elif not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ToleranceError(f"Tolerance {name}={value!r} is not allowed.",
                                     "use a whole number >= 0 (0 switches the repair off).")
            if getattr(self, name) < 0:
                raise ToleranceError(f"Tolerance {name}={value!r} is not allowed.",
                                     "use a whole number >= 0 (0 switches the repair off).")
        for name in ("max_abs_diff", "max_accuracy_drop_pts"):
            value = getattr(self, name)
            if value is not None and (not _is_number(value) or not math.isfinite(value) or value < 0):
                raise ToleranceError(f"Tolerance {name}={value!r} is not allowed.",
                                     "use a finite number >= 0, or None to switch the limit off.")
        if not _is_number(self.min_agreement) or not 0 <= self.min_agreement <= 1:
            raise ToleranceError(f"Tolerance min_agreement={self.min_agreement!r} is not allowed.",
                                 "use a share between 0 and 1 (0.995 means 99.5% of rows agree).")
        if not isinstance(self.check_random_inputs, bool):
            raise ToleranceError(f"Tolerance check_random_inputs={self.check_random_inputs!r} is not allowed.",
                                 "use True or False.")

    def describe(self) -> str:
        """The limits in words, e.g. "max abs diff <= 1e-04, agreement >= 100.00%"."""
        parts = []
        if self.max_abs_diff is not None:
            parts.append(f"max abs diff <= {format_limit(self.max_abs_diff)}"
                         + (" (also on random inputs)" if self.check_random_inputs else ""))
        parts.append(f"agreement >= {self.min_agreement:.2%}")
        if self.max_accuracy_drop_pts is not None:
            parts.append(f"accuracy drop <= {self.max_accuracy_drop_pts:g} points")
        if self.repair_max_float_layers and self.repair_max_attempts:
            parts.append(f"repair: up to {self.repair_max_float_layers} layers in float, "
                         f"{self.repair_max_attempts} attempts")
        return ", ".join(parts)


TOLERANCE_FIELDS = tuple(f.name for f in fields(Tolerance))

DEFAULT_TOLERANCES: dict[str, Tolerance] = {
    "fp32": Tolerance(max_abs_diff=1e-4, min_agreement=1.0, max_accuracy_drop_pts=None, check_random_inputs=True),
    "fp16": Tolerance(max_abs_diff=1e-2, min_agreement=0.995, max_accuracy_drop_pts=None, check_random_inputs=True),
    "dynamic_int8": Tolerance(max_abs_diff=None, min_agreement=0.99, max_accuracy_drop_pts=0.5),
    "static_int8": Tolerance(max_abs_diff=None, min_agreement=0.99, max_accuracy_drop_pts=0.5,
                             repair_max_float_layers=3, repair_max_attempts=10),
    "bf16": Tolerance(max_abs_diff=1e-2, min_agreement=0.995, max_accuracy_drop_pts=None),
}


INT8_PRECISIONS = ("dynamic_int8", "static_int8")
INT8_BUDGET = (99.0, 0.5)  # (min top-1 agreement %, max accuracy drop in points): the default of both int8 rows


def int8_budget_overrides(text: str) -> list[str]:
    """``"AGREE_PCT,DROP_PTS"`` (``--int8-budget 99.5,0.3``) as ``--tolerance`` overrides of both int8 rows."""
    form = "use AGREE_PCT,DROP_PTS, e.g. --int8-budget 99,0.5 (agreement in %, drop in points)."
    agree, sep, drop = str(text).partition(",")
    try:
        agree_pct, drop_pts = float(agree), float(drop)
    except ValueError:
        raise ToleranceError(f"--int8-budget {text!r} is not two numbers.", form) from None
    if not sep or not 0 <= agree_pct <= 100 or not math.isfinite(drop_pts) or drop_pts < 0:
        raise ToleranceError(f"--int8-budget {text!r}: agreement must be 0-100 and the drop >= 0.", form)
    return [f"{p}.{field}={value!r}" for p in INT8_PRECISIONS
            for field, value in (("min_agreement", agree_pct / 100), ("max_accuracy_drop_pts", drop_pts))]


def tolerance_for(precision: str, tolerances: dict[str, Tolerance] | None = None) -> Tolerance:
    """The row for ``precision``; an unknown precision names the known ones."""
    table = DEFAULT_TOLERANCES if tolerances is None else tolerances
    try:
        return table[precision]
    except KeyError:
        raise ToleranceError(f"No tolerance for precision {precision!r}.",
                             f"use one of: {', '.join(table)}.") from None


def _parse_value(field: str, text: str):
    """A CLI value for ``field``: "none" switches a limit off, booleans for check_random_inputs."""
    raw = text.strip()
    if field == "check_random_inputs":
        lowered = raw.lower()
        if lowered in ("true", "yes", "1", "on"):
            return True
        if lowered in ("false", "no", "0", "off"):
            return False
        raise ToleranceError(f"Tolerance override {field}={text!r}: not a boolean.", "use true or false.")
    if raw.lower() == "none" and field != "min_agreement":
        return None
    try:
        return float(raw)
    except ValueError:
        raise ToleranceError(f"Tolerance override {field}={text!r}: not a number.",
                             "use a number such as 0.02" + ("" if field == "min_agreement" else ", or none")
                             + ".") from None


def parse_override(text: str) -> tuple[str, str, object]:
    """Parse ``"precision.field=value"`` (e.g. ``"fp16.max_abs_diff=0.02"``) into its three parts.

    The value is validated by building the overridden ``Tolerance``, in
    ``tolerances_with_overrides``; here only its type is read.
    """
    form = f"use PRECISION.FIELD=VALUE, e.g. fp16.max_abs_diff=0.02 (fields: {', '.join(TOLERANCE_FIELDS)})."
    key, sep, value = text.partition("=")
    precision, dot, field = key.strip().partition(".")
    if not sep or not dot or not value.strip():
        raise ToleranceError(f"Tolerance override {text!r} is not of the form PRECISION.FIELD=VALUE.", form)
    if precision not in PRECISIONS:
        raise ToleranceError(f"Tolerance override {text!r}: unknown precision {precision!r}.",
                             f"use one of: {', '.join(PRECISIONS)}.")
    if field not in TOLERANCE_FIELDS:
        raise ToleranceError(f"Tolerance override {text!r}: unknown field {field!r}.",
                             f"use one of: {', '.join(TOLERANCE_FIELDS)}.")
    return precision, field, _parse_value(field, value)


def parse_overrides(texts) -> dict[str, dict[str, object]]:
    """Parse CLI strings into ``{precision: {field: value}}`` for ``tolerances_with_overrides``."""
    out: dict[str, dict[str, object]] = {}
    for text in texts:
        precision, field, value = parse_override(text)
        out.setdefault(precision, {})[field] = value
    return out


def tolerances_with_overrides(overrides: dict, base: dict[str, Tolerance] | None = None) -> dict[str, Tolerance]:
    """A copy of ``base`` (the defaults) with ``{precision: {field: value}}`` applied.

    Also takes the flat form ``{"fp16.max_abs_diff": 0.02}``. Every overridden
    row is validated again, so a bad value names its field.
    """
    table = dict(DEFAULT_TOLERANCES if base is None else base)
    nested: dict[str, dict] = {}
    for key, value in overrides.items():
        if isinstance(value, dict):
            nested.setdefault(key, {}).update(value)
        else:
            precision, field, _ = parse_override(f"{key}=0")  # checks the names only
            nested.setdefault(precision, {})[field] = value
    for precision, changes in nested.items():
        if precision not in table:
            raise ToleranceError(f"Tolerance override for unknown precision {precision!r}.",
                                 f"use one of: {', '.join(table)}.")
        unknown = [f for f in changes if f not in TOLERANCE_FIELDS]
        if unknown:
            raise ToleranceError(f"Tolerance override {precision}.{unknown[0]}: unknown field {unknown[0]!r}.",
                                 f"use one of: {', '.join(TOLERANCE_FIELDS)}.")
        table[precision] = replace(table[precision], **changes)
    return table


def tolerances_to_dict(tolerances: dict[str, Tolerance]) -> dict[str, dict]:
    """JSON-ready form of a tolerance table."""
    return {precision: asdict(t) for precision, t in tolerances.items()}
