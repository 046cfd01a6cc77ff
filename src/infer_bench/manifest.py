"""``exported/manifest.json``: the list of artifacts, their checksums and shapes.

Written atomically after every finished artifact, so an interrupted run leaves
a manifest that lists exactly the complete files.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .errors import ArtifactError
from .fsutil import sha256_of, size_of
from .results import store

SCHEMA_VERSION = 1
MANIFEST_NAME = "manifest.json"


@dataclass(frozen=True)
class ArtifactEntry:
    """One exported artifact. ``path`` is relative to the manifest's folder."""

    model: str
    format: str
    quantization: str
    path: str
    bytes: int
    sha256: str
    input_shape: list
    input_dtype: str
    output_shape: list
    source_sha256: str  # sha256 of the .keras file it was exported from (staleness check)
    source_test_accuracy: float
    quick: bool = False
    recipe: str = ""  # how it was made (export.ArtifactKind.recipe); absent in manifests of older versions
    # Keras layers ``check``'s repair kept in float in this int8 artifact (quant.repair); absent: none.
    float_layers: tuple[str, ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "float_layers", tuple(self.float_layers))
        if not all(isinstance(name, str) and name for name in self.float_layers):
            raise ArtifactError(f"{self.label}: float_layers {self.float_layers!r} must be layer names.",
                                "rerun `infer-bench check` to repair the artifact again, or train-export --force.")

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.model, self.format, self.quantization)

    @property
    def label(self) -> str:
        return f"{self.model} {self.format}/{self.quantization}"


@dataclass
class Manifest:
    """All artifacts of one export folder, keyed by (model, format, quantization)."""

    folder: Path
    artifacts: dict = field(default_factory=dict)
    versions: dict = field(default_factory=dict)
    models: dict = field(default_factory=dict)  # per model: dataset, test accuracy, history file

    @property
    def path(self) -> Path:
        return self.folder / MANIFEST_NAME

    def add(self, entry: ArtifactEntry) -> None:
        self.artifacts[entry.key] = entry

    def remove(self, key) -> None:
        self.artifacts.pop(key, None)

    def entries(self, models=None, formats=None, quantizations=None) -> list[ArtifactEntry]:
        """Entries, optionally filtered, in a stable order."""
        return [e for e in self.artifacts.values()
                if (not models or e.model in models) and (not formats or e.format in formats)
                and (not quantizations or e.quantization in quantizations)]

    def to_dict(self) -> dict:
        return {"schema_version": SCHEMA_VERSION, "versions": self.versions, "models": self.models,
                "artifacts": [{**asdict(e), "float_layers": list(e.float_layers)} for e in self.artifacts.values()]}

    def save(self) -> None:
        store.rewrite(self.path, self.to_dict())


def load_manifest(folder: str | Path, missing_ok: bool = False) -> Manifest:
    """Read ``folder/manifest.json``; an absent file gives an empty manifest if ``missing_ok``."""
    folder = Path(folder)
    path = folder / MANIFEST_NAME
    if not path.exists():
        if missing_ok:
            return Manifest(folder)
        raise ArtifactError(f"No manifest at {path}.",
                            f"run `infer-bench train-export --out {folder}` first, or pass --exported DIR.")
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{path} is not valid JSON ({exc}).",
                            "delete it and rerun `infer-bench train-export` to rebuild it.") from exc
    if raw.get("schema_version") != SCHEMA_VERSION:
        raise ArtifactError(f"{path} has schema_version {raw.get('schema_version')!r}; this infer-bench reads "
                            f"{SCHEMA_VERSION}.", "rerun `infer-bench train-export --force` to rewrite it.")
    m = Manifest(folder, versions=raw.get("versions", {}), models=raw.get("models", {}))
    for e in raw.get("artifacts", []):
        m.add(ArtifactEntry(**e))
    return m


def verify_entry(manifest: Manifest, entry: ArtifactEntry) -> Path:
    """Return the artifact's path after checking it exists and matches its sha256."""
    path = manifest.folder / entry.path
    if not path.exists():
        raise ArtifactError(f"{entry.label}: {path} is listed in {manifest.path} but does not exist.",
                            "rerun `infer-bench train-export` to rebuild it.")
    digest = sha256_of(path)
    if digest != entry.sha256:
        raise ArtifactError(
            f"{entry.label}: {path} does not match its manifest checksum (sha256 {digest[:12]}..., "
            f"manifest says {entry.sha256[:12]}...): it was changed or damaged after export.",
            "rerun `infer-bench train-export --force` to rebuild it, or restore the original file.")
    return path


def entry_for(manifest: Manifest, path: Path, **fields) -> ArtifactEntry:
    """Build an entry for a freshly written artifact, with its size and checksum."""
    return ArtifactEntry(path=str(path.relative_to(manifest.folder)), bytes=size_of(path),
                         sha256=sha256_of(path), **fields)
