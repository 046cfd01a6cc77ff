"""``openvino``: ONNX, TFLite and OpenVINO IR models in OpenVINO's CPU plugin.

What ran is read back, never assumed. OpenVINO picks an "inference
precision" for float work, and on a CPU with AVX512-BF16 or AMX its default
is bf16, so an "fp32" model would silently run in bf16; and a bf16 hint on a
CPU without native bf16 is silently ignored (it runs f32). So every load sets
``INFERENCE_PRECISION_HINT`` explicitly (f32 unless bf16 / fp16 is asked for),
then reads the compiled model's hint back and the precision each compute node
(convolution, fully connected, matmul) of the runtime graph computes in (its
kernel's, ``primitiveType`` in its ``rt_info``; see ``runtime_nodes``).
``executed_precision`` is the lowest of those: a network whose convolutions
run in int8 is an int8 run.

A load asked for a precision (``LoadOptions.precision``) that OpenVINO will
not execute raises ``PrecisionUnavailable`` with the reason: before
compiling where the CPU plugin lacks the capability (``BF16`` / ``FP16`` in
``OPTIMIZATION_CAPABILITIES``, which it reports for AVX512-BF16, AMX and
AVX2-VNNI-2 CPUs, resp. AVX512-FP16 / AVX2-VNNI-2), after compiling where
the executed precision differs (a dynamic-int8 ONNX model whose MatMulInteger
OpenVINO runs in f32). A variant is therefore never labelled with a
precision it did not run in.

Threads: ``INFERENCE_NUM_THREADS`` as for every CPU runtime. The "latency"
hint runs one stream (all threads on each call); "throughput" lets the plugin
choose streams. Each batch size runs its own static-shape compiled model
(``OpenVINOSession``), a TFLite model's fixed batch of 1 included.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path

import numpy as np

from ..catalog import OPENVINO_MARKER, compute_precision
from ..errors import ArtifactError, DeviceUnavailable
from . import devices as support  # named apart from OpenVINO.devices, the devices it runs on
from .base import LoadOptions, PrecisionUnavailable

PIP_PACKAGE = "openvino"
DEVICE = "CPU"

# Compute precision asked for -> INFERENCE_PRECISION_HINT. Int8 work is set by the model's
# quantized nodes, not the hint: their float parts run at f32.
HINTS = {"fp32": "f32", "bf16": "bf16", "fp16": "f16", "int8": "f32"}
# OpenVINO element type names -> compute precisions.
ELEMENT_PRECISIONS = {"f32": "fp32", "float32": "fp32", "bf16": "bf16", "bfloat16": "bf16", "f16": "fp16",
                      "float16": "fp16", "i8": "int8", "u8": "int8", "int8_t": "int8", "uint8_t": "int8"}
# Lowest first: the executed precision of a network is the lowest any compute node ran in.
PRECISION_ORDER = ("int8", "fp16", "bf16", "fp32")
# The runtime graph's layer types that do the multiply-adds.
COMPUTE_LAYERS = ("Convolution", "GroupConvolution", "Deconvolution", "FullyConnected", "MatMul")
# Capability OpenVINO's CPU plugin must report to execute a float precision other than f32.
CAPABILITIES = {"bf16": "BF16", "fp16": "FP16"}
CAPABILITY_ISA = {"bf16": "AVX512-BF16, AMX-BF16 or AVX2-VNNI-2", "fp16": "AVX512-FP16 or AVX2-VNNI-2"}
OV_HINTS = {"latency": "LATENCY", "throughput": "THROUGHPUT"}


# --- pure decisions (tested with hand-made capabilities) ------------------------------------


def capability_reason(precision: str, capabilities) -> str | None:
    """None if a CPU whose plugin reports ``capabilities`` (``OPTIMIZATION_CAPABILITIES``)
    executes ``precision`` natively, else why not. fp32 and int8 always run."""
    compute = compute_precision(precision)
    needed = CAPABILITIES.get(compute)
    if needed is None or needed in capabilities:
        return None
    return (f"{compute} not supported here: OpenVINO's CPU plugin reports no {needed} capability "
            f"(OPTIMIZATION_CAPABILITIES: {', '.join(capabilities) or 'none'}; it needs {CAPABILITY_ISA[compute]}), "
            f"so it would run this model in f32")


def element_precision(name: str) -> str | None:
    """The compute precision of an OpenVINO element type name ("f32", "bf16", "u8"...), None if other."""
    return ELEMENT_PRECISIONS.get(str(name).strip().lower())


def lowest_precision(node_precisions: dict[str, int], hint_precision: str) -> str:
    """The precision a network executed in: the lowest its compute nodes ran in, else the hint's."""
    ran = [p for p in PRECISION_ORDER if node_precisions.get(p)]
    return ran[0] if ran else hint_precision


