"""Fleet benchmarking on a local Ray cluster: routing, the one-slot lock per node, the records, and
what a lost node or a crashed worker gives.

These tests check where each case ran, that no two measurements overlapped on a node, and what every
record carries; never speed: both "targets" are worker nodes on this one machine and share its cores.
The cluster (a head with no CPUs, two workers labelled ib.target=alpha and ib.target=beta, each with the
one infer_bench_slot) is started once for the module; the artifacts are a tiny Keras CNN exported by the
package's own ONNX exporters (fp32 and fp16), measured by ONNX Runtime and OpenVINO at batch 1 and 4.
"""

from __future__ import annotations

import json
import os
from collections import Counter, defaultdict

import numpy as np
import pytest

# Ray's local mode for addresses: every node, the driver and the workers use 127.0.0.1, never the machine's
# network address (read when Ray is imported, and inherited by the processes the cluster starts).
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
ray = pytest.importorskip("ray", reason="the fleet extra is not installed (pip install -e '.[fleet]')")

from infer_bench.bench import BenchPlan  # noqa: E402
from infer_bench.cli import main  # noqa: E402
from infer_bench.fleet import FleetPlan, fleet_info, run_fleet  # noqa: E402
from infer_bench.fleet.records import FAILED, UNSCHEDULABLE  # noqa: E402
from infer_bench.manifest import Manifest, entry_for  # noqa: E402
from infer_bench.present.fleet import write_fleet_report  # noqa: E402
from infer_bench.results import ResultsWriter, load_results  # noqa: E402

TARGETS = ("alpha", "beta")
LOOPBACK = "127.0.0.1"
BATCHES = [1, 4]


def _tiny_cnn():
    import keras

    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(4, 3, activation="relu"),
                             keras.layers.MaxPooling2D(4), keras.layers.Flatten(), keras.layers.Dense(10)])


def _manifest(folder, name: str) -> Manifest:
    m = Manifest(folder)
    m.models[name] = {"dataset": "fashion_mnist", "test_accuracy": 0.1, "quick": True}
    return m


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """The tiny CNN as ONNX fp32 and fp16 (the package's exporters), and a damaged ONNX file in its own folder."""
    from infer_bench.export.onnx_formats import export_onnx_fp16, export_onnx_fp32

    model = _tiny_cnn()
    folder = tmp_path_factory.mktemp("exported")
    m = _manifest(folder, "tiny")
    (folder / "tiny").mkdir()
    fp32, fp16 = folder / "tiny" / "tiny_fp32.onnx", folder / "tiny" / "tiny_fp16.onnx"
    export_onnx_fp32(model, fp32)
    export_onnx_fp16(fp32, fp16)
    for path, q in ((fp32, "fp32"), (fp16, "fp16")):
        m.add(entry_for(m, path, model="tiny", format="onnx", quantization=q, input_shape=[None, 28, 28, 1],
                        input_dtype="float32", output_shape=[None, 10], source_sha256="", source_test_accuracy=0.1))
    m.save()
    broken_folder = tmp_path_factory.mktemp("broken")
    b = _manifest(broken_folder, "broken")
    bad = broken_folder / "broken_fp32.onnx"
    bad.write_bytes(b"not an onnx model")  # its manifest checksum matches: it fails on the node, when loaded
    b.add(entry_for(b, bad, model="broken", format="onnx", quantization="fp32", input_shape=[None, 28, 28, 1],
                    input_dtype="float32", output_shape=[None, 10], source_sha256="", source_test_accuracy=0.1))
    b.save()
    return m, b


@pytest.fixture(scope="module")
def cluster():
    """A head with no CPUs (it never measures) and one worker node per target, each with one slot."""
    from ray.cluster_utils import Cluster

    # Loopback only: the test cluster never listens on or talks to another address.
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False,
                                                      "node_ip_address": LOOPBACK})
    nodes = {t: c.add_node(num_cpus=1, resources={"infer_bench_slot": 1}, labels={"ib.target": t},
                           node_ip_address=LOOPBACK) for t in TARGETS}
    ray.init(address=c.address, logging_level="ERROR", log_to_driver=False, _node_ip_address=LOOPBACK)
    yield c, {t: n.node_id for t, n in nodes.items()}
    ray.shutdown()
    c.shutdown()


@pytest.fixture(scope="module")
def fleet_run(exports, cluster, data_root, tmp_path_factory):
    """The matrix through the CLI: 2 artifacts x 2 runtimes x 2 batch sizes x 2 targets, one results file."""
    c, _ = cluster
    out = tmp_path_factory.mktemp("fleet") / "fleet.json"
    args = ["bench", "--ray", c.address, "--targets", ",".join(TARGETS), "--exported", str(exports[0].folder),
            "--runtimes", "onnxruntime,openvino", "--quantizations", "fp32,fp16", "--batch-sizes", "1,4",
            "--min-time", "0", "--data-dir", str(data_root), "--json", str(out)]
    assert main(args) == 0
    return out, load_results(out)


def _case(r):
    return (r.model, r.format, r.quantization, r.runtime)


