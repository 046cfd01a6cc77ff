"""infer-bench: train, export, benchmark and check the report's Keras CNNs.

The public API is re-exported here; everything else is internal.
"""

from .errors import ArtifactError, DataError, DeviceUnavailable, InferBenchError
from .manifest import ArtifactEntry, Manifest, load_manifest, verify_entry
from .models import MODELS, get_spec

__version__ = "0.1.0"

__all__ = [
    "ArtifactEntry", "ArtifactError", "DataError", "DeviceUnavailable", "InferBenchError",
    "MODELS", "Manifest", "get_spec", "load_manifest", "verify_entry", "__version__",
]
