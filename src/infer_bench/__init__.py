"""infer-bench: train, export, benchmark and check the report's Keras CNNs.

The public API is re-exported here; everything else is internal.
"""

from .errors import ArtifactError, DataError, DeviceUnavailable, InferBenchError
from .manifest import ArtifactEntry, Manifest, load_manifest, verify_entry
from .models import MODELS, get_spec
from .check import CheckReport, run_check
from .costmodel import model_cost
from .ceilings import measure_ceilings
from .explain import run_explain
from .report import write_report

__version__ = "0.1.0"

__all__ = [
    "ArtifactEntry", "ArtifactError", "DataError", "DeviceUnavailable", "InferBenchError",
    "CheckReport", "MODELS", "Manifest", "get_spec", "load_manifest", "measure_ceilings", "model_cost",
    "run_check", "run_explain", "verify_entry", "write_report", "__version__",
]