def test_every_case_ran_once_per_target_on_a_node_with_its_label(fleet_run, exports, cluster):
    _, rf = fleet_run
    _, node_of = cluster
    infos = [(r, fleet_info(r)) for r in rf.results]
    assert len(infos) == 2 * 2 * 2 * 2
    per_case = Counter((i.target, _case(r), r.batch_size) for r, i in infos)
    assert set(per_case.values()) == {1} and len(per_case) == 16
    for r, i in infos:
        assert i.labels["ib.target"] == i.target and i.node_id == node_of[i.target]
        assert i.fingerprint and i.artifact_sha256 == exports[0].artifacts[("tiny", "onnx", r.quantization)].sha256
        assert i.status in ("measured", "skipped")  # OpenVINO may decline fp16 compute on this CPU: skipped, said why
    # One fresh worker process per case (both batch sizes of a case share it).
    pids = {(i.target, _case(r)): i.pid for r, i in infos}
    assert len(set(pids.values())) == len(pids) == 8
    assert any(not r.skipped for r in rf.results)


def test_no_two_measurements_overlap_on_a_node(fleet_run):
    _, rf = fleet_run
    intervals = defaultdict(set)
    for r in rf.results:
        i = fleet_info(r)
        intervals[i.node_id].add((i.start_unix, i.end_unix))
    assert len(intervals) == 2
    for spans in intervals.values():
        spans = sorted(spans)
        assert len(spans) == 4
        assert all(end <= next_start for (_, end), (next_start, _) in zip(spans, spans[1:]))


def test_the_file_holds_every_node_environment_and_one_section_per_target(fleet_run, tmp_path):
    path, rf = fleet_run
    nodes = json.loads(path.read_text())["environment"]["fleet"]["nodes"]
    assert {n["target"] for n in nodes.values()} == set(TARGETS)
    for n in nodes.values():
        assert n["fingerprint_fields"]["cpu_model"] == n["environment"]["cpu_model"]
        # Ray's OMP_NUM_THREADS=1 / CUDA_VISIBLE_DEVICES="" for a 0-CPU, 0-GPU task were undone: a local run's setting.
        thread_env = n["environment"]["threads"]["env"]
        assert thread_env["OMP_NUM_THREADS"] == os.environ.get("OMP_NUM_THREADS")
        assert thread_env["CUDA_VISIBLE_DEVICES"] == os.environ.get("CUDA_VISIBLE_DEVICES")
        assert n["fingerprint_fields"]["packages"]["onnxruntime-gpu"]
    report = write_fleet_report(rf, path, None, None, tmp_path, log=lambda m: None).read_text()
    sections = {s.split("`")[0]: s for s in report.split("## Target `")[1:]}  # in the order targets finished
    assert set(sections) == set(TARGETS)
    assert all("Deployment decisions" in s and "### Machine" in s for s in sections.values())
    # With a `scenario --ray` file beside it, its per-target sections follow, a level deeper.
    from infer_bench.fleet.records import FleetInfo
    from infer_bench.fleet.scenario_file import FleetScenarioWriter, TargetScenario

    writer = FleetScenarioWriter(tmp_path / "scen", None, {})
    scenario = writer.add(TargetScenario(FleetInfo("arm", UNSCHEDULABLE, None), reason="unschedulable: no live node"))
    report = write_fleet_report(rf, path, None, None, tmp_path / "r2", log=lambda m: None, scenario_path=scenario)
    text = report.read_text()
    assert "## Deployment scenarios per target" in text and "### Target `arm`" in text
    assert "unschedulable: no live node" in text and f"fleet scenarios: `{scenario}`" in text


def test_a_failing_case_is_failed_not_retried_and_a_missing_target_is_unschedulable(exports, cluster, data_root,
                                                                                     tmp_path):
    c, node_of = cluster
    bench = BenchPlan(exported=exports[1].folder, runtimes=["onnxruntime"], batch_sizes=BATCHES, min_time_s=0.0,
                      data_dir=str(data_root))
    writer = ResultsWriter(tmp_path / "r.json", {"fleet": {"nodes": {}}})
    results = run_fleet(FleetPlan(bench, c.address, ("alpha", "nowhere"), unschedulable_after_s=1.0), writer,
                        writer.results_file.environment["fleet"]["nodes"], log=lambda m: None)
    by_target = defaultdict(list)
    for r in results:
        by_target[fleet_info(r).target].append(r)
    failed = by_target["alpha"]
    assert [r.batch_size for r in failed] == BATCHES  # one record per batch size: one attempt, no retry
    assert {fleet_info(r).status for r in failed} == {FAILED}
    assert all(r.skipped_reason.startswith("failed: ") and "onnx" in r.skipped_reason.lower() for r in failed)
    assert {fleet_info(r).node_id for r in failed} == {node_of["alpha"]}
    ghost = by_target["nowhere"]
    assert [r.batch_size for r in ghost] == BATCHES and {fleet_info(r).status for r in ghost} == {UNSCHEDULABLE}
    assert all("unschedulable" in r.skipped_reason and fleet_info(r).node_id is None for r in ghost)
    assert len(load_results(tmp_path / "r.json").results) == 4


