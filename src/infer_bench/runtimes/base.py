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

from ..catalog import DEVICES, PRECISIONS
from ..errors import DeviceUnavailable, InferBenchError

# What a runtime that takes a performance hint (OpenVINO) is told to optimize for.
PERFORMANCE_HINTS = ("latency", "throughput")


class PrecisionUnavailable(DeviceUnavailable):
    """The runtime will not execute the precision asked for on this machine (the message says why)."""


class LoadOptionsError(InferBenchError, ValueError):
    """A LoadOptions value is not allowed (a ValueError too, as before it was an InferBenchError)."""


@dataclass(frozen=True)
class LoadOptions:
    """How to load an artifact.

    ``threads``: intra-op threads for CPU runtimes (the same for every runtime
    in one comparison; ``None`` = all cores). ``jit_compile``: XLA for
    ``tf_function``. ``xnnpack``: LiteRT's XNNPACK delegate (default on).
    ``unsafe_keras``: load ``.keras`` files with Keras safe mode off, which runs
    Python code stored in the file (Lambda layers); only for files you trust.
    ``precision``: the precision a runtime that chooses one (OpenVINO) must
    execute in, one of ``catalog.PRECISIONS`` ("bf16" runs an fp32 artifact in
    bf16); None = the artifact's own. Runtimes that run an artifact as it is
    ignore it. ``performance_hint``: "latency" (one stream) or "throughput",
    for runtimes that take one (OpenVINO). ``streams``: for runtimes that run
    several requests at once inside one loaded model (OpenVINO's streams), how
    many, each of ``threads`` threads; the others ignore it (``runtimes.concurrent``
    loads one session per stream for them).
    """

    device: str = "cpu"
    threads: int | None = None
    jit_compile: bool = False
    xnnpack: bool = True
    unsafe_keras: bool = False
    precision: str | None = None
    performance_hint: str = "latency"
    streams: int = 1

    def __post_init__(self):
        if self.device not in DEVICES:
            raise LoadOptionsError(f"device={self.device!r} is not one of {DEVICES}.",
                                   f"use one of: {', '.join(DEVICES)}.")
        if self.threads is not None and self.threads < 1:
            raise LoadOptionsError(f"threads={self.threads!r} must be >= 1 or None (all cores).",
                                   "pass a thread count >= 1, or None for all cores.")
        if self.precision is not None and self.precision not in PRECISIONS:
            raise LoadOptionsError(f"precision={self.precision!r} is not a known precision.",
                                   f"use one of: {', '.join(PRECISIONS)}, or None for the artifact's own.")
        if isinstance(self.streams, bool) or not isinstance(self.streams, int) or self.streams < 1:
            raise LoadOptionsError(f"streams={self.streams!r} must be an int >= 1.", "pass 1, or the sessions wanted.")
        if self.performance_hint not in PERFORMANCE_HINTS:
            raise LoadOptionsError(f"performance_hint={self.performance_hint!r} is not a known hint.",
                                   f"use one of: {', '.join(PERFORMANCE_HINTS)}.")


class Session(Protocol):
    """A loaded artifact, ready to run.

    ``run`` takes a float32 NHWC batch and returns the model output as a host
    numpy array, so device work is finished (synchronized) when it returns.
    ``device`` and ``providers`` describe what actually ran, not what was asked
    for: a CUDA request that fell back to CPU reports ``"cpu"``. A runtime that
    chooses the compute precision itself (OpenVINO) also has
    ``executed_precision`` (a compute precision: "fp32", "bf16", "fp16" or
    "int8", read back from the compiled model) and ``execution`` (JSON-ready
    details of what ran); read them with ``executed_precision()`` and
    ``execution_details()``, which answer for every session.
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
    """A way of running artifacts: ``name``, the ``formats`` it loads, and ``load``.

    A runtime that is told the precision to execute in (``sets_precision`` true:
    OpenVINO) also has ``unavailable_reason(precision) -> str | None`` (why it
    cannot execute ``precision`` here, decided before loading) and its ``load``
    raises ``PrecisionUnavailable`` when the compiled model executes another
    precision than ``LoadOptions.precision``. It lists the extra precisions it
    runs an artifact in by artifact precision in ``extra_precisions`` (OpenVINO:
    ``{"fp32": ("bf16",)}``); see ``run_precisions``.
    """

    name: str
    formats: tuple[str, ...]  # artifact formats: "keras", "savedmodel", "onnx", "tflite", "openvino"

    def load(self, path: Path, options: LoadOptions) -> Session: ...


def run_precisions(runtime, quantization: str) -> tuple[str, ...]:
    """The precisions ``runtime`` runs an artifact of precision ``quantization`` in: its own
    first, then any extra ones the runtime offers (an fp32 file in OpenVINO: fp32, bf16)."""
    return (quantization, *getattr(runtime, "extra_precisions", {}).get(quantization, ()))


def runtime_devices(runtime) -> tuple[str, ...]:
    """The devices ``runtime`` can run on: its ``devices`` where it declares them, else every one."""
    return tuple(getattr(runtime, "devices", DEVICES))


def sets_precision(runtime) -> bool:
    """Whether ``runtime`` is told the precision to execute in (``LoadOptions.precision``)."""
    return bool(getattr(runtime, "sets_precision", False))


def executed_precision(session) -> str | None:
    """The compute precision ``session`` says it executed in; None where the runtime does not
    say (it runs the artifact as it is)."""
    return getattr(session, "executed_precision", None)


def execution_details(session) -> dict:
    """JSON-ready details of what ``session`` executed (device, precision, hint); {} where none."""
    return dict(getattr(session, "execution", None) or {})


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