def precision_mismatch(asked: str, executed: str) -> str | None:
    """None when a run asked for ``asked`` executed in it, else the reason in words."""
    wanted = compute_precision(asked)
    if executed == wanted:
        return None
    return f"OpenVINO executed {executed} when asked for {asked} (compute {wanted}): not a {asked} run"


# --- what the plugin says -------------------------------------------------------------------


def openvino_module():
    """The ``openvino`` module, or an InferBenchError naming the pip package to install."""
    return support.import_runtime("openvino", PIP_PACKAGE)


@functools.lru_cache(maxsize=1)
def _core():
    return openvino_module().Core()


def compile_model(model, precision: str, threads: int, performance_hint: str = "latency", streams: int = 1):
    """Compile an OpenVINO ``model`` (or a model file path) for the CPU with the inference precision
    hint of ``precision`` set explicitly, ``threads`` threads, and one stream for "latency".

    ``streams`` > 1 asks for that many streams of ``threads`` threads each (the plugin's own way of
    running several requests at once: ``bench --sweep``), under the "throughput" hint."""
    config = {"INFERENCE_PRECISION_HINT": HINTS[compute_precision(precision)], "INFERENCE_NUM_THREADS": threads,
              "PERFORMANCE_HINT": OV_HINTS[performance_hint]}
    if streams > 1:
        config.update(NUM_STREAMS=streams, INFERENCE_NUM_THREADS=threads * streams,
                      PERFORMANCE_HINT=OV_HINTS["throughput"])
    elif performance_hint == "latency":
        config["NUM_STREAMS"] = 1
    return _core().compile_model(model, DEVICE, config)


@functools.lru_cache(maxsize=1)
def cpu_capabilities() -> tuple[str, ...]:
    """The CPU plugin's ``OPTIMIZATION_CAPABILITIES`` here ("FP32", "INT8", "BF16"...)."""
    return tuple(str(c) for c in _core().get_property(DEVICE, "OPTIMIZATION_CAPABILITIES"))


def unavailable_reason(precision: str | None) -> str | None:
    """Why OpenVINO cannot run ``precision`` on this CPU (None: it can, or nothing was asked)."""
    if precision is None:
        return None
    try:
        caps = cpu_capabilities()
    except Exception as exc:  # no openvino, or a broken install: say so instead of crashing
        return f"OpenVINO is not usable here ({exc})"
    return capability_reason(precision, caps)


def device_info() -> dict | None:
    """OpenVINO's version, devices and CPU capabilities (for the environment block); None without it."""
    try:
        ov = openvino_module()
        core = _core()
        return {"version": ov.get_version(), "devices": list(core.available_devices),
                "cpu_capabilities": list(cpu_capabilities()),
                "cpu_name": str(core.get_property(DEVICE, "FULL_DEVICE_NAME"))}
    except Exception:  # best effort, like every environment entry
        return None


def runtime_nodes(compiled) -> list[dict]:
    """The compute nodes of a compiled model's runtime graph: layer type, kernel, and the precision
    it computes in.

    That precision is the kernel's (the suffix of ``primitiveType``: "brgconv_avx2_f32",
    "jit_gemm_I8", "brgemm_avx512_amx_bf16"; "undef_f32" before a dynamic-shape node's first
    call names the precision its kernel will have). ``runtimePrecision`` is kept beside it but
    not trusted: a fully connected layer with int8 weights that it decompresses to f32 reports
    "i8" there while its kernel is "brgemm_avx2_f32".
    """
    out = []
    for op in compiled.get_runtime_model().get_ordered_ops():
        rt = op.get_rt_info()
        layer = rt["layerType"].astype(str) if "layerType" in rt else ""
        if layer not in COMPUTE_LAYERS:
            continue
        reported = rt["runtimePrecision"].astype(str) if "runtimePrecision" in rt else ""
        kernel = rt["primitiveType"].astype(str) if "primitiveType" in rt else ""
        computes = element_precision(kernel.rsplit("_", 1)[-1]) if "_" in kernel else None
        out.append({"layer": layer, "kernel": kernel, "runtime_precision": reported,
                    "precision": computes or element_precision(reported) or reported})
    return out


def node_precision_counts(nodes: list[dict]) -> dict[str, int]:
    """{compute precision: compute nodes that executed in it}."""
    counts: dict[str, int] = {}
    for node in nodes:
        counts[node["precision"]] = counts.get(node["precision"], 0) + 1
    return counts