def test_artifact_bytes_are_checked_on_arrival(exports, tmp_path):
    from infer_bench.errors import ArtifactError
    from infer_bench.fleet.payload import Payload, pack, unpack

    entry = exports[0].artifacts[("tiny", "onnx", "fp32")]
    payload = pack(exports[0].folder / entry.path, entry.sha256)
    assert unpack(payload, tmp_path / "ok").read_bytes() == (exports[0].folder / entry.path).read_bytes()
    flipped = bytearray(payload.data)
    flipped[len(flipped) // 2] ^= 1
    with pytest.raises(ArtifactError, match="sha256"):
        unpack(Payload(payload.name, False, bytes(flipped), entry.sha256), tmp_path / "bad")
    folder = tmp_path / "ir"
    folder.mkdir()
    (folder / "model.xml").write_text("<xml/>")
    (folder / "model.bin").write_bytes(np.arange(10, dtype=np.uint8).tobytes())
    from infer_bench.fsutil import sha256_of

    back = unpack(pack(folder, sha256_of(folder)), tmp_path / "unpacked")
    assert sorted(p.name for p in back.iterdir()) == ["model.bin", "model.xml"]


def _busy_worker(node, timeout_s: float = 60.0):
    """The worker process of ``node`` (a Cluster node) that is running a fleet case: Ray titles it
    ``ray::run_on_node`` while the task executes; workers are children of their node's raylet."""
    import time

    import psutil

    raylet = psutil.Process(node.all_processes["raylet"][0].process.pid)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for child in raylet.children():
            try:
                if "run_on_node" in " ".join(child.cmdline()):
                    return child
            except psutil.NoSuchProcess:
                continue
        time.sleep(0.05)
    raise AssertionError(f"no case started on node {node.node_id[:12]} within {timeout_s:.0f} s")


def test_a_node_lost_mid_case_is_node_lost_and_a_crashed_worker_on_a_live_node_is_not(exports, cluster, data_root,
                                                                                       tmp_path):
    """Two more targets, each with one node: while their first case runs, gamma's node is removed from
    the cluster (Ray: NodeDiedError) and delta's worker process is killed with its node alive
    (Ray: WorkerCrashedError). Only gamma's record says "node lost"; the run goes on with the rest:
    gamma's second case is unschedulable (no node left), delta's runs in a fresh worker."""
    import threading

    c, _ = cluster
    extra = {t: c.add_node(num_cpus=1, resources={"infer_bench_slot": 1}, labels={"ib.target": t},
                           node_ip_address=LOOPBACK) for t in ("gamma", "delta")}
    c.wait_for_nodes()
    # Each case measures for seconds, so both strikes land while the first cases run.
    bench = BenchPlan(exported=exports[0].folder, runtimes=["onnxruntime"], batch_sizes=[1], min_time_s=6.0,
                      data_dir=str(data_root))
    struck = {}

    def strike():
        try:
            delta_worker, gamma_worker = _busy_worker(extra["delta"]), _busy_worker(extra["gamma"])
            struck.update(delta=delta_worker.pid, gamma=gamma_worker.pid)
            delta_worker.kill()  # SIGKILL: the worker dies as in a runtime's crash; its node stays up
            c.remove_node(extra["gamma"])  # the whole node goes: raylet, object store and the running worker
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's own thread
            struck["error"] = exc

    striker = threading.Thread(target=strike)
    striker.start()
    writer = ResultsWriter(tmp_path / "r.json", {"fleet": {"nodes": {}}})
    try:
        results = run_fleet(FleetPlan(bench, c.address, ("gamma", "delta"), unschedulable_after_s=1.0,
                                      node_death_wait_s=3.0), writer,
                            writer.results_file.environment["fleet"]["nodes"], log=lambda m: None)
    finally:
        striker.join()
        c.remove_node(extra["delta"])
    if "error" in struck:
        raise struck["error"]
    by_target = defaultdict(list)
    for r in results:
        by_target[fleet_info(r).target].append((r, fleet_info(r)))
    assert len(results) == 4 and len(load_results(tmp_path / "r.json").results) == 4
    gamma = sorted(by_target["gamma"], key=lambda ri: ri[1].status)
    (lost, lost_info), (ghost, ghost_info) = gamma
    assert lost_info.status == FAILED and lost.skipped_reason.startswith("failed: node lost")
    assert lost_info.node_id == extra["gamma"].node_id and "NodeDiedError" in lost.skipped_reason
    assert ghost_info.status == UNSCHEDULABLE and "unschedulable" in ghost.skipped_reason
    delta = {i.status: (r, i) for r, i in by_target["delta"]}
    crashed, _ = delta.pop(FAILED)
    assert crashed.skipped_reason.startswith("failed: WorkerCrashedError") and "node lost" not in crashed.skipped_reason
    ((status, (_, rest_info)),) = delta.items()
    assert status in ("measured", "skipped") and rest_info.node_id == extra["delta"].node_id
    assert rest_info.pid not in (struck["delta"], struck["gamma"])  # a fresh worker, never a retry
