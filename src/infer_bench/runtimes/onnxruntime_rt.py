"""``onnxruntime``: an .onnx model in an ONNX Runtime InferenceSession, on CPU or CUDA.

Graph optimizations are all on (ORT_ENABLE_ALL); the executor is sequential
with ``threads`` intra-op threads and one inter-op thread. A CUDA request
that ends up on the CPU provider raises DeviceUnavailable (ONNX Runtime
itself only logs it). ``load_onnx_profiled`` turns on ONNX Runtime's
profiler, whose JSON has one event per node run (for per-layer times).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ArtifactError, DeviceUnavailable, InferBenchError
from . import devices
from .base import LoadOptions

# ONNX tensor types a float32 batch can be cast to. Anything else (int8 I/O)
# needs quantization parameters the ONNX graph inputs do not carry.
ORT_FLOAT_TYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
}


class OrtSession:
    """A loaded ONNX Runtime session; ``run`` takes and returns float32.

    ``model_input_dtype`` is the model's own input type: a float16 model's
    batches are cast inside ``run`` (prefer exporting with float32 I/O, so the
    cast is not timed).
    """

    runtime = "onnxruntime"

    def __init__(self, sess, device: str, threads: int, profiling: bool):
        self._sess = sess
        self._profiling = profiling
        self.device = device
        self.providers = tuple(sess.get_providers())
        self.threads = threads
        first = sess.get_inputs()[0]
        self._input_name = first.name
        self._output_names = [sess.get_outputs()[0].name]
        if first.type not in ORT_FLOAT_TYPES:
            raise ArtifactError(
                f"onnxruntime runs models with float inputs; this one's input {first.name!r} is {first.type}.",
                "export the ONNX model with float32 inputs and outputs.",
            )
        self._input_np = ORT_FLOAT_TYPES[first.type]
        self.model_input_dtype = np.dtype(self._input_np).name
        # Symbolic dims ("unk__32", "batch") and unknown ones become None.
        self.input_shape = tuple(d if isinstance(d, int) else None for d in first.shape)
        self.input_dtype = "float32"

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Run one float32 batch; returns the first output as float32 on the host."""
        if batch.dtype != self._input_np:
            batch = batch.astype(self._input_np)
        # InferenceSession.run copies the output to host memory, so CUDA work is done.
        out = self._sess.run(self._output_names, {self._input_name: batch})[0]
        return out if out.dtype == np.float32 else out.astype(np.float32)

    def end_profiling(self) -> Path:
        """Stop ONNX Runtime's profiler and return the path of its JSON trace."""
        if not self._profiling:
            raise InferBenchError(
                "This ONNX Runtime session was loaded without profiling.", "load it with load_onnx_profiled()."
            )
        self._profiling = False
        return Path(self._sess.end_profiling())

    def close(self) -> None:
        """Drop the session (frees its memory, GPU memory included)."""
        self._sess = None


class OnnxRuntime:
    """ONNX Runtime on CPU (CPUExecutionProvider) or CUDA (CUDAExecutionProvider)."""

    name = "onnxruntime"
    formats = ("onnx",)
    engine = "onnxruntime"

    def load(
        self,
        path: Path,
        options: LoadOptions,
        *,
        tensorrt: bool = False,
        profile_prefix: str | Path | None = None,
    ) -> OrtSession:
        """Load an .onnx file for ``options.device``.

        ``tensorrt``: put TensorRT before CUDA (device 'cuda' only; raises if
        it cannot be created). ``profile_prefix``: turn on ONNX Runtime's
        profiler, writing ``<prefix>_<timestamp>.json``; see ``end_profiling``.
        """
        path = devices.artifact_path(path, self.name)
        if tensorrt and options.device != "cuda":
            raise InferBenchError("TensorRT runs on CUDA only.", "load with device 'cuda', or without tensorrt.")
        ort = devices.import_runtime("onnxruntime")
        if options.device == "cuda":
            reason = devices.cuda_available_reason(self.engine)
            if reason:
                raise DeviceUnavailable(
                    f"ONNX Runtime cannot use CUDA: {reason}.",
                    "run on a machine with an NVIDIA GPU and `pip install -e .[cuda]`, or use device 'cpu'.",
                )
            devices.preload_cuda_libraries(ort)

        threads = devices.effective_threads(options.threads)
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1  # unused by the sequential executor; pinned for clarity
        if profile_prefix is not None:
            Path(profile_prefix).parent.mkdir(parents=True, exist_ok=True)
            so.enable_profiling = True
            so.profile_file_prefix = str(profile_prefix)

        providers = devices.ort_providers(options.device, tensorrt)
        try:
            sess = ort.InferenceSession(str(path), sess_options=so, providers=providers)
        except Exception as exc:  # ORT's own Fail / InvalidGraph / InvalidProtobuf ...
            raise ArtifactError(
                f"ONNX Runtime could not load {str(path)!r}: {exc}", "re-export the ONNX model."
            ) from exc
        devices.check_ort_providers(options.device, sess.get_providers(), tensorrt)
        return OrtSession(sess, options.device, threads, profiling=profile_prefix is not None)


RUNTIME = OnnxRuntime()


def load_onnx_profiled(path: Path, options: LoadOptions, profile_prefix: str | Path) -> OrtSession:
    """Load an .onnx file with ONNX Runtime's profiler on.

    Run the session, then call ``session.end_profiling()`` to get the JSON
    trace's path (written as ``<profile_prefix>_<timestamp>.json``).
    """
    return RUNTIME.load(path, options, profile_prefix=profile_prefix)
