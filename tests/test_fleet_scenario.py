"""``scenario --ray`` on a local Ray cluster: one LoadGen run per target, on that target's node, its record
and LoadGen's logs brought back; failures and missing targets recorded, never run elsewhere.

The cluster is test_fleet's (a head with no CPUs, workers alpha and beta, one infer_bench_slot each),
started again for this module. The model is a tiny ONNX graph (Flatten -> Gemm on 28x28x1) written with
``onnx.helper`` in an export folder with a manifest, so no test imports TensorFlow; LoadGen runs 0.3 s.
These tests check routing and records, never speed: both "targets" share this machine's cores.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import write_tiny_manifest
from test_fleet import TARGETS, cluster  # noqa: F401 - the module's cluster fixture, started anew here

from infer_bench.cli import main
from infer_bench.errors import InferBenchError
from infer_bench.fleet import (FleetInfo, ScenarioFleetPlan, TargetScenario, load_fleet_scenario,
                               run_scenario_fleet)
from infer_bench.fleet.fingerprint import fingerprint_of
from infer_bench.fleet.records import FAILED, MEASURED, UNSCHEDULABLE
from infer_bench.fleet.scenario_file import FleetScenarioWriter
from infer_bench.manifest import load_manifest
from infer_bench.plans import ScenarioPlan
from infer_bench.scenario.summary import read_summary

ROWS = 64


def _gemm_onnx(path: Path) -> None:
    """A 784 -> 10 linear classifier on 28x28x1 images with a free batch size."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(1)
    weights = [numpy_helper.from_array(rng.normal(0, 0.05, (784, 10)).astype(np.float32), "w"),
               numpy_helper.from_array(np.zeros(10, np.float32), "b")]
    nodes = [helper.make_node("Flatten", ["x"], ["flat"], axis=1), helper.make_node("Gemm", ["flat", "w", "b"], ["y"])]
    graph = helper.make_graph(nodes, "gemm", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 28, 28, 1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 10])], weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, path)


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    """An export folder with the tiny model (``tiny``) and a damaged one (``broken``: loads fail on the node)."""
    folder = tmp_path_factory.mktemp("exported")
    _gemm_onnx(folder / "tiny_fp32.onnx")
    write_tiny_manifest(folder, "tiny", {("onnx", "fp32"): folder / "tiny_fp32.onnx"})
    broken = tmp_path_factory.mktemp("broken")
    (broken / "broken_fp32.onnx").write_bytes(b"not an onnx model")  # its manifest checksum matches
    write_tiny_manifest(broken, "broken", {("onnx", "fp32"): broken / "broken_fp32.onnx"})
    return folder, broken


def test_one_run_per_target_on_its_node_with_logs_brought_back(exported, cluster, data_root, tmp_path,  # noqa: F811
                                                                capsys):
    c, node_of = cluster
    out = tmp_path / "fleet-scenario.json"
    code = main(["scenario", "--ray", c.address, "--targets", ",".join((*TARGETS, "nowhere")), "--model", "tiny",
                 "--exported", str(exported[0]), "--runtime", "onnxruntime", "--duration-s", "0.3",
                 "--rows", str(ROWS), "--data-dir", str(data_root), "--results-dir", str(tmp_path), "--json", str(out),
                 "--unschedulable-after", "1"])
    assert code == 0
    entry = load_manifest(exported[0]).entries(["tiny"])[0]
    groups = load_fleet_scenario(out).groups()
    assert sorted(groups) == sorted((*TARGETS, "nowhere"))
    for target in TARGETS:
        ((fingerprint, (answer,)),) = groups[target].items()
        info, record = answer.info, answer.record
        assert info.status == MEASURED and info.node_id == node_of[target] and info.labels["ib.target"] == target
        assert fingerprint == info.fingerprint == fingerprint_of(record.environment)[0]
        assert info.artifact_sha256 == entry.sha256 and record.target["artifact"] == str(exported[0] / entry.path)
        # No --threads: the node gave its one worker session all of its own cores, as a local run would.
        assert record.target["executed"]["threads"] == [record.environment["usable_cores"]]
        assert record.target["runtime"] == "onnxruntime" and record.scenario == "single-stream"
        run = record.runs[0]
        root = Path(record.log_root)
        assert root.parent.parent == tmp_path and root.name == target and Path(run.log_dir).parent == root
        assert read_summary(Path(run.log_dir)).to_dict() == run.summary.to_dict()  # the node's logs, copied here
        assert run.summary.queries and run.summary.queries >= 1
    ((ghost,),) = groups["nowhere"].values()
    assert ghost.info.status == UNSCHEDULABLE and ghost.reason.startswith("unschedulable") and ghost.record is None
    nodes = json.loads(out.read_text())["environment"]["fleet"]["nodes"]
    assert {n["target"] for n in nodes.values()} == set(TARGETS)
    printed = capsys.readouterr().out
    assert all(f"## Target `{t}`" in printed for t in (*TARGETS, "nowhere")) and "LoadGen:" in printed


def test_a_case_that_fails_on_its_node_is_recorded_failed_with_the_node(exported, cluster, data_root,  # noqa: F811
                                                                         tmp_path):
    c, node_of = cluster
    scenario = ScenarioPlan(model="broken", exported=exported[1], runtime="onnxruntime", duration_s=0.3, rows=ROWS,
                            data_dir=str(data_root), results_dir=tmp_path)
    writer = FleetScenarioWriter(tmp_path, None, {"fleet": {"nodes": {}}})
    file = run_scenario_fleet(ScenarioFleetPlan(scenario, c.address, ("alpha",)), writer,
                              writer.file.environment["fleet"]["nodes"], log=lambda m: None)
    ((failed,),) = file.groups()["alpha"].values()
    assert failed.info.status == FAILED and failed.info.node_id == node_of["alpha"] and failed.record is None
    assert failed.reason.startswith("failed: ") and "onnx" in failed.reason.lower()
    assert load_fleet_scenario(writer.path).entries == file.entries


def test_refusals(exported, tmp_path):
    scenario = ScenarioPlan(model="tiny", exported=exported[0], runtime="onnxruntime")
    for kwargs, message in [(dict(targets=("a", "a")), "twice"), (dict(targets=("-bad",)), "not a valid"),
                            (dict(node_threads=0), "--threads 0"), (dict(unschedulable_after_s=0), "must be > 0")]:
        with pytest.raises(InferBenchError, match=message):
            ScenarioFleetPlan(scenario, "127.0.0.1:6379", **kwargs)
    info = FleetInfo(target="alpha", status=UNSCHEDULABLE, artifact_sha256=None)
    with pytest.raises(InferBenchError, match="exactly one"):
        TargetScenario(info)
    with pytest.raises(InferBenchError, match="status 'measured' cannot lack"):
        TargetScenario(FleetInfo(target="alpha", status=MEASURED, artifact_sha256=None, node_id="n", fingerprint="f"),
                       reason="x")
    (tmp_path / "taken.json").write_text("{}")
    with pytest.raises(InferBenchError, match="already exists"):
        FleetScenarioWriter(tmp_path, tmp_path / "taken.json", {})
