"""The repair loop: keep an int8 artifact's worst layers in float until it meets its budget, within limits.

Attempt ``k`` re-exports the artifact with the ``k`` worst-ranked layers
(``quant.sqnr.rank_layers``) kept in float, to the same file name and
atomically, and re-checks it; it stops at the first attempt that passes or at
the limits (``RepairLimits``: layers kept in float, attempts; both from the
precision's tolerance row). The failed original is hard-linked (or copied)
aside first, as ``<name>.unrepaired<suffix>``, so it is never lost: when no
attempt passes, it is moved back to its name and the record says why, with
every attempt's figures. Nothing here knows a format: the caller gives the
re-export, the evaluation and the timing as functions.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import InferBenchError
from .records import Repair, RepairAttempt


@dataclass(frozen=True)
class RepairLimits:
    """At most ``max_float_layers`` layers kept in float and ``max_attempts`` re-exports (0: no repair)."""

    max_float_layers: int
    max_attempts: int

    def __post_init__(self):
        for name in ("max_float_layers", "max_attempts"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise InferBenchError(f"Repair limit {name}={value!r} is not allowed.",
                                      "use a whole number >= 0 (0 switches the repair off).")

    @property
    def enabled(self) -> bool:
        """True when at least one attempt with one float layer is allowed."""
        return self.max_float_layers > 0 and self.max_attempts > 0


@dataclass(frozen=True)
class Evaluation:
    """How a re-exported artifact fared: its agreement, accuracy change and failure reasons (empty: passed)."""

    top1_agreement: float | None
    accuracy_delta_pts: float | None
    reasons: tuple[str, ...]


def attempt_plan(ranking, limits: RepairLimits) -> list[tuple[str, ...]]:
    """The layers kept in float at each attempt: the worst 1, 2, ... up to the limits. Pure."""
    ranking = list(dict.fromkeys(ranking))
    most = min(limits.max_float_layers, len(ranking))
    return [tuple(ranking[:k]) for k in range(1, most + 1)][:limits.max_attempts]


def aside_path(path: Path) -> Path:
    """A free name beside ``path`` for the failed original: ``x.unrepaired.onnx``, ``x.unrepaired-2.onnx``..."""
    stem, suffix = path.name[: -len(path.suffix)] if path.suffix else path.name, path.suffix
    for n in range(1, 10_000):
        candidate = path.with_name(f"{stem}.unrepaired{'' if n == 1 else f'-{n}'}{suffix}")
        if not candidate.exists():
            return candidate
    raise InferBenchError(f"No free name beside {path} to keep the failed original.",
                          "remove old *.unrepaired* files from the export folder.")


def _keep_aside(path: Path) -> Path:
    aside = aside_path(path)
    if path.is_dir():  # an OpenVINO IR folder: hard links do not apply to folders
        shutil.copytree(path, aside)
        return aside
    try:
        os.link(path, aside)  # the original's bytes stay put; the re-export replaces the name, not the file
    except OSError:
        shutil.copy2(path, aside)
    return aside


def _put_back(aside: Path, path: Path) -> None:
    """The kept original back under its name (a folder replaces the re-exported folder)."""
    if aside.is_dir() and path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    os.replace(aside, path)


def repair(path: Path, ranking, scopes: dict[str, str], limits: RepairLimits, original_reasons,
           reexport: Callable[[tuple[str, ...], Path], None], evaluate: Callable[[Path], Evaluation],
           time_pair: Callable[[Path, Path], tuple[float, float]] | None = None,
           log: Callable[[str], None] = print) -> Repair:
    """Repair the failing int8 artifact at ``path`` (see the module docstring).

    ``ranking``: Keras layers worst first; ``scopes``: each layer's name scope in
    the artifact's graph (what ``reexport(scopes, path)`` keeps in float);
    ``evaluate(path)`` re-checks; ``time_pair(original, repaired)`` gives both
    batch-1 latencies in ms.
    """
    path = Path(path)
    original_reasons = tuple(original_reasons)
    if not limits.enabled:
        return Repair(False, (), (), None, original_reasons,
                      why=f"the repair is switched off (max float layers {limits.max_float_layers}, "
                          f"max attempts {limits.max_attempts})")
    plan = attempt_plan([layer for layer in ranking if layer in scopes], limits)
    if not plan:
        return Repair(False, (), (), None, original_reasons,
                      why="no quantized layer with int8 weights maps to a Keras layer, so none can be kept in float")
    aside = _keep_aside(path)
    attempts: list[RepairAttempt] = []
    try:
        for layers in plan:
            log(f"  repair: re-exporting {path.name} with {', '.join(layers)} in float")
            reexport(tuple(scopes[layer] for layer in layers), path)
            result = evaluate(path)
            attempts.append(RepairAttempt(layers, result.top1_agreement, result.accuracy_delta_pts, result.reasons))
            if not result.reasons:
                break
    except Exception as exc:  # the original goes back whatever happened
        _put_back(aside, path)
        return Repair(False, (), tuple(attempts), None, original_reasons,
                      why=f"re-exporting failed: {getattr(exc, 'problem', None) or exc}")
    if attempts and attempts[-1].passed:
        original_ms = repaired_ms = None
        if time_pair is not None:
            original_ms, repaired_ms = time_pair(aside, path)
        return Repair(True, attempts[-1].float_layers, tuple(attempts), str(aside), original_reasons,
                      original_ms, repaired_ms)
    _put_back(aside, path)
    last = attempts[-1]
    agreement = "n/a" if last.top1_agreement is None else f"{last.top1_agreement:.2%}"
    why = (f"still failing after {len(attempts)} attempt(s) with up to {len(last.float_layers)} layer(s) in float "
           f"(limits: {limits.max_float_layers} layers, {limits.max_attempts} attempts); with "
           f"{', '.join(last.float_layers)} in float: agreement {agreement}, " + "; ".join(last.reasons))
    return Repair(False, (), tuple(attempts), None, original_reasons, why=why)
