"""The runtimes, in one table: name -> runtime object with ``name``, ``formats``, ``load``.

Importing this package is cheap: each runtime imports TensorFlow, ONNX
Runtime, LiteRT or OpenVINO only inside its ``load``. Adding a runtime is one new
module here and one row in ``RUNTIMES``.
"""

from __future__ import annotations

from ..errors import unknown_name
from . import keras_call, keras_predict, litert_rt, onnxruntime_rt, openvino_rt, tf_function
from .base import (DEVICES, BasicSession, LoadOptions, PrecisionUnavailable, Runtime, Session, executed_precision,
                   execution_details, run_precisions, runtime_devices, sets_precision)

RUNTIMES: dict[str, Runtime] = {
    rt.name: rt
    for rt in (
        keras_predict.RUNTIME,  # model.predict, the report's way
        keras_call.RUNTIME,  # model(x, training=False), eager
        tf_function.RUNTIME,  # one traced tf.function, XLA with LoadOptions.jit_compile
        onnxruntime_rt.RUNTIME,  # ONNX Runtime, CPU or CUDA
        litert_rt.RUNTIME,  # LiteRT Interpreter, CPU, XNNPACK by default
        openvino_rt.RUNTIME,  # OpenVINO CPU plugin: fp32 forced, bf16 where the CPU has it, int8 IR
    )
}


def get_runtime(name: str) -> Runtime:
    """The runtime called ``name``; an unknown name raises an error listing the valid ones."""
    try:
        return RUNTIMES[name]
    except KeyError:
        raise unknown_name("runtime", name, RUNTIMES) from None


def formats() -> list[str]:
    """Every artifact format some runtime loads, in table order."""
    return list(dict.fromkeys(fmt for rt in RUNTIMES.values() for fmt in rt.formats))


def runtimes_for_format(fmt: str) -> list[str]:
    """Names of the runtimes that load artifact format ``fmt`` ("keras", "onnx", ...), in table order."""
    names = [name for name, rt in RUNTIMES.items() if fmt in rt.formats]
    if not names:
        raise unknown_name("format", fmt, formats())
    return names


__all__ = [
    "DEVICES",
    "RUNTIMES",
    "BasicSession",
    "LoadOptions",
    "PrecisionUnavailable",
    "Runtime",
    "Session",
    "executed_precision",
    "execution_details",
    "formats",
    "get_runtime",
    "run_precisions",
    "runtime_devices",
    "runtimes_for_format",
    "sets_precision",
]