# --- the session ----------------------------------------------------------------------------


class OpenVINOSession:
    """A model on OpenVINO's CPU plugin, compiled once per batch size; ``run`` takes and returns float32.

    OpenVINO's CPU plugin is faster on static shapes (about 10% on these CNNs at
    batch 1 than the same model with a dynamic batch), so each batch size gets
    its own compiled model, made on the first batch of that size, as LiteRT
    gets an interpreter per size. ``executed_precision`` and ``execution`` say
    what ran (read back after compiling batch 1, at load); a later size that
    executes another precision raises PrecisionUnavailable.
    """

    runtime = "openvino"
    device = "cpu"

    def __init__(self, model, compile_fn, threads: int, hint: str):
        self._model = model  # batch dimension dynamic: each size is a reshaped clone of it
        self._compile = compile_fn
        self._compiled: dict[int, object] = {}  # batch size -> compiled model (shared with siblings)
        self._requests: dict[int, tuple] = {}  # batch size -> (infer, input view, output view)
        self.threads = threads
        self.performance_hint = hint
        port = model.input(0)
        self.input_shape = tuple(None if d.is_dynamic else d.get_length() for d in port.get_partial_shape())
        self.input_dtype = "float32"
        self.model_input_dtype = port.get_element_type().to_dtype().name
        if self.model_input_dtype not in ("float32", "float16"):
            raise ArtifactError(f"openvino runs models with float inputs here; this one's input is "
                                f"{self.model_input_dtype}.", "export the model with float32 inputs and outputs.")
        self.executed_precision: str | None = None
        self.execution: dict = {}
        self.providers: tuple[str, ...] = ()
        self._request_for(1)  # compile errors and the executed precision surface at load

    def _request_for(self, n: int):
        request = self._requests.get(n)
        if request is None:
            compiled = self._compiled.get(n)
            if compiled is None:
                compiled = self._compiled[n] = self._compile(_with_batch(self._model, n))
            executed, execution = read_execution(compiled)
            if self.executed_precision is None:
                self.executed_precision, self.execution = executed, execution
                self.providers = tuple(f"OpenVINO {d}" for d in compiled.get_property("EXECUTION_DEVICES"))
            elif executed != self.executed_precision:
                raise PrecisionUnavailable(f"OpenVINO executed batch {n} in {executed}, batch 1 in "
                                           f"{self.executed_precision}: one label cannot cover both.",
                                           "measure this artifact in its own runtime.")
            request = compiled.create_infer_request()
            # Views of the request's own input and output memory, fixed for a static shape: run
            # copies the batch in and the result out, as LiteRT's set_tensor / get_tensor do.
            request = self._requests[n] = (request.infer, request.get_input_tensor(0).data,
                                           request.get_output_tensor(0).data)
        return request

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Run one float32 batch; returns the first output as float32 (a copy, safe after the next call)."""
        # Why not infer(batch, share_inputs=True)[0]: its input dispatch and result dict cost
        # about 15-25 us per call here, which would be counted as OpenVINO's time; copying a
        # batch into the request's tensor costs far less (3 KB at batch 1 of Fashion-MNIST).
        infer, inputs, outputs = self._request_for(len(batch))
        inputs[...] = batch  # 0.1 us less than np.copyto per call at batch 1; casts float32 to a float16 input
        infer(share_outputs=True)
        # A copy either way (the next call overwrites the request's output); .copy() is cheaper than astype.
        return outputs.copy() if outputs.dtype == np.float32 else outputs.astype(np.float32)

    def sibling(self) -> OpenVINOSession:
        """Another session on the same compiled models, with its own infer requests: with streams > 1,
        one per stream, each driven from its own thread (``runtimes.concurrent``)."""
        twin = copy.copy(self)  # shares _model, _compile and the _compiled dict
        twin._requests = {}
        return twin

    def close(self) -> None:
        """Drop this session's requests and its reference to the compiled models."""
        self._requests.clear()
        self._compiled = {}


def model_file(path: Path) -> Path:
    """The file OpenVINO reads for an artifact path: an IR folder's model.xml, else the path."""
    return path / OPENVINO_MARKER if path.is_dir() else path


