"""The repair loop: keep an int8 artifact's worst layers in float until it meets its budget, within limits.

Which layers to blame is *measured*, not only estimated. The per-layer errors
(``quant.sqnr.rank_layers``) give a first order, but a layer's own noise does
not say how much the output feels it: on a Cats vs Dogs AlexNet (seed 1,
2026-12-03) the error ranking put conv2d_7, dense_4 and conv2d_9 first, and
keeping all three in float left agreement at 98.3%, while the first
convolution alone in float reached 99.0% (its 7-bit weights shift every later
logit the same way). So the loop works the way NNCF's accuracy control does:

1. **Scan**: re-export with one layer in float at a time, in the error
   ranking's order, and stop at the first that passes. At most
   ``max_attempts - max_float_layers + 1`` layers are scanned, so the attempts
   left suffice for the bigger sets (with equal limits only the top-ranked
   layer is scanned: the error ranking decides alone).
2. **Grow**: order the scanned layers by what keeping each in float bought
   (agreement, then mean output error), the unscanned ones after them in
   error order, and re-export with the top 2, 3, ... in float until it passes
   or ``max_float_layers`` / ``max_attempts`` is reached.

Every re-export goes to the same file name, atomically. The failed original is
hard-linked (or copied) aside first, as ``<name>.unrepaired<suffix>``, so it is
never lost: when no attempt passes, it is moved back to its name and the record
says why, with every attempt's figures (the scan's too: they say what each
layer costs). Nothing here knows a format: the caller gives the re-export, the
evaluation and the timing as functions.
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
    """How a re-exported artifact fared: its agreement, accuracy change and failure reasons (empty: passed).

    ``output_error``: mean absolute difference of its outputs from the reference's (None: unknown),
    the tie-break between layers whose scan gave the same agreement.
    """

    top1_agreement: float | None
    accuracy_delta_pts: float | None
    reasons: tuple[str, ...]
    output_error: float | None = None


def scan_size(limits: RepairLimits, candidates: int) -> int:
    """How many layers the scan tries one at a time: what the limits leave after the bigger sets. Pure."""
    if not limits.enabled or candidates == 0:
        return 0
    return max(1, min(candidates, limits.max_attempts - limits.max_float_layers + 1))


def measured_order(scanned, unscanned) -> list[str]:
    """Layers, the most helpful to keep in float first: ``scanned`` by what their scan bought, then ``unscanned``. Pure.

    ``scanned``: (layer, Evaluation) pairs in error-ranking order; higher agreement first,
    then lower ``output_error``, then the error ranking's order (a stable sort).
    """
    def benefit(pair):
        _, result = pair
        agreement = -1.0 if result.top1_agreement is None else result.top1_agreement
        error = float("inf") if result.output_error is None else result.output_error
        return (-agreement, error)

    ordered = [layer for layer, _ in sorted(scanned, key=benefit)]
    return ordered + [layer for layer in unscanned if layer not in ordered]


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

    ``ranking``: Keras layers worst first (the error ranking); ``scopes``: each
    layer's name scope in the artifact's graph (what ``reexport(scopes, path)``
    keeps in float); ``evaluate(path)`` re-checks; ``time_pair(original,
    repaired)`` gives both batch-1 latencies in ms.
    """
    path = Path(path)
    original_reasons = tuple(original_reasons)
    if not limits.enabled:
        return Repair(False, (), (), None, original_reasons,
                      why=f"the repair is switched off (max float layers {limits.max_float_layers}, "
                          f"max attempts {limits.max_attempts})")
    candidates = list(dict.fromkeys(layer for layer in ranking if layer in scopes))
    if not candidates:
        return Repair(False, (), (), None, original_reasons,
                      why="no quantized layer with int8 weights maps to a Keras layer, so none can be kept in float")
    aside = _keep_aside(path)
    attempts: list[RepairAttempt] = []

    def attempt(layers: tuple[str, ...], what: str) -> Evaluation:
        log(f"  repair: re-exporting {path.name} with {', '.join(layers)} in float ({what})")
        reexport(tuple(scopes[layer] for layer in layers), path)
        result = evaluate(path)
        attempts.append(RepairAttempt(layers, result.top1_agreement, result.accuracy_delta_pts, result.reasons,
                                      result.output_error))
        return result

    try:
        n_scan = scan_size(limits, len(candidates))
        scanned = []
        for i, layer in enumerate(candidates[:n_scan], 1):
            result = attempt((layer,), f"one layer at a time, {i} of {n_scan}")
            scanned.append((layer, result))
            if not result.reasons:
                break
        if attempts[-1].reasons:
            order = measured_order(scanned, candidates[n_scan:])
            for k in range(2, min(limits.max_float_layers, len(order)) + 1):
                if len(attempts) >= limits.max_attempts:
                    break
                if not attempt(tuple(order[:k]), f"the {k} that helped most").reasons:
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
    best = max(attempts, key=lambda a: -1.0 if a.top1_agreement is None else a.top1_agreement)
    agreement = "n/a" if best.top1_agreement is None else f"{best.top1_agreement:.2%}"
    most = max(len(a.float_layers) for a in attempts)
    why = (f"still failing after {len(attempts)} attempt(s) with up to {most} layer(s) in float "
           f"(limits: {limits.max_float_layers} layers, {limits.max_attempts} attempts); best: with "
           f"{', '.join(best.float_layers)} in float, agreement {agreement}, " + "; ".join(best.reasons))
    return Repair(False, (), tuple(attempts), None, original_reasons, why=why)
