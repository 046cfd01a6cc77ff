"""The small interface every runtime implements.

A *runtime* knows how to load one or more artifact formats for a device and
returns a *session*: something that runs a batch and says what actually ran.
Adding a runtime means one new module in this package and one row in
``runtimes/__init__.py``'s ``RUNTIMES`` table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from ..catalog import DEVICES


@dataclass(frozen=True)
class LoadOptions:
    """How to load an artifact.

    ``threads``: intra-op threads for CPU runtimes (the same for every runtime
    in one comparison; ``None`` = all cores). ``jit_compile``: XLA for
    ``tf_function``. ``xnnpack``: LiteRT's XNNPACK delegate (default on).
    ``unsafe_keras``: load ``.keras`` files with Keras safe mode off, which runs
    Python code stored in the file (Lambda layers); only for files you trust.
    """

    device: str = "cpu"
    threads: int | None = None
    jit_compile: bool = False
    xnnpack: bool = True
    unsafe_keras: bool = False

    def __post_init__(self):
        if self.device not in DEVICES:
            raise ValueError(f"device={self.device!r} is not one of {DEVICES}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads={self.threads!r} must be >= 1 or None (all cores)")


class Session(Protocol):
    """A loaded artifact, ready to run.

    ``run`` takes a float32 NHWC batch and returns the model output as a host
    numpy array, so device work is finished (synchronized) when it returns.
    ``device`` and ``providers`` describe what actually ran, not what was asked
    for: a CUDA request that fell back to CPU reports ``"cpu"``.
    """

    runtime: str
    device: str
    providers: tuple[str, ...]
    threads: int | None
    input_shape: tuple  # e.g. (None, 28, 28, 1)
    input_dtype: str  # e.g. "float32"

    def run(self, batch: np.ndarray) -> np.ndarray: ...

    def close(self) -> None: ...


class Runtime(Protocol):
    """A way of running artifacts: ``name``, the ``formats`` it loads, and ``load``."""

    name: str
    formats: tuple[str, ...]  # artifact formats: "keras", "savedmodel", "onnx", "tflite"

    def load(self, path: Path, options: LoadOptions) -> Session: ...


@dataclass
class BasicSession:
    """A convenience Session built from a plain ``run`` function."""

    runtime: str
    device: str
    providers: tuple[str, ...]
    threads: int | None
    input_shape: tuple
    input_dtype: str
    run_fn: object = field(repr=False)
    close_fn: object = field(default=None, repr=False)

    def run(self, batch: np.ndarray) -> np.ndarray:
        return self.run_fn(batch)

    def close(self) -> None:
        if self.close_fn is not None:
            self.close_fn()
