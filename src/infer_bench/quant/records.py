"""The records a check keeps about an int8 artifact: its per-layer errors and its repair.

Frozen and validated at construction; ``to_dict``/``from_dict`` are the
check file's JSON (``results.check``, schema version 2). Imports nothing of
the package but ``errors``, so the results module can read them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import InferBenchError

LAYER_ERROR_KEYS = ("keras_layer", "tensor", "sqnr_db", "rel_error", "noise_added", "grid_sqnr_db", "clipped",
                    "scale")
# Written by this version, optional when reading (files written before have none: None).
OPTIONAL_LAYER_ERROR_KEYS = ("weight_sqnr_db",)
ATTEMPT_KEYS = ("float_layers", "top1_agreement", "accuracy_delta_pts", "reasons")
REPAIR_KEYS = ("repaired", "float_layers", "attempts", "original_path", "original_reasons", "original_ms",
               "repaired_ms", "why")


def _bad(problem: str) -> InferBenchError:
    return InferBenchError(problem + ".", "run `infer-bench check` to write a fresh check file.")


def _number(value, name: str, optional: bool = False) -> None:
    if optional and value is None:
        return
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise _bad(f"{name} is {value!r}, not a finite number")


def _keys(data, keys, what: str) -> None:
    if not isinstance(data, dict):
        raise _bad(f"{what} is {type(data).__name__}, not an object")
    lacking = [k for k in keys if k not in data]
    if lacking:
        raise _bad(f"{what} lacks {', '.join(lacking)}")


@dataclass(frozen=True)
class LayerError:
    """How far one Keras layer's int8 output is from float on held-out images (see ``quant.sqnr``).

    ``sqnr_db``/``rel_error``: the quantized model's output of the layer against the float model's
    (accumulated through the layers before). ``noise_added``: the relative noise power this layer
    adds to what its input already carried (the ranking key, ``quant.sqnr``). ``grid_sqnr_db``: the
    noise the layer's own int8 output grid alone adds to the float output. ``clipped``: share of
    float values outside that grid. ``scale``: its step. ``weight_sqnr_db``: the layer's float
    weights against its dequantized int8 weights (None: the layer has no int8 weights, e.g.
    pooling or a reshape, or the record predates it).
    """

    keras_layer: str
    tensor: str
    sqnr_db: float
    rel_error: float
    noise_added: float
    grid_sqnr_db: float
    clipped: float
    scale: float
    weight_sqnr_db: float | None = None

    def __post_init__(self):
        if not isinstance(self.keras_layer, str) or not self.keras_layer:
            raise _bad(f"a layer error's keras_layer is {self.keras_layer!r}")
        for name in ("sqnr_db", "rel_error", "noise_added", "grid_sqnr_db", "clipped", "scale"):
            _number(getattr(self, name), f"layer error {self.keras_layer}: {name}")
        _number(self.weight_sqnr_db, f"layer error {self.keras_layer}: weight_sqnr_db", optional=True)
        if not 0 <= self.clipped <= 1 or self.rel_error < 0:
            raise _bad(f"layer error {self.keras_layer}: clipped {self.clipped} or rel_error {self.rel_error} "
                       "out of range")

    @property
    def weighted(self) -> bool:
        """True when the layer has int8 weights (only such a layer is worth keeping in float)."""
        return self.weight_sqnr_db is not None

    @property
    def own_sqnr_db(self) -> float:
        """The noise this layer itself brings, in dB: its output grid's and its weights' noise powers added.

        Weight rounding reaches the output as about the same relative noise power as in the
        weights (``y = Wx``: ``|dW x|^2 / |W x|^2`` is about ``|dW|^2 / |W|^2`` for inputs that are
        not aligned with the rounding), and it is independent of the output grid's rounding, so
        the two powers add.
        """
        power = 10.0 ** (-self.grid_sqnr_db / 10.0)
        if self.weight_sqnr_db is not None:
            power += 10.0 ** (-self.weight_sqnr_db / 10.0)
        return -10.0 * math.log10(power) if power > 0 else self.grid_sqnr_db

    def to_dict(self) -> dict:
        """JSON form, keys in ``LAYER_ERROR_KEYS`` then ``OPTIONAL_LAYER_ERROR_KEYS`` order."""
        return {k: getattr(self, k) for k in (*LAYER_ERROR_KEYS, *OPTIONAL_LAYER_ERROR_KEYS)}

    @classmethod
    def from_dict(cls, data, what: str = "a layer error") -> LayerError:
        """Read one entry of a result's ``layer_errors`` (the optional keys may be absent)."""
        _keys(data, LAYER_ERROR_KEYS, what)
        return cls(**{k: data[k] for k in LAYER_ERROR_KEYS}, **{k: data.get(k) for k in OPTIONAL_LAYER_ERROR_KEYS})


