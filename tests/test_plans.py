"""The CLI's plans: bad options refused before any work, and no training as a side effect."""

import json

import pytest

from infer_bench.cli import main
from infer_bench.plans import CheckPlan, RegressPlan, parse_slowdowns, require_exports
from infer_bench.errors import InferBenchError


@pytest.mark.parametrize("command", ["bench", "check", "explain"])
def test_commands_on_a_folder_without_exports_name_train_export(command, tmp_path, capsys):
    # Before, these trained every model first (25 minutes on a fresh clone); now they stop at once.
    assert main([command, "--exported", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"infer-bench train-export --out {tmp_path}" in err
    assert "manifest.json" in err and "Traceback" not in err
    assert not any(tmp_path.iterdir())  # nothing was trained or written


def test_missing_models_are_named_with_the_command_that_makes_them(tmp_path):
    (tmp_path / "manifest.json").write_text(json.dumps({
        "schema_version": 1, "models": {"simple_cnn": {"dataset": "fashion_mnist"}}, "artifacts": []}))
    with pytest.raises(InferBenchError, match="--models alexnet_fashion"):
        require_exports(tmp_path, ["simple_cnn", "alexnet_fashion"])


def test_check_plan_refuses_an_artifact_without_reference_and_an_existing_json(tmp_path):
    with pytest.raises(InferBenchError, match="--reference"):
        CheckPlan(exported=None, artifacts=(tmp_path / "m.onnx",))
    taken = tmp_path / "taken.json"
    taken.write_text("{}")
    with pytest.raises(InferBenchError, match="already exists"):
        CheckPlan(exported=None, artifacts=(tmp_path / "m.onnx",), reference=tmp_path / "m.keras",
                  json_path=taken)
    assert taken.read_text() == "{}"


@pytest.mark.parametrize("kw, match", [
    ({"rounds": 2}, "--rounds 2"),
    ({"threshold_pct": 0}, "--threshold 0"),
    ({"threads": 0}, "--threads 0"),
    ({"update_baseline": True, "memory_contention": True}, "--update-baseline"),
])
def test_regress_plan_names_the_bad_option(kw, match, tmp_path):
    settings = {"baseline": tmp_path / "b.json", "threshold_pct": 10.0, "rounds": 9, "threads": 1, **kw}
    with pytest.raises(InferBenchError, match=match):
        RegressPlan(**settings)


def test_slowdown_specs():
    assert parse_slowdowns(["a/b=0.25", "c=1"]) == {"a/b": 0.25, "c": 1.0}
    with pytest.raises(InferBenchError, match="CASE=FRACTION"):
        parse_slowdowns(["a/b"])


def test_run_quick_judges_int8_by_the_same_budgets_but_repairs_nothing():
    from dataclasses import replace

    from infer_bench.check import DEFAULT_TOLERANCES
    from infer_bench.pipeline import QUICK_TOLERANCES

    assert DEFAULT_TOLERANCES["static_int8"].repair_max_attempts > 0  # the default run repairs ...
    assert all(row.repair_max_attempts == 0 for row in QUICK_TOLERANCES.values())  # ... --quick does not
    assert {n: replace(r, repair_max_attempts=0) for n, r in DEFAULT_TOLERANCES.items()} == QUICK_TOLERANCES
