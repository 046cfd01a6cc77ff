"""``litert``: a .tflite model in LiteRT's Python Interpreter, on CPU.

XNNPACK (LiteRT's default CPU delegate) is on unless ``LoadOptions.xnnpack``
is False, which selects the builtin kernels alone. Each batch size gets its
own interpreter, resized and allocated on the first batch of that size, so
alternating sizes costs no re-allocation. Full-integer models with int8/uint8
inputs or outputs are quantized and dequantized here, so ``run`` always takes
and returns float32.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ArtifactError, DeviceUnavailable
from . import devices
from .base import LoadOptions

XNNPACK = "XNNPACK"
BUILTIN = "builtin"


def quantize(x: np.ndarray, dtype, scale: float, zero_point: int) -> np.ndarray:
    """float -> integer tensor values: round(x / scale) + zero_point, clipped to ``dtype``."""
    info = np.iinfo(dtype)
    return np.clip(np.round(x / scale) + zero_point, info.min, info.max).astype(dtype)


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """integer tensor values -> float32: (q - zero_point) * scale."""
    return ((q.astype(np.float32) - np.float32(zero_point)) * np.float32(scale)).astype(np.float32)


def _quant_params(detail: dict, what: str, path: Path) -> tuple[float, int] | None:
    """(scale, zero_point) for an integer tensor, None for a float one."""
    if not np.issubdtype(detail["dtype"], np.integer):
        return None
    scale, zero_point = detail["quantization"]
    if not scale:
        raise ArtifactError(
            f"The {what} of {str(path)!r} is {np.dtype(detail['dtype']).name} without quantization parameters.",
            "convert with float32 or quantized int8/uint8 inputs and outputs.",
        )
    return float(scale), int(zero_point)


class LiteRTSession:
    """A .tflite model on LiteRT's CPU interpreter; ``run`` takes and returns float32."""

    runtime = "litert"
    device = "cpu"

    def __init__(self, make_interpreter, path: Path, threads: int, xnnpack: bool):
        self._make = make_interpreter
        self.threads = threads
        self.providers = (XNNPACK if xnnpack else BUILTIN,)
        first = make_interpreter()
        self._input = first.get_input_details()[0]
        self._output = first.get_output_details()[0]
        self._in_q = _quant_params(self._input, "input", path)
        self._out_q = _quant_params(self._output, "output", path)
        self._input_np = self._input["dtype"]
        self.model_input_dtype = np.dtype(self._input_np).name
        signature = self._input.get("shape_signature", self._input["shape"])
        self.input_shape = (None,) + tuple(None if d < 0 else int(d) for d in signature[1:])
        self.input_dtype = "float32"
        # Allocate now so a broken model fails at load, not in the first timed call.
        first.allocate_tensors()
        self._by_batch = {int(self._input["shape"][0]): first}

    def _interpreter(self, n: int):
        interpreter = self._by_batch.get(n)
        if interpreter is None:
            interpreter = self._make()
            interpreter.resize_tensor_input(self._input["index"], [n, *self._input["shape"][1:]])
            interpreter.allocate_tensors()
            self._by_batch[n] = interpreter
        return interpreter

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Run one float32 batch; returns the first output as float32."""
        interpreter = self._interpreter(len(batch))
        if self._in_q is not None:
            x = quantize(batch, self._input_np, *self._in_q)
        else:
            x = np.ascontiguousarray(batch, dtype=self._input_np)
        interpreter.set_tensor(self._input["index"], x)
        interpreter.invoke()
        out = interpreter.get_tensor(self._output["index"])  # a copy, safe after the next invoke
        if self._out_q is not None:
            return dequantize(out, *self._out_q)
        return out if out.dtype == np.float32 else out.astype(np.float32)

    def close(self) -> None:
        """Drop every interpreter (and its XNNPACK delegate)."""
        self._by_batch.clear()


class LiteRT:
    """LiteRT's Python ``Interpreter``: CPU only, XNNPACK on by default."""

    name = "litert"
    formats = ("tflite",)
    engine = "litert"

    def load(self, path: Path, options: LoadOptions) -> LiteRTSession:
        """Load a .tflite file on CPU with ``options.threads`` and ``options.xnnpack``."""
        if options.device != "cpu":
            raise DeviceUnavailable(
                f"{devices.LITERT_CPU_ONLY}; asked for device {options.device!r}.",
                "use device 'cpu' for litert, or onnxruntime / tf_function for CUDA.",
            )
        path = devices.artifact_path(path, self.name)
        interpreter_module = devices.import_runtime("ai_edge_litert.interpreter", "ai-edge-litert")
        Interpreter = interpreter_module.Interpreter
        # AUTO applies the default delegates (XNNPACK); this resolver skips them.
        resolver = (
            interpreter_module.OpResolverType.AUTO
            if options.xnnpack
            else interpreter_module.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        )
        # Always an explicit count: this Interpreter treats num_threads=None as 1.
        threads = devices.effective_threads(options.threads)

        def make_interpreter():
            return Interpreter(
                model_path=str(path), num_threads=threads, experimental_op_resolver_type=resolver
            )

        try:
            return LiteRTSession(make_interpreter, path, threads, options.xnnpack)
        except (ValueError, RuntimeError) as exc:  # the Interpreter's load / allocate errors
            raise ArtifactError(f"LiteRT could not load {str(path)!r}: {exc}", "re-convert the model.") from exc


RUNTIME = LiteRT()
