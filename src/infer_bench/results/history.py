"""``exported/<model>/history.json``: a training run's per-epoch curves, test accuracy and stability.

The one writer (``save_history``, atomic through the store) and the one reader
(``load_history``). The file predates schema versions and has none; a reader
gets a clear error for a missing or damaged file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import ArtifactError
from . import store


def save_history(path: str | os.PathLike, history: dict) -> None:
    """Write a training history atomically (NaN/Inf refused)."""
    store.rewrite(path, history)


def load_history(path: str | os.PathLike) -> dict:
    """Read a training history; an ArtifactError naming the file when it is missing or not a JSON object."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"Cannot read the training history {path}: {exc}.",
                            "rerun `infer-bench train-export --force` for that model to write it again.") from exc
    if not isinstance(data, dict):
        raise ArtifactError(f"The training history {path} is not a JSON object.",
                            "rerun `infer-bench train-export --force` for that model to write it again.")
    return data
