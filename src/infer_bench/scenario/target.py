"""What a scenario serves: one artifact in one runtime, its sessions, and its sample library.

The artifact is a manifest entry (``--model`` with ``--format``/``--quantization``, the
first format the runtime loads by default) or a user's file (``--artifact``), as in
``bench``; the data is the model's own (``inputs.input_spec_for``), or for a file the
shipped dataset its input shape matches.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..bench import artifact_entry_for_file
from ..catalog import EXECUTION_PRECISIONS, FORMATS, dataset_for_shape
from ..errors import InferBenchError
from ..inputs import InputSpec, input_spec_for
from ..manifest import ArtifactEntry, load_manifest, verify_entry
from ..measure import QUICK, LatencyStats, time_calls
from ..runtimes import (RUNTIMES, LoadOptions, executed_precision, get_runtime, run_precisions, runtimes_for_format,
                        sets_precision)
from .qsl import SampleLibrary, sample_library


@dataclass(frozen=True)
class Target:
    """One artifact (``entry`` at ``path``) in ``runtime``, fed ``inputs`` (None: matched by input shape)."""

    entry: ArtifactEntry
    path: Path
    runtime: str
    inputs: InputSpec | None = None
    precision: str | None = None  # an execution precision of the artifact ("bf16" of an fp32 file), as bench's

    def __post_init__(self):
        allowed = runtimes_for_format(self.entry.format)
        if self.runtime not in allowed:
            raise InferBenchError(f"runtime {self.runtime!r} does not load {self.entry.format} artifacts "
                                  f"({self.path.name}).", f"use --runtime {' or '.join(allowed)}.")
        if self.precision is not None:
            runtime = get_runtime(self.runtime)
            if not sets_precision(runtime) or self.precision not in run_precisions(runtime, self.entry.quantization):
                offer = [n for n, rt in RUNTIMES.items() if sets_precision(rt)
                         and self.precision in run_precisions(rt, self.entry.quantization)
                         and self.entry.format in rt.formats]
                raise InferBenchError(f"{self.runtime} does not run a {self.entry.quantization} "
                                      f"{self.entry.format} artifact in {self.precision}.",
                                      f"use --runtime {' or '.join(offer) or 'openvino'} for the {self.precision} "
                                      "variant.")

    @property
    def quantization(self) -> str:
        """The precision this target runs in: the execution precision asked for, else the artifact's."""
        return self.precision or self.entry.quantization

    @property
    def uses_tensorflow(self) -> bool:
        """TensorFlow's thread pools are per process: its sessions cannot each have their own count."""
        return getattr(get_runtime(self.runtime), "engine", "tensorflow") == "tensorflow"

    @property
    def label(self) -> str:
        return f"{self.entry.model} {self.entry.format}/{self.quantization} via {self.runtime}"

    def load(self, threads: int):
        """A new session with ``threads`` intra-op threads; a runtime told its precision (OpenVINO) is
        told the target's precision (the artifact's own, or bf16), and refuses to run it in another."""
        runtime = get_runtime(self.runtime)
        precision = self.quantization if sets_precision(runtime) else None
        return runtime.load(self.path, LoadOptions(threads=threads, precision=precision))

    def describe(self, sessions, data_label: str) -> dict:
        """The record's ``target``: what was asked for and, under ``executed``, what ran."""
        e = self.entry
        first = sessions[0]
        return {"model": e.model, "format": e.format, "quantization": self.quantization, "artifact": str(self.path),
                "runtime": first.runtime, "device": first.device, "data": data_label,
                "executed": {"threads": [s.threads for s in sessions], "providers": list(first.providers),
                             "precision": executed_precision(first)}}


def resolve_target(plan) -> Target:
    """The artifact ``plan`` names (``plan.artifact`` or ``plan.model``) in ``plan.runtime``."""
    if plan.artifact is not None:
        entry = artifact_entry_for_file(plan.artifact)
        runtime = plan.runtime or runtimes_for_format(entry.format)[0]
        return Target(entry, Path(entry.path), runtime)
    manifest = load_manifest(plan.exported)
    # An execution precision (bf16) is a variant of the fp32 artifact, run by a runtime told the precision.
    precision = plan.quantization if plan.quantization in EXECUTION_PRECISIONS else None
    runtime_name = plan.runtime or ("openvino" if precision else None)
    wanted_formats = [plan.format] if plan.format else list(FORMATS)
    if runtime_name:
        loads = get_runtime(runtime_name).formats
        wanted_formats = [f for f in wanted_formats if f in loads]
    entries = manifest.entries([plan.model], wanted_formats, ["fp32" if precision else plan.quantization])
    entries.sort(key=lambda e: wanted_formats.index(e.format))
    if not entries:
        have = sorted({f"{e.format}/{e.quantization}" for e in manifest.entries([plan.model])})
        runtime = f" that {runtime_name} loads" if runtime_name else ""
        raise InferBenchError(f"{manifest.path} has no {plan.quantization} {plan.format or ''} artifact{runtime} "
                              f"for {plan.model} (it has: {', '.join(have) or 'none'}).",
                              "pick one of those with --format/--quantization/--runtime.")
    entry = entries[0]
    info = manifest.models.get(entry.model, {})
    spec = input_spec_for(info, entry.input_shape, f"{entry.model!r} in {manifest.path}")
    runtime = runtime_name or runtimes_for_format(entry.format)[0]
    return Target(entry, verify_entry(manifest, entry), runtime, spec, precision)


def load_library(target: Target, session, data_dir=None, rows: int | None = None) -> SampleLibrary:
    """The sample library of ``target``'s data (a user's file: the shipped dataset its input shape fits)."""
    shape = tuple(target.entry.input_shape or session.input_shape)
    inputs = target.inputs or InputSpec(dataset_for_shape(shape[1:], str(target.path)))
    return sample_library(inputs, shape, data_dir, rows)


@dataclass(frozen=True)
class Probe:
    """A quick timed loop on one session (the measurement core's QUICK rule): p50 per call and rows/s."""

    batch_size: int
    p50_ms: float
    rows_per_s: float

    @property
    def naive_qps(self) -> float:
        """The naive capacity estimate, 1000 / p50 (per session)."""
        return 1000.0 / self.p50_ms if self.p50_ms > 0 else float("inf")


def probe(session, samples: SampleLibrary, batch_size: int = 1) -> Probe:
    """Time ``session`` on the library's images at ``batch_size`` as the SUT runs them (the batch gathered
    from the library inside the timed call), under the timing core's QUICK rule; also the warm-up."""
    n = len(samples)
    starts = range(0, max(n - batch_size, 0) + 1, batch_size)
    index_batches = [np.arange(i, min(i + batch_size, n)) for i in starts]
    stats = LatencyStats(time_calls(lambda idx: session.run(samples.batch(idx)), index_batches, QUICK), batch_size)
    return Probe(batch_size, stats.per_call_ms.p50, stats.throughput_rows_per_s)
