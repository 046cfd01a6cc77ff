"""What the runtime modules share: where they run and what they load.

CPU thread counts, CUDA availability, the device -> ONNX Runtime providers
table, TensorFlow's once-per-process setup, lazy imports, artifact paths.
Everything here is cheap to import: TensorFlow and ONNX Runtime are imported
only inside the functions that need them, through ``import_runtime``, so a
missing runtime gives a message that names the pip package to install.
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
from pathlib import Path

from ..errors import ArtifactError, DeviceUnavailable, InferBenchError

CPU_PROVIDER = "CPUExecutionProvider"
CUDA_PROVIDER = "CUDAExecutionProvider"
TENSORRT_PROVIDER = "TensorrtExecutionProvider"

# The one table from a device to the ONNX Runtime providers asked for, in
# priority order. CPU stays last on CUDA because ORT places the few nodes the
# GPU provider has no kernel for (shape arithmetic) on it; it is not a
# fallback for the whole model: check_ort_providers refuses that.
ORT_PROVIDERS = {
    "cpu": (CPU_PROVIDER,),
    "cuda": (CUDA_PROVIDER, CPU_PROVIDER),
}

# The pip package that brings each runtime's module. onnxruntime-gpu, never
# onnxruntime: both install the module `onnxruntime` and overwrite each other.
PIP_PACKAGES = {
    "tensorflow": "tensorflow",
    "keras": "keras",
    "onnxruntime": "onnxruntime-gpu",
    "ai_edge_litert": "ai-edge-litert",
    "openvino": "openvino",
}

OPENVINO_CPU_ONLY = "infer-bench runs OpenVINO on its CPU plugin only (its GPU plugin is for Intel GPUs, not CUDA)"

LITERT_CPU_ONLY = "LiteRT's Python interpreter runs on CPU only (it has no CUDA backend)"


def import_runtime(module: str, pip_package: str | None = None):
    """Import ``module`` or raise an InferBenchError naming the pip package to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        package = pip_package or PIP_PACKAGES.get(module, module)
        raise InferBenchError(
            f"The Python module {module!r} could not be imported ({exc}).",
            f"install it with `pip install {package}` (or `pip install -e .` for the whole pinned stack).",
        ) from exc


def artifact_path(path, runtime: str, folder: bool = False) -> Path:
    """``path`` as a Path, or ArtifactError if there is no such file (or folder)."""
    path = Path(path)
    ok = path.is_dir() if folder else path.is_file()
    if not ok:
        kind = "folder" if folder else "file"
        raise ArtifactError(
            f"{runtime} cannot load {str(path)!r}: no such {kind}.",
            "export the model first (`infer-bench train-export`), or check the path.",
        )
    return path


