"""Per-layer quantization error, pure: SQNR, relative error, an int8 grid, and the ranking.

Per Keras layer, on held-out images (never the calibration ones):

- ``sqnr_db`` / ``rel_error``: the layer's output in the quantized model
  against the same tensor in the float model, ``10 log10(sum f^2 / sum (q-f)^2)``
  and ``||q - f|| / ||f||``. This error is *accumulated*: it includes all the
  noise of the layers before, so it grows along the network and cannot say
  which layer to blame on its own;
- ``noise_added``: what the layer adds, as relative noise power:
  ``10^(-sqnr/10)`` of its output minus the same of the layer before it (in
  graph order; the first layer's input counts as exact). Weight rounding, a
  badly calibrated range and requantization all land here, but so does the
  amplification of earlier noise, so it is reported, not ranked on;
- ``grid_sqnr_db``: the noise the layer's own int8 output grid alone adds, i.e.
  the float model's output quantized and dequantized with the artifact's scale
  and zero point. A badly calibrated range (too wide: coarse steps; too
  narrow: clipping) shows here and nowhere else, measured on float inputs so no
  neighbour is blamed;
- ``weight_sqnr_db``: the layer's float weights against its dequantized int8
  weights (None for a layer without int8 weights: pooling, reshape, a
  BatchNormalization folded into its neighbour).

The ranking (worst first, ``rank_layers``) sorts on the layer's own noise, its
output grid's and its weights' noise powers added (``LayerError.own_sqnr_db``),
and the repair only keeps layers with weights in float
(``repair_candidates``): keeping a weightless layer in float leaves the
quantized layers around it, and their grids, as they were.

The chain order is exact for chains (the models here); a branching model's
"layer before" is the previous one in graph order, an approximation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import InferBenchError
from ..results.check import LayerError

SQNR_CAP_DB = 200.0  # an exact match (no noise) is reported as this, never as inf (JSON has no inf)

__all__ = ["SQNR_CAP_DB", "LayerTensors", "fake_quant", "layer_errors", "rank_layers", "rel_error",
           "repair_candidates", "sqnr_db", "weight_sqnr_db"]


def sqnr_db(reference: np.ndarray, test: np.ndarray) -> float:
    """Signal-to-quantization-noise ratio of ``test`` against ``reference``, in dB (capped at ``SQNR_CAP_DB``)."""
    ref = np.asarray(reference, dtype=np.float64).ravel()
    out = np.asarray(test, dtype=np.float64).ravel()
    if ref.shape != out.shape:
        raise InferBenchError(f"SQNR of tensors of {ref.size} and {out.size} values.",
                              "compare the same tensor of the float and the quantized model.")
    noise = float(np.sum((out - ref) ** 2))
    signal = float(np.sum(ref ** 2))
    if noise == 0.0:
        return SQNR_CAP_DB
    if signal == 0.0:
        return -SQNR_CAP_DB
    return float(min(SQNR_CAP_DB, max(-SQNR_CAP_DB, 10.0 * math.log10(signal / noise))))


def rel_error(reference: np.ndarray, test: np.ndarray) -> float:
    """``||test - reference|| / ||reference||`` (inf when the reference is all zeros and test is not)."""
    ref = np.asarray(reference, dtype=np.float64).ravel()
    diff = float(np.linalg.norm(np.asarray(test, dtype=np.float64).ravel() - ref))
    norm = float(np.linalg.norm(ref))
    if norm == 0.0:
        return 0.0 if diff == 0.0 else math.inf
    return diff / norm


def fake_quant(values: np.ndarray, scale, zero_point, qmin: int = -128, qmax: int = 127,
               axis: int | None = None) -> np.ndarray:
    """``values`` quantized to the int grid (``scale``, ``zero_point``, clipped to [qmin, qmax]) and back.

    ``axis``: the channel axis of a per-channel scale (None: one scale for the tensor).
    """
    scale = np.asarray(scale, dtype=np.float64)
    zero_point = np.asarray(zero_point, dtype=np.float64)
    if np.any(scale <= 0):
        raise InferBenchError(f"A quantization scale of {scale.min()} is not positive.",
                              "read the scale from a quantized tensor (scales are > 0).")
    x = np.asarray(values, dtype=np.float64)
    if axis is not None and scale.size > 1:
        shape = [1] * x.ndim
        shape[axis] = scale.size
        scale, zero_point = scale.reshape(shape), zero_point.reshape(shape)
    q = np.clip(np.round(x / scale) + zero_point, qmin, qmax)
    return (q - zero_point) * scale


@dataclass(frozen=True)
class LayerTensors:
    """One Keras layer's output on the held-out images: float model, quantized model, and its int8 grid."""

    keras_layer: str
    tensor: str  # the tensor's name in the artifact
    float_values: np.ndarray
    quant_values: np.ndarray
    scale: float
    zero_point: int
    qmin: int = -128
    qmax: int = 127

    def __post_init__(self):
        if not self.keras_layer or not self.tensor:
            raise InferBenchError("LayerTensors needs a Keras layer and a tensor name.",
                                  "map the tensor to its layer first (explain.layermap).")
        if np.shape(self.float_values) != np.shape(self.quant_values):
            raise InferBenchError(f"{self.tensor}: float values of shape {np.shape(self.float_values)} but quantized "
                                  f"values of shape {np.shape(self.quant_values)}.",
                                  "collect the same tensor on the same images from both models.")


