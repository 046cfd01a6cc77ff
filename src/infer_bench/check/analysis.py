"""The numbers of the accuracy check, pure: output differences, the verdict, the random inputs.

- top-1 agreement: the share of rows with the same predicted class (argmax;
  for one sigmoid output, the same side of 0.5);
- max and mean absolute difference of the outputs. The max is also the
  smallest absolute tolerance under which every output would pass;
- max relative difference ``|a - k| / max(|k|, REL_DIFF_FLOOR)``; the floor
  (1e-3) keeps near-zero probabilities from turning rounding noise into huge ratios.

The verdict (``judge``) applies one precision's row of the tolerance table;
see ``check.tolerances`` for which limits count on random inputs. Nothing
here loads a model or reads a file.
"""

from __future__ import annotations

import numpy as np

from ..errors import ArtifactError
from ..metrics import predicted_classes
from ..results.check import OutputComparison, RandomInputs
from .tolerances import Tolerance, format_limit

REL_DIFF_FLOOR = 1e-3
RANDOM_ROWS = 256
RANDOM_SEED = 1234
RANDOM_RANGE = (0.0, 1.0)  # the valid pixel range after /255 scaling
ACCURACY_NOTE_PTS = 0.1  # Keras accuracy further than this from the one recorded at training gets a note

__all__ = ["ACCURACY_NOTE_PTS", "OutputComparison", "RANDOM_RANGE", "RANDOM_ROWS", "RANDOM_SEED", "REL_DIFF_FLOOR",
           "compare_outputs", "differs_from_training", "judge", "random_inputs", "random_inputs_spec"]


def compare_outputs(reference: np.ndarray, outputs: np.ndarray, binary: bool) -> OutputComparison:
    """Compare artifact ``outputs`` with the Keras model's ``reference`` outputs, row for row."""
    ref = np.asarray(reference, dtype=np.float64)
    out = np.asarray(outputs, dtype=np.float64)
    if out.shape != ref.shape:
        if out.size != ref.size:
            raise ArtifactError(f"The artifact's outputs have shape {out.shape}; the Keras model's have {ref.shape}.",
                                "export the artifact from this Keras model.")
        out = out.reshape(ref.shape)  # e.g. (n,) against (n, 1)
    nonfinite = int(np.count_nonzero(~np.isfinite(out)))
    diff = np.abs(out - ref)
    rel = diff / np.maximum(np.abs(ref), REL_DIFF_FLOOR)
    if nonfinite:  # NaN would hide in max(); report it as infinitely far off
        diff = np.where(np.isfinite(diff), diff, np.inf)
        rel = np.where(np.isfinite(rel), rel, np.inf)
    agree = predicted_classes(out, binary) == predicted_classes(ref, binary)
    return OutputComparison(rows=len(ref), max_abs_diff=float(diff.max()), mean_abs_diff=float(diff.mean()),
                            max_rel_diff=float(rel.max()), top1_agreement=float(agree.mean()), nonfinite=nonfinite)


def judge(precision: str, tolerance: Tolerance, test: OutputComparison, random: OutputComparison | None,
          reference_accuracy: float, accuracy: float) -> tuple[str, ...]:
    """The reasons an artifact fails ``tolerance`` (empty: it passes). Pure: no I/O."""
    reasons = []
    if test.nonfinite:
        reasons.append(f"{test.nonfinite} output values are NaN or infinite on the test set")
    limit = tolerance.max_abs_diff
    if limit is not None and not test.max_abs_diff <= limit:
        reasons.append(f"max abs diff {test.max_abs_diff:.1e} > {format_limit(limit)} allowed for {precision}")
    if not test.top1_agreement >= tolerance.min_agreement:
        reasons.append(f"top-1 agreement {test.top1_agreement:.2%} < {tolerance.min_agreement:.2%}")
    drop_limit = tolerance.max_accuracy_drop_pts
    drop = (reference_accuracy - accuracy) * 100
    if drop_limit is not None and not drop <= drop_limit:
        reasons.append(f"accuracy dropped {drop:.1f} points (> {drop_limit:g} allowed)")
    if random is not None and tolerance.check_random_inputs:
        if random.nonfinite:
            reasons.append(f"{random.nonfinite} output values are NaN or infinite on random inputs")
        elif limit is not None and not random.max_abs_diff <= limit:
            reasons.append(f"max abs diff on random inputs {random.max_abs_diff:.1e} > {format_limit(limit)} "
                           f"allowed for {precision}")
    return tuple(reasons)


def random_inputs_spec(rows: int = RANDOM_ROWS) -> RandomInputs:
    """The random inputs of a check: ``rows`` images, seeded, uniform over the pixel range."""
    return RandomInputs(rows=rows, seed=RANDOM_SEED, low=RANDOM_RANGE[0], high=RANDOM_RANGE[1])


def random_inputs(shape, spec: RandomInputs) -> np.ndarray:
    """The ``spec.rows`` seeded random images of per-image ``shape`` (float32; the same on every call)."""
    rng = np.random.default_rng(spec.seed)
    return rng.uniform(spec.low, spec.high, size=(spec.rows, *shape)).astype(np.float32)


def differs_from_training(recorded: tuple[float, int] | None, accuracy: float, rows: int) -> bool:
    """True when training recorded (accuracy, rows) on the same number of rows and ``accuracy`` is
    more than ``ACCURACY_NOTE_PTS`` points away from it: the test data or its preprocessing changed."""
    return bool(recorded) and recorded[1] == rows and abs(recorded[0] - accuracy) * 100 > ACCURACY_NOTE_PTS