def cpu_count() -> int:
    """Cores this process may run on (its CPU affinity), else os.cpu_count()."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def effective_threads(threads: int | None) -> int:
    """The thread count a ``LoadOptions.threads`` value means: ``None`` = all cores."""
    return cpu_count() if threads is None else int(threads)


# --- CUDA availability -------------------------------------------------------


def _nvidia_gpu_reason() -> str | None:
    """None if the NVIDIA driver shows at least one GPU, else why not."""
    gpus_dir = "/proc/driver/nvidia/gpus"
    if os.path.isdir(gpus_dir) and os.listdir(gpus_dir):
        return None
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return "no NVIDIA GPU visible (nvidia-smi not found, no /proc/driver/nvidia/gpus)"
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"no NVIDIA GPU visible (nvidia-smi -L failed: {exc})"
    if out.returncode == 0 and "GPU" in out.stdout:
        return None
    said = (out.stdout + out.stderr).strip().splitlines()
    return f"no NVIDIA GPU visible (nvidia-smi -L says: {said[0] if said else 'nothing'})"


def _tensorflow_gpu_reason() -> str | None:
    tf = import_runtime("tensorflow")
    if tf.config.list_physical_devices("GPU"):
        return None
    if not tf.test.is_built_with_cuda():
        return "this TensorFlow build has no CUDA support"
    return "TensorFlow sees no GPU (are TensorFlow's CUDA libraries installed? `pip install -e .[cuda]`)"


def _onnxruntime_gpu_reason() -> str | None:
    ort = import_runtime("onnxruntime")
    if CUDA_PROVIDER in ort.get_available_providers():
        return None
    return (
        f"onnxruntime has no {CUDA_PROVIDER} (is the CPU-only `onnxruntime` package installed "
        "instead of `onnxruntime-gpu`?)"
    )


# Engine -> its own CUDA check, run after the driver check.
_ENGINE_CHECKS = {
    "tensorflow": _tensorflow_gpu_reason,
    "onnxruntime": _onnxruntime_gpu_reason,
    "litert": lambda: LITERT_CPU_ONLY,
    "openvino": lambda: OPENVINO_CPU_ONLY,
}


def cuda_available_reason(runtime: str | None = None) -> str | None:
    """None if a usable CUDA GPU exists (for ``runtime``, if given), else a reason.

    ``runtime`` is a registry name ("onnxruntime", "tf_function", ...) or an
    engine name ("tensorflow", "onnxruntime", "litert"); ``None`` checks only
    that the NVIDIA driver shows a GPU. A ``None`` answer means the runtime
    should manage CUDA; the loaders still check what actually ran.
    """
    if runtime is None:
        return _nvidia_gpu_reason()
    if runtime in _ENGINE_CHECKS:
        engine = runtime
    else:
        from . import get_runtime  # the registry imports this module: import here

        engine = get_runtime(runtime).engine
    if engine == "litert":  # true whatever the hardware
        return LITERT_CPU_ONLY
    return _nvidia_gpu_reason() or _ENGINE_CHECKS[engine]()


# --- ONNX Runtime ------------------------------------------------------------


def ort_providers(device: str, tensorrt: bool = False) -> list[str]:
    """The ONNX Runtime providers to ask for on ``device``, in priority order.

    ``tensorrt`` puts TensorRT first on CUDA (needs the TensorRT libraries; off
    by default because it builds an engine on the first run of every shape).
    """
    if device not in ORT_PROVIDERS:
        raise ValueError(f"device={device!r} is not one of {tuple(ORT_PROVIDERS)}")
    providers = list(ORT_PROVIDERS[device])
    if tensorrt:
        if device != "cuda":
            raise ValueError("tensorrt=True needs device='cuda'")
        providers.insert(0, TENSORRT_PROVIDER)
    return providers


def check_ort_providers(device: str, actual, tensorrt: bool = False) -> None:
    """Raise DeviceUnavailable if a CUDA session did not get the GPU providers it asked for.

    ONNX Runtime does not fail when the CUDA provider cannot load its libraries:
    it logs an error and runs everything on CPU. This turns that into an error
    so that a CPU run is never labelled CUDA.
    """
    actual = list(actual)
    if device != "cuda":
        return
    gpu_first = bool(actual) and actual[0] in (CUDA_PROVIDER, TENSORRT_PROVIDER)
    if CUDA_PROVIDER not in actual or not gpu_first:
        raise DeviceUnavailable(
            f"ONNX Runtime fell back to CPU: asked for {ort_providers(device, tensorrt)}, got {actual}.",
            "install the CUDA and cuDNN libraries onnxruntime-gpu needs (`pip install -e .[cuda]`); "
            "the ONNX Runtime log above names the library that failed to load.",
        )
    if tensorrt and actual[0] != TENSORRT_PROVIDER:
        raise DeviceUnavailable(
            f"ONNX Runtime could not create {TENSORRT_PROVIDER}: got {actual}.",
            "install TensorRT (`pip install tensorrt`) or load without tensorrt=True.",
        )


_preloaded = False


def preload_cuda_libraries(ort) -> None:
    """Load pip-installed CUDA/cuDNN libraries for onnxruntime-gpu, once per process.

    onnxruntime-gpu (1.21+) finds the nvidia-* wheels' libraries only through
    ``onnxruntime.preload_dlls()``; older builds lack it and rely on the
    system library path.
    """
    global _preloaded
    if not _preloaded and hasattr(ort, "preload_dlls"):
        ort.preload_dlls()
    _preloaded = True


# --- TensorFlow --------------------------------------------------------------

_tf_threads: int | None = None  # what this process's TensorFlow was configured with


def configure_tensorflow(threads: int | None) -> int:
    """Fix TensorFlow's thread pools for this process; return the effective thread count.

    TensorFlow reads its thread settings once, when it initializes, so this
    must run before anything else uses TensorFlow (the CLI should call it
    first). Intra-op threads = ``threads``; inter-op = 1, like ONNX Runtime's
    sequential executor, since a CNN is a chain. A later call with another
    count raises rather than silently running with the old one. Also turns on
    GPU memory growth, so TensorFlow does not take the whole GPU from ONNX
    Runtime in the same process.
    """
    global _tf_threads
    wanted = effective_threads(threads)
    if _tf_threads is not None:
        if _tf_threads != wanted:
            raise _threads_fixed_error(_tf_threads, threads, wanted)
        return wanted
    tf = import_runtime("tensorflow")
    try:
        tf.config.threading.set_intra_op_parallelism_threads(wanted)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        # Already initialized. 0 is TensorFlow's default, which is all cores.
        current = tf.config.threading.get_intra_op_parallelism_threads() or cpu_count()
        if current != wanted:
            raise _threads_fixed_error(current, threads, wanted) from None
    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # GPUs already initialized: too late, keep going
            pass
    _tf_threads = wanted
    return wanted


def _threads_fixed_error(current: int, asked: int | None, wanted: int) -> InferBenchError:
    return InferBenchError(
        f"TensorFlow already runs with {current} intra-op threads in this process; "
        f"threads={asked!r} asks for {wanted}.",
        "TensorFlow fixes its thread pools when it starts: use one threads setting per process, "
        "and set it before anything else uses TensorFlow (infer_bench.runtimes.devices.configure_tensorflow).",
    )


def prepare_tensorflow(device: str, threads: int | None):
    """Check the device and fix the threads for a TensorFlow runtime.

    Returns ``(tf, tf_device, threads)``: the module, the device string to
    load and run under ("/CPU:0" or "/GPU:0"; explicit CPU matters on a GPU
    machine, where TensorFlow would otherwise pick the GPU) and the effective
    thread count. Raises DeviceUnavailable for CUDA without a GPU, since
    TensorFlow would silently run "/GPU:0" work on the CPU.
    """
    if device == "cuda":
        reason = cuda_available_reason("tensorflow")
        # Asked again here, not only through the reason: this list is what
        # decides whether "/GPU:0" exists.
        if reason or not import_runtime("tensorflow").config.list_physical_devices("GPU"):
            raise DeviceUnavailable(
                f"TensorFlow cannot use CUDA: {reason or 'TensorFlow sees no GPU'}.",
                "run on a machine with an NVIDIA GPU and `pip install -e .[cuda]`, or use device 'cpu'.",
            )
    tf = import_runtime("tensorflow")
    n = configure_tensorflow(threads)
    return tf, ("/GPU:0" if device == "cuda" else "/CPU:0"), n