class OpenVINO:
    """OpenVINO's CPU plugin: fp32 forced by default, bf16 where the CPU has it, int8 models as int8."""

    name = "openvino"
    formats = ("onnx", "tflite", "openvino")
    engine = "openvino"
    devices = ("cpu",)  # OpenVINO's GPU plugin is Intel graphics, not CUDA
    sets_precision = True
    extra_precisions = {"fp32": ("bf16",)}  # an fp32 artifact is also run as a bf16 variant

    def unavailable_reason(self, precision: str | None) -> str | None:
        """Why this CPU's plugin cannot execute ``precision`` (None: it can, or nothing was asked)."""
        return unavailable_reason(precision)

    def load(self, path: Path, options: LoadOptions) -> OpenVINOSession:
        """Compile ``path`` for the CPU at ``options.precision`` (None: fp32 for float work).

        Raises PrecisionUnavailable where the precision asked for is not what would execute.
        """
        if options.device != "cpu":
            raise DeviceUnavailable(f"The openvino runtime here runs on CPU only; asked for {options.device!r}.",
                                    "use device 'cpu' for openvino, or onnxruntime / tf_function for CUDA.")
        path = Path(path)
        path = support.artifact_path(path, self.name, folder=path.is_dir())
        asked = compute_precision(options.precision) if options.precision else "fp32"
        reason = unavailable_reason(options.precision)
        if reason:
            raise PrecisionUnavailable(f"{path.name} at {options.precision}: {reason}.",
                                       "run it at fp32 (the bf16 variant needs a CPU with AVX512-BF16 or AMX).")
        threads = support.effective_threads(options.threads)

        def compile_fn(model):
            try:
                return compile_model(model, asked, threads, options.performance_hint, options.streams)
            except Exception as exc:  # OpenVINO's own compile errors
                raise _load_error(path, exc) from exc

        try:
            model = _core().read_model(str(model_file(path)))
            _make_batch_dynamic(model)
        except Exception as exc:  # OpenVINO's own read / reshape errors
            raise _load_error(path, exc) from exc
        session = OpenVINOSession(model, compile_fn, threads, options.performance_hint)
        if options.precision is not None:
            mismatch = precision_mismatch(options.precision, session.executed_precision)
            if mismatch:
                session.close()
                raise PrecisionUnavailable(f"{path.name}: {mismatch}.",
                                           f"measure this artifact in its own runtime; an OpenVINO {options.precision} "
                                           f"variant needs an artifact OpenVINO executes at {asked}.")
        return session


def _load_error(path: Path, exc: Exception) -> ArtifactError:
    return ArtifactError(f"OpenVINO could not load {str(path)!r}: {str(exc).strip()[:500]}",
                         "re-export the model, or run it in its own runtime (onnxruntime / litert).")


def _make_batch_dynamic(model) -> None:
    """Give a model whose first input has a fixed batch (TFLite: 1) a dynamic batch dimension."""
    ov = openvino_module()
    shape = model.input(0).get_partial_shape()
    if shape.rank.is_static and len(shape) > 0 and shape[0].is_static:
        dims = [ov.Dimension()] + [shape[i] for i in range(1, len(shape))]
        model.reshape({model.input(0): ov.PartialShape(dims)})


def _with_batch(model, n: int):
    """A copy of ``model`` whose first input has the static batch ``n``."""
    ov = openvino_module()
    shape = model.input(0).get_partial_shape()
    static = model.clone()
    static.reshape({static.input(0): ov.PartialShape([ov.Dimension(n)] + [shape[i] for i in range(1, len(shape))])})
    return static


def _element_name(element_type) -> str:
    """ "f32" for OpenVINO's Type f32 (its str() is "<Type: 'float32'>")."""
    name = getattr(element_type, "get_type_name", None)
    return name() if callable(name) else str(element_type)


def read_execution(compiled) -> tuple[str, dict]:
    """(executed compute precision, JSON-ready details) of a compiled model, read back from it:
    the inference precision hint it holds and the precision each compute node ran in."""
    nodes = runtime_nodes(compiled)
    counts = node_precision_counts(nodes)
    hint_read = _element_name(compiled.get_property("INFERENCE_PRECISION_HINT"))
    hint_precision = element_precision(hint_read) or "fp32"
    executed = lowest_precision(counts, hint_precision)
    execution = {"device": DEVICE, "executed_precision": executed, "inference_precision_hint": hint_read,
                 "performance_hint": str(compiled.get_property("PERFORMANCE_HINT")),
                 "streams": int(compiled.get_property("NUM_STREAMS")),
                 "threads": int(compiled.get_property("INFERENCE_NUM_THREADS")),
                 "compute_nodes_by_precision": counts,
                 "kernels": sorted({n["kernel"] for n in nodes if n["kernel"]})}
    return executed, execution


RUNTIME = OpenVINO()
