"""infer-bench: train, export, benchmark and check the report's Keras CNNs.

The public API is re-exported here; everything else is internal. The stages,
in the order data flows: ``train_export`` -> ``bench`` (timing through
``measure``) -> ``check`` -> ``explain`` -> ``present``; every file they write
goes through ``results``.
"""

from .bench import BenchPlan, run_bench
from .check import run_check
from .errors import ArtifactError, DataError, DeviceUnavailable, InferBenchError
from .explain import measure_ceilings, model_cost, run_explain
from .manifest import ArtifactEntry, Manifest, load_manifest, verify_entry
from .measure import InputRotation, StopRule, measure_session
from .models import MODELS, get_spec
from .present.report import write_report
from .results import BenchResult, ResultsFile, load_results, require_same_machine
from .results.check import CheckReport, load_check
from .results.explain import Explanation, load_explanation

__version__ = "0.1.0"

__all__ = [
    "ArtifactEntry", "ArtifactError", "BenchPlan", "BenchResult", "CheckReport", "DataError", "DeviceUnavailable",
    "Explanation", "InferBenchError", "InputRotation", "MODELS", "Manifest", "ResultsFile", "StopRule", "get_spec",
    "load_check", "load_explanation", "load_manifest", "load_results", "measure_ceilings", "measure_session",
    "model_cost", "require_same_machine", "run_bench", "run_check", "run_explain", "verify_entry", "write_report",
    "__version__",
]
