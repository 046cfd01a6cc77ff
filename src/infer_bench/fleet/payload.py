"""Artifacts travel by content: the bytes go to the node, which checks them before running.

A file travels as its bytes; a folder artifact (a SavedModel, an OpenVINO IR)
as an uncompressed tar of its files in sorted order. The node unpacks into a
folder of its own and recomputes the sha256 the manifest recorded (with
``fsutil.sha256_of``, the same function the manifest was written with): a
byte that changed on the way fails the case before anything is loaded.
"""

from __future__ import annotations

import io
import tarfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import ArtifactError
from ..fsutil import sha256_of, write_bytes_atomic


@dataclass(frozen=True)
class Payload:
    """One artifact's bytes as they travel: its name, whether it is a folder, and the expected sha256."""

    name: str
    is_folder: bool
    data: bytes
    sha256: str

    def __post_init__(self):
        if not self.name or "/" in self.name or self.name in (".", ".."):
            raise ArtifactError(f"Artifact name {self.name!r} is not a plain file or folder name.",
                                "export the artifact again with `infer-bench train-export`.")
        if len(self.sha256) != 64:
            raise ArtifactError(f"{self.name}: {self.sha256!r} is not a sha256 digest.",
                                "rerun `infer-bench train-export` to rewrite the manifest.")


def pack(path: Path, sha256: str) -> Payload:
    """The bytes of the artifact at ``path`` (a file, or a folder as a sorted tar), to be checked against ``sha256``."""
    path = Path(path)
    if path.is_file():
        return Payload(path.name, False, path.read_bytes(), sha256)
    if not path.is_dir():
        raise ArtifactError(f"{path} does not exist.", "rerun `infer-bench train-export` to rebuild it.")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for f in sorted(p for p in path.rglob("*") if p.is_file()):
            tar.add(f, arcname=str(f.relative_to(path)), recursive=False)
    return Payload(path.name, True, buf.getvalue(), sha256)


def unpack(payload: Payload, folder: Path) -> Path:
    """Write ``payload`` under ``folder`` and return its path, after checking its sha256.

    Raises ``ArtifactError`` naming both digests when the bytes are not the ones the manifest lists.
    """
    target = Path(folder) / payload.name
    if payload.is_folder:
        with tarfile.open(fileobj=io.BytesIO(payload.data), mode="r") as tar:
            tar.extractall(target, filter="data")  # "data": no absolute paths, links out or device files
    else:
        write_bytes_atomic(target, payload.data)
    digest = sha256_of(target)
    if digest == payload.sha256:
        return target
    raise ArtifactError(f"{payload.name}: the bytes received have sha256 {digest[:12]}..., the manifest says "
                        f"{payload.sha256[:12]}...: the artifact changed on the way or after export.",
                        "rerun `infer-bench train-export --force` on the driver, or restore the original file.")
