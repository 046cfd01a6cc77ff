"""Why each model costs what it costs here: cost model, machine ceilings, per-layer profile, overhead, pairs.

Modules, one job each:

- ``costmodel``: FLOPs, parameters and bytes of a Keras model, per layer (``crosscheck`` counts them again).
- ``ceilings``: this machine's measured compute peaks and memory bandwidth, and the roofline floor.
- ``layermap``, ``trace``, ``profile``: ONNX Runtime's per-node profile mapped onto Keras layers.
- ``analysis``: the pure arithmetic (overhead, roofline entries, pairwise comparison, bench lookups).
- ``words``, ``text``: the numbers in plain English.
- ``int8why``, ``int8inputs`` (pure), ``int8graph``, ``int8facts``: why each int8 variant is slower or
  faster than fp32 here.
- ``runner``: ``run_explain``, which measures and writes the record (``results.explain.Explanation``).
"""

from ..results.explain import Explanation, ModelExplanation, latest_explanation, load_explanation, save_explanation
from .analysis import REPORT_FIGURES, ModelFigures, ReportFigure, compare_pair, overhead_decomposition, roofline_entry
from .ceilings import MachineCeilings, bytes_moved_estimate, measure_ceilings, roofline_bound, roofline_floor_ms
from .costmodel import LayerCost, ModelCost, UncountedLayer, layer_cost, model_cost, uncounted_sentence
from .int8why import Int8Why, OpCensus, VariantFacts, explain_int8
from .profile import LITERT_PROFILING_NOTE, profile_onnx_layers
from .runner import run_explain
from .text import explanation_text, format_explanation
from .trace import LayerProfile, LayerTime

__all__ = [
    "LITERT_PROFILING_NOTE", "REPORT_FIGURES", "Explanation", "LayerCost", "LayerProfile", "LayerTime",
    "MachineCeilings", "ModelCost", "ModelExplanation", "ModelFigures", "ReportFigure", "bytes_moved_estimate",
    "compare_pair", "explain_int8", "explanation_text", "Int8Why", "OpCensus", "VariantFacts",
    "format_explanation", "latest_explanation", "layer_cost",
    "load_explanation", "measure_ceilings", "model_cost", "overhead_decomposition", "profile_onnx_layers",
    "roofline_bound", "roofline_entry", "roofline_floor_ms", "run_explain", "save_explanation", "UncountedLayer",
    "uncounted_sentence",
]
