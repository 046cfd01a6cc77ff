"""ONNX Runtime's profiler trace, summed: kernel time per node and run, then per Keras layer.

The trace is the JSON list ONNX Runtime writes on ``end_profiling()``: one
``"cat": "Node"`` event per kernel run (``"name": "<node>_kernel_time"``,
``args.op_name``, ``dur`` in µs) and one ``"cat": "Session"``,
``"name": "model_run"`` event per call. Pure arithmetic on that list: the
tests feed it hand-made traces.
"""

from __future__ import annotations

import bisect
import statistics
from collections import defaultdict
from dataclasses import dataclass, field

from ..errors import InferBenchError
from .layermap import KERNEL_SUFFIX

# The profiled kernel sum counts as inflated when it exceeds a whole unprofiled call by more than this factor
# (medians; below it, the difference is within a busy machine's run-to-run noise).
PROFILER_INFLATION_FACTOR = 1.10


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
        """JSON-ready (an explanation's ``layer_times`` entries)."""
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
        """Median per-call time without the profiler, µs."""
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
        """The LayerTime of layer ``name``; an unknown name lists the profiled ones."""
        for t in self.layers:
            if t.layer == name:
                return t
        raise InferBenchError(f"No layer {name!r} in the profile of {self.model!r}.",
                              f"use one of: {', '.join(t.layer for t in self.layers)}.")

    def to_dict(self) -> dict:
        """JSON-ready, with the derived wall times, overhead and inflation flag."""
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
