"""Where the time goes, per Keras layer: ONNX Runtime's node profiler mapped back onto the model's layers.

``profile_onnx_layers`` runs an fp32 ONNX model twice over the same real
inputs: once plainly, to time whole calls (``wall``), and once with ONNX
Runtime's profiler on, whose JSON trace has one ``"cat": "Node"`` event per
kernel run (``"name": "<node>_kernel_time"``, ``args.op_name``, ``dur`` in
µs) and one ``"cat": "Session"``, ``"name": "model_run"`` event per call.
Warm-up calls are dropped by their ``model_run`` events; the rest are summed
per node, and the nodes are mapped to the Keras layers they came from.

**Node -> layer.** Keras' ONNX export (tf2onnx on a traced function) names
every node after the TensorFlow name scope it was traced in:
``"<model>_1/<layer scope>/<op>"``, e.g. ``"simple_cnn_1/conv2d_1_2/BiasAdd"``.
The scope is *not* the layer's name: TensorFlow makes scope names unique per
graph, so the layers ``conv2d`` and ``conv2d_1`` of a loaded model trace as
``conv2d_1`` and ``conv2d_1_2``; matching scopes to layer names by equality
would silently credit the first convolution's time to the second. So the
mapping aligns, in order, the scopes of the ONNX graph (first appearance in
its topologically sorted node list) with the model's layers, comparing
*base names* (the name without its trailing ``_<n>`` counters: ``conv2d``,
``max_pooling2d``, ``dense``), as a longest common subsequence. Layers that
leave no node (Dropout, often Flatten) are skipped by the alignment; a scope
left unaligned maps to the only layer of its base name, if there is exactly
one. ONNX Runtime's optimizer renames nodes it rewrites
(``"fused <name>"``, ``"<name>:0_nchwc"``) but keeps the scope path, so the
profiler's names map through the same table. Nodes with no layer scope
(layout ``ReorderOutput`` nodes, tf2onnx's ``Transpose__36``, shape
arithmetic) are reported as ``"other (<op>)"``. Branching models whose
branches hold layers of the same base name may be aligned in the wrong
branch order; chains (all three models here) are exact.

**LiteRT has no per-op profiler in Python.** ``ai_edge_litert.interpreter.Interpreter``
(2.3.0) offers ``experimental_force_delegate_node_profiling`` at construction,
but no method that returns a profile (its methods are allocate/invoke/tensor
access and signature runners; ``CompiledModel`` has none either). Per-op
LiteRT times need the native ``benchmark_model --enable_op_profiling`` tool,
which is not part of the pip package. So LiteRT is not profiled here
(``LITERT_PROFILING_NOTE`` says so in results); nothing is estimated in its place.
"""

from __future__ import annotations

import bisect
import json
import re
import statistics
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import ArtifactError, InferBenchError

# Defaults of a profile run: the only place these numbers live.
DEFAULT_RUNS = 200
DEFAULT_WARMUP_CALLS = 10
MIN_RUNS = 20  # a max_seconds cap never cuts the runs below this
# The profiled kernel sum counts as inflated when it exceeds a whole unprofiled call by more than this factor
# (medians; below it, the difference is within a busy machine's run-to-run noise).
PROFILER_INFLATION_FACTOR = 1.10

KERNEL_SUFFIX = "_kernel_time"
OTHER = "other ({op})"

LITERT_PROFILING_NOTE = (
    "not available: ai_edge_litert's Python Interpreter has no per-op profiler API "
    "(per-op LiteRT times need the native benchmark_model tool with --enable_op_profiling)"
)

_COUNTER_RE = re.compile(r"(_\d+)+$")


def base_name(name: str) -> str:
    """A layer or scope name without its trailing ``_<n>`` counters: ``conv2d_1_2`` -> ``conv2d``."""
    stripped = _COUNTER_RE.sub("", name)
    return stripped or name


def clean_node_name(name: str) -> str:
    """A profiler event name as an ONNX node name: no ``_kernel_time``, no ``fused `` prefix."""
    if name.endswith(KERNEL_SUFFIX):
        name = name[: -len(KERNEL_SUFFIX)]
    first, sep, rest = name.partition("/")
    if " " in first:  # "fused simple_cnn_1/dense_1/MatMul/MatMulAddFusion"
        name = first.rsplit(" ", 1)[-1] + sep + rest
    return name


# --- node -> layer -----------------------------------------------------------------------


