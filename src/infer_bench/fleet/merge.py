"""``infer-bench merge``: bench files measured separately, as one file with one section per target.

Every record is keyed by (target, fingerprint, case). A local ``bench`` file
becomes one target (its hostname, or the label given as ``LABEL=FILE``) whose
fingerprint is computed from its environment block; a fleet file keeps its
records' targets and fingerprints. Within a target every record must come
from one fingerprint: files of one target measured on different hardware or
library versions are refused, naming the fields that differ. Records with the
same key (the same case measured twice on the same machine setup) are pooled:
their raw samples are joined and the statistics recomputed. Records of
different targets or fingerprints are never pooled.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import InferBenchError
from ..measure import LatencyStats
from ..plans import refuse_existing
from ..results.bench import BenchResult, ResultsFile, load_results
from .cluster import check_target_name
from .fingerprint import fingerprint_differences, fingerprint_of
from .records import MEASURED, SKIPPED, FleetInfo, fleet_info, result_key, with_fleet


@dataclass(frozen=True)
class MergeSource:
    """One input of ``merge``: a results file and, for a local file, the target it names (None: its hostname)."""

    path: Path
    target: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "path", Path(self.path))
        if self.target is not None:
            check_target_name(self.target)

    @classmethod
    def parse(cls, text: str) -> MergeSource:
        """``FILE`` or ``LABEL=FILE``."""
        label, sep, path = text.partition("=")
        return cls(Path(path), label) if sep and not Path(text).exists() else cls(Path(text))


@dataclass(frozen=True)
class MergePlan:
    """What one ``merge`` run reads and writes; the output must not exist yet."""

    sources: tuple[MergeSource, ...]
    out: Path
    needs_tensorflow = False

    def __post_init__(self):
        object.__setattr__(self, "sources", tuple(self.sources))
        object.__setattr__(self, "out", Path(self.out))
        if len(self.sources) < 2:
            raise InferBenchError("merge needs at least two results files.",
                                  "pass e.g. infer-bench merge A.json B.json --out M.json.")
        refuse_existing(self.out, "merged results")  # now, not after reading every input


def _nodes(rf: ResultsFile) -> dict:
    return ((rf.environment.get("fleet") or {}).get("nodes")) or {}


def _localize(source: MergeSource, rf: ResultsFile) -> tuple[list[BenchResult], dict]:
    """A file's records with fleet info attached (local files: one pseudo-node), and its node blocks."""
    nodes = dict(_nodes(rf))
    if any(fleet_info(r) is not None for r in rf.results):
        if source.target is not None:
            raise InferBenchError(f"{source.path} is a fleet results file: its targets come from its nodes' labels.",
                                  f"pass it without '{source.target}='.")
        return list(rf.results), nodes
    target = source.target or str(rf.environment.get("hostname") or "")
    if not target:
        raise InferBenchError(f"{source.path} names no host, so its target is unknown.",
                              f"name it: infer-bench merge LABEL={source.path} ...")
    fingerprint, fields = fingerprint_of(rf.environment)
    node_id = f"local:{target}:{fingerprint}"
    nodes[node_id] = {"target": target, "labels": {}, "fingerprint": fingerprint, "fingerprint_fields": fields,
                      "environment": rf.environment}
    out = []
    for r in rf.results:
        info = FleetInfo(target=target, status=SKIPPED if r.skipped else MEASURED, artifact_sha256=None,
                         node_id=node_id, fingerprint=fingerprint)
        out.append(with_fleet(r, info))
    return out, nodes


def pool(a: BenchResult, b: BenchResult) -> BenchResult:
    """One result from two measurements of the same case on the same machine setup: raw samples joined.

    A measured result wins over a skipped one; the cold start and fleet info of ``a`` are kept.
    """
    if b.skipped:
        return a
    if a.skipped:
        return b
    stats = LatencyStats(a.raw_calls_ns + b.raw_calls_ns, a.batch_size)
    return replace(a, per_row_ms=stats.per_row_ms.to_dict(), per_call_ms=stats.per_call_ms.to_dict(),
                   throughput_rows_per_s=stats.throughput_rows_per_s, calls=stats.calls, raw_calls_ns=stats.calls_ns,
                   warnings=tuple(dict.fromkeys(a.warnings + b.warnings)),
                   extra={**a.extra, "pooled_runs": int(a.extra.get("pooled_runs", 1)) + int(b.extra.get("pooled_runs", 1))})


def _refuse_mixed_fingerprints(records: list[tuple[str, BenchResult]], nodes: dict) -> None:
    """Every target's records must come from one fingerprint; else an error naming the differing fields."""
    first: dict[str, tuple[str, str]] = {}  # target -> (fingerprint, file)
    fields = {n["fingerprint"]: n.get("fingerprint_fields", {}) for n in nodes.values()}
    for source, r in records:
        info = fleet_info(r)
        if info.fingerprint is None:  # never ran on a node (unschedulable, node lost): nothing to compare
            continue
        seen = first.setdefault(info.target, (info.fingerprint, source))
        if seen[0] != info.fingerprint:
            diffs = fingerprint_differences(fields.get(seen[0], {}), fields.get(info.fingerprint, {}))
            raise InferBenchError(
                f"Target {info.target!r} was measured on two machine setups that differ in "
                f"{'; '.join(diffs) or 'fields this file does not record'} ({seen[1]}: fingerprint {seen[0]}, "
                f"{source}: fingerprint {info.fingerprint}); their timings cannot be pooled.",
                "measure both with the same hardware and library versions, or merge them as separate targets "
                "(LABEL=FILE for a local file).")


def merge_results(sources: list[MergeSource]) -> ResultsFile:
    """The merged ``ResultsFile`` of ``sources`` (at least two), refusing mixed fingerprints within a target."""
    if len(sources) < 2:
        raise InferBenchError("merge needs at least two results files.",
                              "pass e.g. infer-bench merge A.json B.json --out M.json.")
    records: list[tuple[str, BenchResult]] = []
    nodes: dict = {}
    for source in sources:
        rs, file_nodes = _localize(source, load_results(source.path))
        records += [(str(source.path), r) for r in rs]
        nodes.update(file_nodes)
    _refuse_mixed_fingerprints(records, nodes)
    merged: dict[tuple, BenchResult] = {}
    for _, r in records:
        key = result_key(r, fleet_info(r))
        merged[key] = pool(merged[key], r) if key in merged else r
    environment = {"fleet": {"merged_from": [str(s.path) for s in sources], "nodes": nodes}}
    return ResultsFile(environment=environment, results=tuple(merged.values()))