def rank_layers(errors) -> tuple[LayerError, ...]:
    """Worst first: lowest ``own_sqnr_db`` (output grid and weights), then most ``noise_added``, then name.

    Why the layer's own noise and not ``noise_added``: noise does not travel through a layer with
    gain 1 (a dense layer producing logits amplifies relative noise), so a difference of accumulated
    errors blames the layer after a bad one; the grid and the weights are measured on float values
    and blame no neighbour (see docs/quantization.md for the ablation figures).
    """
    return tuple(sorted(errors, key=lambda e: (e.own_sqnr_db, -e.noise_added, e.keras_layer)))


def repair_candidates(errors) -> list[str]:
    """The layers worth keeping in float, worst first: ranked (``rank_layers``), those with int8 weights only."""
    return [e.keras_layer for e in rank_layers(errors) if e.weighted]


def weight_sqnr_db(pairs) -> float:
    """SQNR of a layer's weights: ``pairs`` of (float, dequantized) arrays, their signals and noises summed."""
    pairs = list(pairs)
    if not pairs:
        raise InferBenchError("No weights to compare.", "pass the (float, dequantized) weights of a layer.")
    return sqnr_db(np.concatenate([np.ravel(f) for f, _ in pairs]), np.concatenate([np.ravel(q) for _, q in pairs]))


def noise_power(sqnr: float) -> float:
    """Relative noise power of an SQNR in dB: 20 dB -> 0.01."""
    return 10.0 ** (-sqnr / 10.0)


def clipped_share(values: np.ndarray, scale: float, zero_point: int, qmin: int, qmax: int) -> float:
    """Share of ``values`` outside the int grid's range (clipped by quantization)."""
    steps = np.round(np.asarray(values, dtype=np.float64) / scale) + zero_point
    return float(np.mean((steps < qmin) | (steps > qmax)))


def layer_errors(tensors, weights: dict[str, float] | None = None) -> tuple[LayerError, ...]:
    """One ``LayerError`` per ``LayerTensors`` (given in graph order), worst first (``rank_layers``).

    ``weights``: {Keras layer: its weight SQNR in dB} for the layers with int8 weights.
    """
    weights = weights or {}
    out = []
    before = 0.0  # relative noise power of the previous layer's output (the input counts as exact)
    for t in tensors:
        grid = fake_quant(t.float_values, t.scale, t.zero_point, t.qmin, t.qmax)
        sqnr = sqnr_db(t.float_values, t.quant_values)
        out.append(LayerError(keras_layer=t.keras_layer, tensor=t.tensor, sqnr_db=sqnr,
                              rel_error=min(rel_error(t.float_values, t.quant_values), 1e9),
                              noise_added=max(0.0, noise_power(sqnr) - before),
                              grid_sqnr_db=sqnr_db(t.float_values, grid),
                              clipped=clipped_share(t.float_values, t.scale, t.zero_point, t.qmin, t.qmax),
                              scale=float(t.scale), weight_sqnr_db=weights.get(t.keras_layer)))
        before = noise_power(sqnr)
    return rank_layers(out)