@dataclass(frozen=True)
class RepairAttempt:
    """One re-export with ``float_layers`` kept in float, and how it fared (reasons empty: it passed)."""

    float_layers: tuple[str, ...]
    top1_agreement: float | None
    accuracy_delta_pts: float | None
    reasons: tuple[str, ...]
    mean_abs_diff: float | None = None  # of the outputs from Keras' on the held-out rows (None: before 2026-12-03)

    def __post_init__(self):
        object.__setattr__(self, "float_layers", tuple(self.float_layers))
        object.__setattr__(self, "reasons", tuple(self.reasons))
        if not self.float_layers:
            raise _bad("a repair attempt keeps no layer in float")
        _number(self.top1_agreement, "repair attempt top1_agreement", optional=True)
        _number(self.accuracy_delta_pts, "repair attempt accuracy_delta_pts", optional=True)
        _number(self.mean_abs_diff, "repair attempt mean_abs_diff", optional=True)

    @property
    def passed(self) -> bool:
        """True when the re-exported artifact met the budget."""
        return not self.reasons

    def to_dict(self) -> dict:
        """JSON form."""
        return {"float_layers": list(self.float_layers), "top1_agreement": self.top1_agreement,
                "accuracy_delta_pts": self.accuracy_delta_pts, "reasons": list(self.reasons),
                "mean_abs_diff": self.mean_abs_diff}

    @classmethod
    def from_dict(cls, data) -> RepairAttempt:
        """Read one attempt."""
        _keys(data, ATTEMPT_KEYS, "a repair attempt")
        return cls(tuple(data["float_layers"]), data["top1_agreement"], data["accuracy_delta_pts"],
                   tuple(data["reasons"]), data.get("mean_abs_diff"))


@dataclass(frozen=True)
class Repair:
    """What the repair loop did to an int8 artifact that missed its budget.

    ``repaired``: the artifact at the result's path now passes, with ``float_layers`` kept in
    float; the failed original is kept at ``original_path``. Not repaired: the original is back
    at its path and ``why`` says why, with the figures of every attempt. ``original_ms`` /
    ``repaired_ms``: batch-1 median latency of the two files timed call against call (None when
    nothing was repaired).
    """

    repaired: bool
    float_layers: tuple[str, ...]
    attempts: tuple[RepairAttempt, ...]
    original_path: str | None
    original_reasons: tuple[str, ...]
    original_ms: float | None = None
    repaired_ms: float | None = None
    why: str = ""

    def __post_init__(self):
        for name in ("float_layers", "attempts", "original_reasons"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if self.repaired and (not self.float_layers or self.original_path is None):
            raise _bad("a repair that succeeded names no float layer or no kept original")
        if not self.repaired and not self.why:
            raise _bad("a repair that failed does not say why")
        _number(self.original_ms, "repair original_ms", optional=True)
        _number(self.repaired_ms, "repair repaired_ms", optional=True)

    @property
    def speed_cost(self) -> float | None:
        """Repaired over original latency (1.2: 20% slower), or None when not timed."""
        if self.original_ms is None or self.repaired_ms is None or self.original_ms <= 0:
            return None
        return self.repaired_ms / self.original_ms

    def to_dict(self) -> dict:
        """JSON form."""
        return {"repaired": self.repaired, "float_layers": list(self.float_layers),
                "attempts": [a.to_dict() for a in self.attempts], "original_path": self.original_path,
                "original_reasons": list(self.original_reasons), "original_ms": self.original_ms,
                "repaired_ms": self.repaired_ms, "why": self.why}

    @classmethod
    def from_dict(cls, data) -> Repair:
        """Read a result's ``repair`` object."""
        _keys(data, REPAIR_KEYS, "a repair")
        return cls(bool(data["repaired"]), tuple(data["float_layers"]),
                   tuple(RepairAttempt.from_dict(a) for a in data["attempts"]), data["original_path"],
                   tuple(data["original_reasons"]), data["original_ms"], data["repaired_ms"], data["why"])