def keras_layers(keras_model) -> list[tuple[str, str]]:
    """(name, Keras class name) of every layer in call order, nested models flattened, inputs left out."""
    import keras

    def flatten(model):
        for layer in model.layers:
            if isinstance(layer, keras.Model):
                yield from flatten(layer)
            elif type(layer).__name__ != "InputLayer":
                yield layer.name, type(layer).__name__

    return list(flatten(keras_model))


def _lcs_pairs(a: list[str], b: list[str]) -> list[tuple[int, int]]:
    """Index pairs (i, j) of one longest common subsequence of ``a`` and ``b``, in order."""
    n, m = len(a), len(b)
    table = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            table[i][j] = table[i + 1][j + 1] + 1 if a[i] == b[j] else max(table[i + 1][j], table[i][j + 1])
    pairs, i, j = [], 0, 0
    while i < n and j < m:
        if a[i] == b[j]:
            pairs.append((i, j))
            i, j = i + 1, j + 1
        elif table[i + 1][j] >= table[i][j + 1]:
            i += 1
        else:
            j += 1
    return pairs


class NodeLayerMapper:
    """Maps ONNX node names (as in the graph or in ONNX Runtime's profile) to Keras layers.

    ``graph_node_names``: the ONNX graph's node names in graph order.
    ``layers``: (name, kind) of the Keras layers in call order (``keras_layers``).
    ``model_name``: the Keras model's name, whose scope wraps every node.
    See the module docstring for how scopes are aligned with layers.
    """

    def __init__(self, graph_node_names, layers, model_name: str):
        self.layers = [(str(n), str(k)) for n, k in layers]
        if not self.layers:
            raise InferBenchError(f"Model {model_name!r} has no layers to map ONNX nodes to.")
        self.kinds = dict(self.layers)
        self._bases = {base_name(n) for n, _ in self.layers}
        self._model_base = base_name(model_name)
        scopes: list[tuple[str, ...]] = []
        for name in graph_node_names:
            scope = self.scope_of(name)
            if scope is not None and scope not in scopes:
                scopes.append(scope)
        layer_bases = [base_name(n) for n, _ in self.layers]
        scope_bases = [base_name(s[-1]) for s in scopes]
        self.scope_to_layer: dict[tuple[str, ...], str] = {}
        for i, j in _lcs_pairs(scope_bases, layer_bases):
            self.scope_to_layer[scopes[i]] = self.layers[j][0]
        taken = set(self.scope_to_layer.values())
        for scope, b in zip(scopes, scope_bases):
            if scope in self.scope_to_layer:
                continue
            free = [n for n, _ in self.layers if base_name(n) == b and n not in taken]
            if len(free) == 1:
                self.scope_to_layer[scope] = free[0]
                taken.add(free[0])

    @classmethod
    def from_onnx(cls, onnx_path, keras_model) -> NodeLayerMapper:
        """The mapper for an ONNX file exported from ``keras_model``."""
        import onnx

        path = Path(onnx_path)
        try:
            graph = onnx.load(str(path), load_external_data=False).graph
        except Exception as exc:  # onnx raises DecodeError, OSError ...
            raise ArtifactError(f"Cannot read the ONNX model {str(path)!r}: {exc}", "re-export the model.") from exc
        return cls([node.name for node in graph.node], keras_layers(keras_model), keras_model.name)

    def scope_of(self, node_name: str) -> tuple[str, ...] | None:
        """The node's layer scope path (up to the first segment naming a layer kind), or None."""
        segments = clean_node_name(node_name).split("/")
        candidates = segments[:-1]  # the last segment is the op itself
        for i, segment in enumerate(candidates):
            b = base_name(segment)
            if i == 0 and b == self._model_base and len(candidates) > 1:
                continue  # the model's own scope
            if b in self._bases:
                return tuple(segments[: i + 1])
        return None

    def layer_of(self, node_name: str, op: str) -> tuple[str, str]:
        """(layer name, Keras kind) of a node, or ("other (<op>)", op) when it belongs to no layer."""
        scope = self.scope_of(node_name)
        layer = self.scope_to_layer.get(scope) if scope is not None else None
        if layer is None:
            return OTHER.format(op=op), op
        return layer, self.kinds[layer]


# --- the profile's events ------------------------------------------------------------------


