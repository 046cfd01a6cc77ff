"""The numbers of the accuracy check, pure: output differences, the verdict, the random inputs.

- top-1 agreement: the share of rows with the same predicted class (argmax;
  for one sigmoid output, the same side of 0.5);
- max and mean absolute difference of the outputs. The max is also the
  smallest absolute tolerance under which every output would pass;
- max relative difference ``|a - k| / max(|k|, REL_DIFF_FLOOR)``; the floor
  (1e-3) keeps near-zero probabilities from turning rounding noise into huge ratios;
- where rows disagree, how close they sit to the Keras model's decision boundary:
  the largest lead of its top-1 class over the runner-up among them (``flip_margin``;
  for one sigmoid output p, ``|2p - 1|``, the lead of one class's probability over the
  other's), and the share of all rows that close (``boundary_share``). Flips among rows
  the model itself hardly separates are a different finding from flips of confident rows.

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
           "boundary_note", "compare_outputs", "decision_margins", "differs_from_training", "judge", "random_inputs", "random_inputs_spec"]


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
    flip_margin = boundary_share = None
    if not agree.all():
        margins = decision_margins(ref, binary)
        flip_margin = float(margins[~agree].max())
        boundary_share = float(np.mean(margins <= flip_margin))
    return OutputComparison(rows=len(ref), max_abs_diff=float(diff.max()), mean_abs_diff=float(diff.mean()),
                            max_rel_diff=float(rel.max()), top1_agreement=float(agree.mean()), nonfinite=nonfinite,
                            flip_margin=flip_margin, boundary_share=boundary_share)


def decision_margins(outputs: np.ndarray, binary: bool) -> np.ndarray:
    """Each row's lead of its top-1 class over the runner-up: ``|2p - 1|`` for one sigmoid output p,
    else the top score minus the second (probabilities for softmax, logit units for logits)."""
    out = np.asarray(outputs, dtype=np.float64).reshape(len(outputs), -1)
    if binary:
        return np.abs(2.0 * out[:, 0] - 1.0)
    top2 = np.partition(out, out.shape[1] - 2, axis=1)[:, -2:]
    return top2[:, 1] - top2[:, 0]


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
        reasons.append(f"top-1 agreement {test.top1_agreement:.2%} < {tolerance.min_agreement:.2%}"
                       + boundary_note(test))
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


def boundary_note(test: OutputComparison) -> str:
    """" (...)": where the disagreeing rows sit against the Keras model's decision boundary ("" unknown)."""
    if test.flip_margin is None or test.boundary_share is None:
        return ""
    flips = round((1.0 - test.top1_agreement) * test.rows)
    return (f" (Keras' own lead of its top-1 class over the runner-up is at most {test.flip_margin:.2f} on the "
            f"{flips} disagreeing row(s); {test.boundary_share:.1%} of all rows are that close to its boundary)")


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
