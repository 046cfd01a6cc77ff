"""The decision table's LoadGen rows from the records inside ``fleet-scenario-*.json`` files.

A fleet file holds one entry per target, each with the node's own record (and the node's
environment). The same rule as for ``scenario-*.json`` applies, record by record: a record
is used only where its environment matches the benchmark results' machine setup, never
pooled across machines; the others are left out, naming the target and the differences.
The records are the hand-built ones of ``test_scenario_decide`` (figures checked there),
written through the real ``FleetScenarioWriter``.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

from test_scenario_decide import BATCHED, BENCH, CHECK, DATA, ENV, ONNX, _search, _target

from infer_bench.fleet import FleetInfo, TargetScenario
from infer_bench.fleet.records import FAILED, MEASURED
from infer_bench.fleet.scenario_file import FleetScenarioWriter
from infer_bench.present.report import write_report
from infer_bench.present.scenario import load_scenarios, record_line
from infer_bench.present.scenario_decide import rows_note, scenario_decisions

OTHER_ENV = {**ENV, "cpu_model": "Another CPU"}
# On another machine setup, far more QPS: it must never win this machine's row.
ELSEWHERE = _search("2026-12-02T10:01:00+00:00", _target(), 10.0, [(BATCHED, 50000.0, True, 3.0)],
                    (BATCHED, 50000.0), env=OTHER_ENV)


def _measured(target: str, record) -> TargetScenario:
    return TargetScenario(FleetInfo(target=target, status=MEASURED, artifact_sha256=None, node_id=f"node-{target}",
                                    fingerprint=f"fp-{target}"), record)


def _fleet_file(results: Path, *entries: TargetScenario) -> Path:
    writer = FleetScenarioWriter(results, None, {"fleet": {"targets": [e.info.target for e in entries]}})
    for e in entries:
        path = writer.add(e)
    return path


def test_a_matching_target_record_is_used_and_another_machine_is_left_out(tmp_path):
    path = _fleet_file(tmp_path, _measured("here", ONNX), _measured("elsewhere", ELSEWHERE),
                       TargetScenario(FleetInfo(target="lost", status=FAILED, artifact_sha256=None),
                                      reason="failed: node lost"))
    assert path.name.startswith("fleet-scenario-")
    logged = []
    inputs = load_scenarios(tmp_path, ENV, logged.append)

    (used,) = inputs.usable
    assert (used.path, used.target, used.record) == (path, "here", ONNX)
    why = dict((reason.split(":")[0], reason) for p, reason in inputs.left_out if p == path)
    assert set(why) == {"target elsewhere", "target lost"}
    assert why["target elsewhere"].startswith("target elsewhere: measured on another machine setup than the "
                                              "benchmark results: cpu model differs: ")
    assert why["target lost"] == "target lost: no record (failed: node lost)"

    # The row is this machine's 9,000 QPS, not the other machine's 50,000; it names the file and target.
    (row,) = scenario_decisions(inputs, BENCH, CHECK)
    assert row.numbers["value"] == 9000.0
    assert row.why.endswith(f"from `{path.name} (target here)`")
    note = rows_note(inputs)
    assert "among the 1 scenario record(s) measured on this machine setup" in note
    assert f"`{path.name}` (target elsewhere: measured on another machine setup" in note
    assert record_line(used).startswith(f"- `{path.name} (target here)`: simple_cnn onnx/fp32")
    assert logged == []  # nothing was unreadable


def test_fleet_and_local_records_of_the_same_machine_compete_and_a_damaged_fleet_file_is_left_out(tmp_path):
    better = dataclasses.replace(ONNX, created="2026-12-02T11:00:00+00:00",
                                 runs=tuple(dataclasses.replace(r, target_qps=r.target_qps * 1.1) for r in ONNX.runs),
                                 search={**ONNX.search, "winner": {**ONNX.search["winner"], "qps": 9900.0}})
    local = ONNX.save(tmp_path)
    fleet = _fleet_file(tmp_path, _measured("here", better))
    (tmp_path / "fleet-scenario-20261130-100000.json").write_text("{not json")
    logged = []
    inputs = load_scenarios(tmp_path, ENV, logged.append)
    assert [(f.path.name, f.target) for f in inputs.usable] == [(local.name, None), (fleet.name, "here")]
    (row,) = scenario_decisions(inputs, BENCH, CHECK)
    assert row.numbers["value"] == 9900.0 and row.why.endswith(f"from `{fleet.name} (target here)`")
    (damaged,) = inputs.left_out
    assert damaged[0].name == "fleet-scenario-20261130-100000.json" and damaged[1].startswith("could not be used")
    assert any("fleet-scenario-20261130-100000.json" in m for m in logged)


def test_the_report_reads_fleet_scenario_files_too(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    shutil.copy(DATA, results / "bench-20260101-120000.json")
    (results / "check-20260101-130000.json").write_text(json.dumps(CHECK.to_dict()))
    path = _fleet_file(results, _measured("here", ONNX), _measured("elsewhere", ELSEWHERE))
    text = write_report(tmp_path / "no-export", results, tmp_path / "report", log=lambda m: None).read_text()
    decisions = text.split("## Deployment decisions")[1].split("\n## ")[0]
    assert "most requests per second at p99 <= 10 ms" in decisions
    assert f"from `{path.name} (target here)`" in decisions and "50,000 QPS" not in decisions
    assert f"`{path.name}` (target elsewhere: measured on another machine setup" in decisions