@dataclass(frozen=True)
class NodeTimes:
    """Kernel time of each node in each counted run (warm-up runs left out); sums are derived."""

    runs: int
    durations_us: dict[str, tuple[float, ...]]  # node name (as the profiler wrote it) -> µs in each run
    ops: dict[str, str]  # node name -> op_name
    model_run_us: tuple[float, ...]  # ONNX Runtime's own duration of each counted run

    def __post_init__(self):
        if not isinstance(self.runs, int) or self.runs < 1:
            raise InferBenchError(f"NodeTimes: runs must be an int >= 1, got {self.runs!r}.")
        bad = [name for name, d in self.durations_us.items() if len(d) != self.runs]
        if bad:
            raise InferBenchError(f"NodeTimes: nodes {bad} do not have one duration per run ({self.runs}).")
        missing = sorted(set(self.durations_us) - set(self.ops))
        if missing:
            raise InferBenchError(f"NodeTimes: nodes {missing} have no op name.")

    @property
    def totals_us(self) -> dict[str, float]:
        """Summed µs per node over all counted runs."""
        return {name: sum(d) for name, d in self.durations_us.items()}

    @property
    def per_run_totals_us(self) -> tuple[float, ...]:
        """Summed µs of all nodes in each counted run."""
        return tuple(sum(col) for col in zip(*self.durations_us.values())) or (0.0,) * self.runs


def _events(profile) -> list[dict]:
    if isinstance(profile, dict):
        profile = profile.get("traceEvents", [])
    if not isinstance(profile, list):
        raise InferBenchError("An ONNX Runtime profile is a JSON list of events; this one is not.")
    return profile


def node_times(profile, skip_runs: int = 0) -> NodeTimes:
    """Kernel times per node and run from an ONNX Runtime profile, leaving out the first ``skip_runs`` runs.

    A run is a ``"model_run"`` Session event; a ``"Node"`` event whose name
    ends in ``_kernel_time`` belongs to the run whose interval holds its
    start. Node events outside every run are ignored; a node that ran twice
    in one run has both times summed.
    """
    if not isinstance(skip_runs, int) or skip_runs < 0:
        raise InferBenchError(f"skip_runs must be an int >= 0, got {skip_runs!r}.")
    events = _events(profile)
    runs = sorted(
        (float(e["ts"]), float(e["ts"]) + float(e["dur"]))
        for e in events
        if e.get("cat") == "Session" and e.get("name") == "model_run"
    )
    if len(runs) <= skip_runs:
        raise InferBenchError(
            f"The ONNX Runtime profile holds {len(runs)} model_run event(s); {skip_runs} warm-up run(s) are "
            "left out, so no run remains.",
            "run the profiled session more times than the warm-up count before end_profiling().",
        )
    starts = [start for start, _ in runs]
    counted = runs[skip_runs:]
    durations: dict[str, list[float]] = {}
    ops: dict[str, str] = {}
    for e in events:
        if e.get("cat") != "Node" or not str(e.get("name", "")).endswith(KERNEL_SUFFIX):
            continue
        ts, dur = float(e["ts"]), float(e["dur"])
        k = bisect.bisect_right(starts, ts) - 1
        if k < skip_runs or ts > runs[k][1]:
            continue
        name = e["name"]
        durations.setdefault(name, [0.0] * len(counted))[k - skip_runs] += dur
        ops.setdefault(name, str(e.get("args", {}).get("op_name") or "unknown"))
    return NodeTimes(
        runs=len(counted),
        durations_us={name: tuple(d) for name, d in durations.items()},
        ops=ops,
        model_run_us=tuple(end - start for start, end in counted),
    )


# --- per layer -------------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerTime:
    """Kernel time of one Keras layer per call: mean and median over the runs, and its share of all kernel time."""

    layer: str  # the Keras layer name, or "other (<op>)"
    kind: str  # the Keras class name ("Conv2D"), or the op for "other"
    mean_us: float
    share: float  # of the summed kernel time of all nodes (by means), 0..1
    p50_us: float | None = None  # median over runs of the layer's per-run sum (robust to preempted runs)
    ops: tuple[str, ...] = ()  # the ONNX Runtime kernels that ran for it ("Conv", "FusedGemm", ...)

    def __post_init__(self):
        object.__setattr__(self, "ops", tuple(self.ops))
        for name in ("mean_us", "p50_us"):
            value = getattr(self, name)
            if name == "p50_us" and value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise InferBenchError(f"LayerTime {self.layer!r}: {name} must be a number >= 0, got {value!r}.")
        if isinstance(self.share, bool) or not isinstance(self.share, (int, float)) or not 0 <= self.share <= 1 + 1e-9:
            raise InferBenchError(f"LayerTime {self.layer!r}: share must be in [0, 1], got {self.share!r}.")

    def to_dict(self) -> dict:
        return {"layer": self.layer, "kind": self.kind, "mean_us": self.mean_us, "p50_us": self.p50_us,
                "share": self.share, "ops": list(self.ops)}


def layer_times(times: NodeTimes, layer_of) -> list[LayerTime]:
    """Per-layer mean (and median) µs per run and share of all kernel time, slowest first.

    ``layer_of(node_name, op) -> (layer, kind)`` assigns each node
    (``NodeLayerMapper.layer_of``). A layer's time in a run is the sum of its
    nodes' times in that run.
    """
    per_run: dict[str, list[float]] = {}
    kinds: dict[str, str] = {}
    ops: dict[str, list[str]] = defaultdict(list)
    for name, durations in times.durations_us.items():
        op = times.ops[name]
        layer, kind = layer_of(name, op)
        acc = per_run.setdefault(layer, [0.0] * times.runs)
        for k, d in enumerate(durations):
            acc[k] += d
        kinds[layer] = kind
        if op not in ops[layer]:
            ops[layer].append(op)
    sums = {layer: sum(d) for layer, d in per_run.items()}
    grand = sum(sums.values())
    out = [
        LayerTime(layer=layer, kind=kinds[layer], mean_us=sums[layer] / times.runs,
                  share=(sums[layer] / grand) if grand > 0 else 0.0,
                  p50_us=statistics.median(per_run[layer]), ops=tuple(ops[layer]))
        for layer in per_run
    ]
    return sorted(out, key=lambda t: (-t.mean_us, t.layer))


@dataclass(frozen=True)
class LayerProfile:
    """Per-layer times of one model in ONNX Runtime, and the whole-call times they add up against.

    ``node_total_us`` / ``node_total_p50_us``: summed kernel time per call
    (mean / median over the profiled runs). ``wall_calls_ns``: per-call times
    of the same model in a session *without* the profiler (its bookkeeping
    would inflate them), over the same inputs; ``wall_us`` / ``wall_p50_us``
    are their mean / median. Their difference (``ort_overhead_us``, medians,
    which a busy machine disturbs less) is ONNX Runtime's own per-call
    overhead: input/output binding, the executor, the Python binding; it is
    meaningful only when ``profiler_inflated`` is False. ``model_run_us``:
    ONNX Runtime's own duration of a profiled call (mean), profiler included.
    """

    model: str
    onnx_path: str
    batch_size: int
    threads: int
    runs: int
    layers: tuple[LayerTime, ...]
    node_total_us: float
    node_total_p50_us: float
    model_run_us: float
    wall_calls_ns: tuple[int, ...] = field(repr=False)
    nodes: tuple[dict, ...] = field(default=(), repr=False)  # per node: name, op, layer, mean_us

    def __post_init__(self):
        object.__setattr__(self, "layers", tuple(self.layers))
        object.__setattr__(self, "wall_calls_ns", tuple(int(x) for x in self.wall_calls_ns))
        object.__setattr__(self, "nodes", tuple(self.nodes))
        if not self.wall_calls_ns or min(self.wall_calls_ns) <= 0:
            raise InferBenchError("LayerProfile: wall_calls_ns must be a non-empty list of times > 0.")

    @property
    def wall_us(self) -> float:
        """Mean per-call time without the profiler, µs."""
        return statistics.fmean(self.wall_calls_ns) / 1e3

    @property
    def wall_p50_us(self) -> float:
        return statistics.median(self.wall_calls_ns) / 1e3

    @property
    def ort_overhead_us(self) -> float:
        """Per-call time outside the kernels: median wall - median kernel total (see ``profiler_inflated``)."""
        return self.wall_p50_us - self.node_total_p50_us

    @property
    def profiler_inflated(self) -> bool:
        """True when the profiled kernel sum exceeds a whole unprofiled call by more than 10% (medians).

        ONNX Runtime's profiler records every node (timestamps, memory and
        thread statistics), which costs about a microsecond or two per node.
        For a model whose nodes take a few µs, that inflates the kernel times
        beyond the whole unprofiled call, so the per-layer *shares* still
        say where time goes but the sum is not the model's compute time.
        """
        return self.node_total_p50_us > self.wall_p50_us * PROFILER_INFLATION_FACTOR

    def layer(self, name: str) -> LayerTime:
        for t in self.layers:
            if t.layer == name:
                return t
        raise InferBenchError(f"No layer {name!r} in the profile of {self.model!r}.",
                              f"use one of: {', '.join(t.layer for t in self.layers)}.")

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "onnx_path": self.onnx_path,
            "batch_size": self.batch_size,
            "threads": self.threads,
            "runs": self.runs,
            "node_total_us": self.node_total_us,
            "node_total_p50_us": self.node_total_p50_us,
            "model_run_us": self.model_run_us,
            "wall_us": self.wall_us,
            "wall_p50_us": self.wall_p50_us,
            "ort_overhead_us": self.ort_overhead_us,
            "profiler_inflated": self.profiler_inflated,
            "layers": [t.to_dict() for t in self.layers],
            "nodes": list(self.nodes),
            "wall_calls_ns": list(self.wall_calls_ns),
        }


def profile_onnx_layers(
    onnx_path,
    keras_model,
    x: np.ndarray,
    runs: int = DEFAULT_RUNS,
    threads: int | None = None,
    *,
    batch_size: int = 1,
    warmup_calls: int = DEFAULT_WARMUP_CALLS,
    max_seconds: float | None = None,
) -> LayerProfile:
    """Per-layer kernel times of an ONNX model exported from ``keras_model``, on the CPU.

    ``x``: real float32 inputs (N, ...) rotated through batches of
    ``batch_size`` (``measure.InputRotation``). ``warmup_calls`` untimed
    calls, then ``runs`` calls timed without the profiler and ``runs`` calls
    with it. ``max_seconds`` caps each of the two timed phases: the run
    count is cut (never below ``MIN_RUNS``) from the warm-up's call time.
    ``threads``: intra-op threads (None = all cores), as for the benchmarks.
    """
    from .measure import InputRotation, measure_session
    from .runtimes import LoadOptions, get_runtime
    from .runtimes.onnxruntime_rt import load_onnx_profiled

    if not isinstance(runs, int) or runs < 1:
        raise InferBenchError(f"runs must be an int >= 1, got {runs!r}.")
    if not isinstance(warmup_calls, int) or warmup_calls < 1:
        raise InferBenchError(f"warmup_calls must be an int >= 1, got {warmup_calls!r}.")
    if max_seconds is not None and not (isinstance(max_seconds, (int, float)) and max_seconds > 0):
        raise InferBenchError(f"max_seconds must be a number > 0 or None, got {max_seconds!r}.")
    path = Path(onnx_path)
    mapper = NodeLayerMapper.from_onnx(path, keras_model)
    rotation = InputRotation(np.asarray(x))
    batches = rotation.batches(batch_size)
    options = LoadOptions(device="cpu", threads=threads)

    plain = get_runtime("onnxruntime").load(path, options)
    try:
        t0 = time.perf_counter()
        for i in range(warmup_calls):
            plain.run(batches[i % len(batches)])
        per_call_s = (time.perf_counter() - t0) / warmup_calls
        if max_seconds is not None:
            runs = max(min(runs, MIN_RUNS), min(runs, int(max_seconds / max(per_call_s, 1e-9))))
        wall = measure_session(plain.run, rotation, batch_size, min_time_s=0.0, min_calls=runs,
                               warmup_calls=0, max_calls=runs)
        n_threads = plain.threads
    finally:
        plain.close()

    with tempfile.TemporaryDirectory(prefix="infer-bench-profile-") as tmp:
        profiled = load_onnx_profiled(path, options, Path(tmp) / "ort")
        try:
            for i in range(warmup_calls + runs):
                profiled.run(batches[i % len(batches)])
            trace = profiled.end_profiling()
            events = json.loads(Path(trace).read_text())
        finally:
            profiled.close()

    times = node_times(events, skip_runs=warmup_calls)
    nodes = []
    for name, total in sorted(times.totals_us.items(), key=lambda kv: -kv[1]):
        layer, _ = mapper.layer_of(name, times.ops[name])
        nodes.append({"name": clean_node_name(name), "op": times.ops[name], "layer": layer,
                      "mean_us": total / times.runs, "p50_us": statistics.median(times.durations_us[name])})
    return LayerProfile(
        model=keras_model.name,
        onnx_path=str(path),
        batch_size=batch_size,
        threads=n_threads,
        runs=times.runs,
        layers=tuple(layer_times(times, mapper.layer_of)),
        node_total_us=statistics.fmean(times.per_run_totals_us),
        node_total_p50_us=statistics.median(times.per_run_totals_us),
        model_run_us=statistics.fmean(times.model_run_us),
        wall_calls_ns=wall.calls_ns,
        nodes=tuple(nodes),
    )
