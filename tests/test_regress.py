"""The regression comparison on synthetic samples: no change, 25% slower, noisy, faster/slower machines."""

import json
from pathlib import Path

import numpy as np
import pytest

from infer_bench.environment import capture_environment
from infer_bench.errors import InferBenchError
from infer_bench.export import ARTIFACTS
from infer_bench.measure import time_pairs
from infer_bench.regress import (FAST_SET, case_id, compare_ratios, make_baseline, measure_in_fresh_process,
                                 outcome_rows, resolve_cases, run_regress, verdict_lines, with_slowdown)
from infer_bench.regress.contention import MemoryContention, require_spare_core
from infer_bench.regress.fastset import EXPORTS, fast_set_artifacts
from infer_bench.regress.reference import export_sources_changed, reference_exports, reference_run
from infer_bench.regress.runner import PAIRED_BLOCK, confirms, paired_block
from infer_bench.runtimes import LoadOptions, get_runtime
from infer_bench.regress.stats import bootstrap_medians, pool_processes, relative_spread_pct
from infer_bench.results.regress import Baseline, CaseBaseline, RegressOutcome

THRESHOLD = 10.0


def ratios_from_times(case_ms, calib_ms):
    """What measure_ratios records: per round, case block median / calibration block median."""
    return list(np.asarray(case_ms) / np.asarray(calib_ms))


def rounds(mean, rel_noise, n=9, seed=0):
    rng = np.random.default_rng(seed)
    return mean * (1 + rel_noise * rng.standard_normal(n))


def test_no_change_is_not_flagged():
    base = np.median(ratios_from_times(rounds(2.0, 0.02, seed=1), rounds(0.5, 0.02, seed=2)))
    c = compare_ratios("x", base, ratios_from_times(rounds(2.0, 0.02, seed=3), rounds(0.5, 0.02, seed=4)), THRESHOLD)
    assert not c.regressed and not c.improved and abs(c.change_pct) < 5


def test_25_percent_slower_is_flagged_with_confidence():
    base = 4.0
    c = compare_ratios("x", base, ratios_from_times(rounds(2.5, 0.03, seed=5), rounds(0.5, 0.03, seed=6)), THRESHOLD)
    assert c.regressed and c.ci_low_pct > THRESHOLD and 15 < c.change_pct < 35 and c.confidence > 0.95


def test_noisy_but_unchanged_is_not_flagged():
    # 15% noise per round and two outlier rounds (a neighbour stole the CPU): the median and the
    # lower confidence bound keep it from being called a regression.
    case = rounds(2.0, 0.15, seed=7)
    case[[2, 5]] *= 2.5
    c = compare_ratios("x", 4.0, ratios_from_times(case, rounds(0.5, 0.05, seed=8)), THRESHOLD)
    assert not c.regressed


@pytest.mark.parametrize("machine_speed", [0.5, 2.0])
def test_a_faster_or_slower_machine_overall_cancels_out(machine_speed):
    # Everything (case and calibration) runs machine_speed times as long: the ratio is unchanged.
    base = np.median(ratios_from_times(rounds(2.0, 0.02, seed=9), rounds(0.5, 0.02, seed=10)))
    now = ratios_from_times(rounds(2.0 * machine_speed, 0.02, seed=11), rounds(0.5 * machine_speed, 0.02, seed=12))
    c = compare_ratios("x", base, now, THRESHOLD)
    assert not c.regressed and not c.improved


def test_a_slower_machine_with_a_real_regression_is_still_caught():
    base = 4.0
    now = ratios_from_times(rounds(2.0 * 1.3 * 2.0, 0.03, seed=13), rounds(0.5 * 2.0, 0.03, seed=14))
    assert compare_ratios("x", base, now, THRESHOLD).regressed


def test_faster_is_reported_as_improved():
    c = compare_ratios("x", 4.0, ratios_from_times(rounds(1.4, 0.02, seed=15), rounds(0.5, 0.02, seed=16)),
                       THRESHOLD)
    assert c.improved and not c.regressed


def test_bad_samples_are_refused():
    with pytest.raises(ValueError, match="positive finite"):
        compare_ratios("x", 1.0, [1.0, float("nan")], THRESHOLD)
    with pytest.raises(ValueError, match="baseline ratios"):
        compare_ratios("x", 0.0, [1.0], THRESHOLD)


def test_a_noisy_baseline_raises_the_threshold_for_that_case_only():
    # A memory-bound case that swings +-15% between rounds on an unchanged machine.
    noisy_base = list(rounds(48.0, 0.15, seed=17))
    drifted = list(rounds(48.0 * 1.13, 0.15, seed=18))  # 13% slower by chance
    c = compare_ratios("noisy", noisy_base, drifted, THRESHOLD)
    assert c.threshold_pct > THRESHOLD and not c.regressed
    steady = compare_ratios("steady", list(rounds(0.66, 0.02, seed=19)), list(rounds(0.66 * 1.25, 0.02, seed=20)),
                            THRESHOLD)
    assert steady.threshold_pct == THRESHOLD and steady.regressed


def test_a_machine_allowance_raises_the_threshold_and_says_why():
    # Unchanged, but 30% slower in this process than the baseline's median: within a 40% machine allowance.
    base = list(rounds(48.0, 0.02, seed=21))
    now = list(rounds(48.0 * 1.3, 0.02, seed=22))
    assert compare_ratios("x", base, now, THRESHOLD).regressed
    c = compare_ratios("x", base, now, THRESHOLD, allowance_pct=40.0)
    assert not c.regressed and c.threshold_pct == 40.0 and c.threshold_reason == "machine"
    assert compare_ratios("x", base, now, THRESHOLD).threshold_reason == "global"
    assert compare_ratios("x", list(rounds(48.0, 0.3, seed=23)), now, THRESHOLD).threshold_reason == "spread"


def test_baseline_pools_processes_and_takes_the_slowest_as_the_allowance(tmp_path):
    names = [case_id(c) for c in FAST_SET]
    per_process = [{n: paired([1.0, 1.0, 1.0]) for n in names}, {n: paired([1.3, 1.3, 1.3], 3.0) for n in names}]
    contended = [{n: paired([1.1, 1.1, 1.1]) for n in names}, {n: paired([1.2]) for n in names}]
    data = make_baseline(per_process, contended, threads=1, rounds=3, environment={"cpu_model": "x"}).to_dict()
    entry = data["cases"][names[0]]
    assert entry["ratios"] == [1.0, 1.0, 1.0, 1.3, 1.3, 1.3] and entry["ratio"] == pytest.approx(1.15)
    assert entry["process_medians"] == [1.0, 1.3] and entry["contended_medians"] == [1.1, 1.2]
    assert data["processes"] == 2 and data["contended_processes"] == 2
    assert entry["machine_allowance_pct"] == pytest.approx(13.0, abs=0.1)  # the slowest process: a quiet one here
    assert entry["reference_ms"] == 2.5  # median of the quiet rounds' reference times (2, 2, 2, 3, 3, 3)
    quiet_contended = make_baseline(per_process[:1], [{n: paired([0.9]) for n in names}], 1, 3, {}).to_dict()
    assert quiet_contended["cases"][names[0]]["machine_allowance_pct"] == 0.0  # never negative


def test_baseline_round_trip_and_refusals(tmp_path):
    names = [case_id(c) for c in FAST_SET]
    data = make_baseline([{n: paired([1.0, 1.1, 0.9]) for n in names}], [{n: paired([1.2]) for n in names}],
                         threads=1, rounds=3,
                         environment={"cpu_model": "x"}).to_dict()
    path = tmp_path / "b.json"
    path.write_text(json.dumps(data))
    loaded = Baseline.load(path)
    assert loaded.cases[names[0]].ratio == 1.0
    assert loaded.to_dict() == data
    with pytest.raises(InferBenchError, match="update-baseline"):
        Baseline.load(tmp_path / "missing.json")
    path.write_text(json.dumps({**data, "schema_version": 99}))
    with pytest.raises(InferBenchError, match="schema_version 99"):
        Baseline.load(path)
    broken = json.loads(json.dumps(data))
    del broken["cases"][names[0]]["machine_allowance_pct"]
    path.write_text(json.dumps(broken))
    with pytest.raises(InferBenchError, match="machine_allowance_pct"):
        Baseline.load(path)


def test_memory_contention_runs_inside_the_block_only():
    with MemoryContention(mib=8) as contention:
        proc = contention.proc
        assert contention.running()
    assert proc.poll() is not None and not contention.running()


def test_contention_needs_a_spare_core(monkeypatch):
    monkeypatch.setattr("infer_bench.regress.contention.os.cpu_count", lambda: 1)
    with pytest.raises(InferBenchError, match="needs a core beside the 1 being timed"):
        require_spare_core(1, "--memory-contention")


def test_a_failing_measurement_process_reports_why():
    with pytest.raises(InferBenchError, match="Unknown fast-set case 'no/such/case'"):
        measure_in_fresh_process(["no/such/case"], rounds=3, threads=1)


def test_a_fresh_process_measures_real_sessions_under_contention():
    # End to end through the worker, as --update-baseline and the confirmation run it (builds the
    # simple_cnn fast-set exports into .cache/regress once, which the CI gate then reuses).
    cases = ["simple_cnn/onnx/fp32/onnxruntime/b1", "simple_cnn/tflite/fp32/litert/b1"]
    measured = measure_in_fresh_process(cases, rounds=3, threads=1, with_contention=True,
                                        slowdowns={cases[0]: 0.3})
    assert set(measured) == set(cases)
    assert all(len(m["ratios"]) == len(m["reference_ms"]) == 3 and min(m["ratios"] + m["reference_ms"]) > 0
               for m in measured.values())
    # The slowdown is the candidate's alone: its paired ratio shows it, the other case's stays near 1.
    assert np.median(measured[cases[0]]["ratios"]) > np.median(measured[cases[1]]["ratios"]) + 0.1


def test_output_names_the_regressed_case_and_the_confidence():
    slow = compare_ratios("a/b", 1.0, [1.3, 1.31, 1.29, 1.3, 1.32], THRESHOLD)
    ok = compare_ratios("c/d", 1.0, [1.0, 1.01, 0.99, 1.0, 1.0], THRESHOLD)
    wide = compare_ratios("e/f", 1.0, [1.3, 1.31, 1.29, 1.3, 1.32], THRESHOLD, allowance_pct=45.0)
    rows = outcome_rows(RegressOutcome([ok, slow, wide], ["a/b"], THRESHOLD))
    assert rows[0][0] == "a/b" and rows[0][-1].startswith("REGRESSED (confidence 100% that it is > 10% slower")
    assert rows[0][-3] == "10%" and rows[1][-3] == "45% (machine)" and rows[1][-1] == "ok"
    assert rows[2][-1] == "ok"


def test_with_slowdown_keeps_the_output():
    slowed = with_slowdown(lambda x: x * 2, 0.25)
    assert slowed(3) == 6


def test_committed_baseline_covers_the_fast_set():
    from pathlib import Path

    baseline = Baseline.load(Path(__file__).resolve().parents[1] / "benchmarks" / "baseline.json")
    assert set(baseline.cases) == {case_id(c) for c in FAST_SET}


def paired(ratios, reference_ms=2.0):
    """One process's entry for a case as the worker writes it: per round, a paired ratio and the reference's ms."""
    return {"ratios": list(ratios), "reference_ms": [reference_ms] * len(ratios)}


# --- hand-computed statistics ----------------------------------------------------------------------


def test_relative_spread_is_the_interquartile_range_over_the_median():
    # Quartiles of 1..5 are 2 and 4, the median 3: (4 - 2) / 3 = 66.67%.
    assert relative_spread_pct([5, 1, 4, 2, 3]) == pytest.approx(200 / 3)
    assert relative_spread_pct([2.0, 2.0, 2.0, 2.0]) == 0.0


def test_bootstrap_medians_of_two_values():
    # Resamples of [1, 3] (size 2): (1,1) -> 1, (3,3) -> 3, (1,3) or (3,1) -> 2; so 1/4, 1/2, 1/4.
    medians = bootstrap_medians(np.array([1.0, 3.0]), np.random.default_rng(0), samples=4000)
    assert medians.shape == (4000,) and set(np.unique(medians)) == {1.0, 2.0, 3.0}
    assert np.mean(medians == 2.0) == pytest.approx(0.5, abs=0.03)
    assert np.mean(medians == 1.0) == pytest.approx(0.25, abs=0.03)
    assert np.all(bootstrap_medians(np.array([7.0]), np.random.default_rng(0), samples=10) == 7.0)


def test_compare_constant_samples_by_hand():
    # Every resample of a constant sample has that median: the change is exactly 1.2 / 1.0 - 1 = 20%, with
    # no width; the spread of a constant baseline is 0, so the global 10% applies.
    c = compare_ratios("x", [1.0, 1.0, 1.0, 1.0], [1.2] * 5, THRESHOLD)
    assert c.baseline_ratio == 1.0 and c.current_ratio == 1.2
    assert c.change_pct == pytest.approx(20.0) and c.ci_low_pct == pytest.approx(20.0)
    assert c.ci_high_pct == pytest.approx(20.0)
    assert (c.threshold_pct, c.threshold_reason, c.confidence, c.regressed, c.improved) == (10.0, "global", 1.0,
                                                                                          True, False)
    # Baseline 1..5 swings by 66.7% (IQR 2 / median 3): a current 3.0 is no change, judged at 66.7%.
    wide = compare_ratios("x", [1, 2, 3, 4, 5], [3.0] * 5, THRESHOLD)
    assert wide.threshold_reason == "spread" and wide.threshold_pct == pytest.approx(200 / 3)
    assert wide.change_pct == 0.0 and not wide.regressed and not wide.improved


def test_pool_processes_by_hand():
    # Quiet processes [1, 2, 3] and [4]: pooled median 2.5; medians 2 and 4; contended median 5;
    # the slowest (5) is 5 / 2.5 - 1 = 100% above the pooled median.
    # The reference's ms of the quiet rounds, 10, 30, 20 and 40, have the median 25.
    quiet = [{"c": {"ratios": [1.0, 2.0, 3.0], "reference_ms": [10.0, 30.0, 20.0]}},
             {"c": {"ratios": [4.0], "reference_ms": [40.0]}}]
    case = pool_processes(quiet, [{"c": paired([5.0], 99.0)}])["c"]
    assert case == CaseBaseline(2.5, (1.0, 2.0, 3.0, 4.0), (2.0, 4.0), (5.0,), 100.0, 25.0)
    with pytest.raises(ValueError, match="at least one quiet and one contended"):
        pool_processes([{"c": paired([1.0])}], [])


# --- the timing core and the fast set --------------------------------------------------------------


def test_the_fast_set_is_built_from_rows_of_the_export_table():
    rows = {(kind.format, kind.quantization) for kind in ARTIFACTS}
    assert set(EXPORTS) <= rows and {(c[1], c[2]) for c in FAST_SET} <= set(EXPORTS)


def test_unknown_cases_are_refused_with_the_known_ones():
    with pytest.raises(InferBenchError, match="Unknown fast-set case 'x/y'.*simple_cnn/onnx/fp32/onnxruntime/b1"):
        resolve_cases(["simple_cnn/onnx/fp32/onnxruntime/b1", "x/y"])


# --- records and the machine check --------------------------------------------------------------------

PACKAGES = {"tensorflow": "2.21.0", "onnxruntime-gpu": "1.31.1"}


def hand_made_baseline(cpu="Intel(R) Xeon(R) Processor", threads=1, packages=PACKAGES):
    return {"schema_version": 3, "method": "m", "reference": "r", "threads": threads, "rounds": 9, "processes": 5,
            "contended_processes": 3, "contention": "k",
            "environment": {"cpu_model": cpu, "logical_cores": 2, "packages": dict(packages), "git_commit": "abc"},
            "cases": {"simple_cnn/onnx/fp32/onnxruntime/b1": {
                "ratio": 0.64, "ratios": [0.63, 0.64, 0.65], "process_medians": [0.64], "contended_medians": [0.65],
                "machine_allowance_pct": 1.6, "reference_ms": 0.15}}}


def this_machine(cpu="Intel(R) Xeon(R) Processor", packages=PACKAGES):
    """A captured environment as ``environment.capture_environment`` gives it (a few of its keys)."""
    return {"cpu_model": cpu, "logical_cores": 2, "packages": dict(packages), "git_commit": "def",
            "python": "3.12.3", "threads": {"requested": 1, "env": {}}}


def test_a_baseline_from_another_cpu_is_refused_naming_the_field():
    baseline = Baseline.from_dict(hand_made_baseline(), "benchmarks/baseline.json")
    baseline.check_machine(this_machine(), 1, "benchmarks/baseline.json")  # same machine, another commit: fine
    with pytest.raises(InferBenchError, match="cpu model differs: Intel.* vs AMD EPYC") as err:
        baseline.check_machine(this_machine(cpu="AMD EPYC"), 1, "benchmarks/baseline.json")
    assert "benchmarks/baseline.json" in str(err.value) and "infer-bench regress --update-baseline" in str(err.value)
    with pytest.raises(InferBenchError, match="threads differs: 1 vs 2"):
        baseline.check_machine(this_machine(), 2, "benchmarks/baseline.json")
    with pytest.raises(InferBenchError, match="onnxruntime-gpu differs: 1.31.1 vs 1.32.0"):
        baseline.check_machine(this_machine(packages={**PACKAGES, "onnxruntime-gpu": "1.32.0"}), 1, "b.json")


def test_run_regress_refuses_another_machines_baseline_before_measuring(tmp_path):
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps(hand_made_baseline(cpu="A CPU that is not this one")))
    with pytest.raises(InferBenchError, match="cpu model differs: A CPU that is not this one vs"):
        run_regress(path, log=lambda message: None)


def test_a_baseline_recorded_here_compares_equal_with_this_machine(tmp_path):
    names = [case_id(c) for c in FAST_SET]
    baseline = make_baseline([{n: paired([1.0]) for n in names}], [{n: paired([1.0]) for n in names}], threads=1,
                             rounds=3,
                             environment=capture_environment(1))
    baseline.check_machine(capture_environment(1), 1, "b.json")


def test_malformed_baselines_are_refused_naming_the_entry():
    data = hand_made_baseline()
    data["cases"]["simple_cnn/onnx/fp32/onnxruntime/b1"]["ratios"] = [0.6, -1.0]
    with pytest.raises(InferBenchError, match="'ratios' must be a list of positive numbers"):
        Baseline.from_dict(data, "b.json")
    with pytest.raises(InferBenchError, match="lacks 'threads'"):
        Baseline.from_dict({k: v for k, v in hand_made_baseline().items() if k != "threads"}, "b.json")
    with pytest.raises(InferBenchError, match="has no cases"):
        Baseline.from_dict({**hand_made_baseline(), "cases": {}}, "b.json")


def test_the_committed_baseline_reads_and_writes_back_unchanged(tmp_path):
    from pathlib import Path

    committed = Path(__file__).resolve().parents[1] / "benchmarks" / "baseline.json"
    baseline = Baseline.load(committed)
    assert baseline.to_dict() == json.loads(committed.read_text())
    copy = tmp_path / "baseline.json"
    copy.write_text("old")
    baseline.save(copy)  # --update-baseline replaces the file on purpose
    assert copy.read_text() == committed.read_text()


def test_the_json_outcome_has_todays_keys_refuses_an_existing_file_and_reads_back(tmp_path):
    slow = compare_ratios("a/b", 1.0, [1.3, 1.31, 1.29, 1.3, 1.32], THRESHOLD)
    outcome = RegressOutcome([slow], ["a/b"], THRESHOLD, memory_contention=True, ratios={"a/b": [1.3]})
    data = outcome.to_dict()
    assert list(data) == ["schema_version", "threshold_pct", "memory_contention", "reference", "regressed",
                          "comparisons"]
    assert data["schema_version"] == 2 and data["regressed"] == ["a/b"]
    assert list(data["comparisons"][0]) == ["case", "baseline_ratio", "current_ratio", "change_pct", "ci_low_pct",
                                            "ci_high_pct", "threshold_pct", "threshold_reason", "confidence",
                                            "regressed", "improved", "host_change_pct"]
    path = outcome.save(tmp_path / "regress.json")
    with pytest.raises(InferBenchError, match="already exists"):
        outcome.save(path)
    back = RegressOutcome.load(path)
    assert back.comparisons == (slow,) and back.regressed == ("a/b",) and back.memory_contention
    assert back.ratios == {}


def test_verdict_lines():
    slow = compare_ratios("a/b", 1.0, [1.3, 1.31, 1.29, 1.3, 1.32], THRESHOLD)
    ok = compare_ratios("c/d", 1.0, [1.0, 1.01, 0.99, 1.0, 1.0], THRESHOLD)
    assert verdict_lines(RegressOutcome([ok], [], THRESHOLD)) == ["No regression above 10% in 1 cases."]
    [line] = verdict_lines(RegressOutcome([ok, slow], ["a/b"], THRESHOLD))
    assert line.startswith("REGRESSION: a/b is +30.0% vs baseline (95% interval +")
    assert line.endswith("over both measurements), confirmed in a second fresh process.")


def test_a_suspect_is_confirmed_only_when_the_second_process_agrees_and_the_pooled_interval_clears():
    # Baseline constant at 1.0, global threshold 10%: a second process at +30% whose pooled rounds clear it
    # confirms; a second process back at +2% does not, whatever the pooled interval says.
    base = [1.0] * 9
    first = [1.3, 1.05, 1.32, 1.29, 1.02, 1.31, 1.3, 1.28, 1.33]
    second_slow, second_back = [1.3, 1.31, 1.29, 1.3, 1.32, 1.28, 1.3, 1.31, 1.3], [1.02] * 9
    assert confirms(compare_ratios("x", base, second_slow, THRESHOLD),
                    compare_ratios("x", base, first + second_slow, THRESHOLD))
    assert not confirms(compare_ratios("x", base, second_back, THRESHOLD),
                        compare_ratios("x", base, first + [1.3] * 9, THRESHOLD))
    # Both medians above 10% but rounds so spread that the pooled interval reaches below it: not confirmed.
    wide = [0.9, 1.4, 0.95, 1.5, 1.2, 0.92, 1.45, 1.18, 1.16]
    assert not confirms(compare_ratios("x", base, wide, THRESHOLD), compare_ratios("x", base, wide + wide, THRESHOLD))


# --- the A/B pairs and the reference side ---------------------------------------------------------------


def test_pairs_alternate_which_side_runs_first_and_keep_each_sides_time():
    order = []
    pairs = time_pairs(lambda b: order.append(("a", b)), lambda b: order.append(("b", b)), [0, 1, 2],
                       PAIRED_BLOCK, start=1)
    # Pairs of calls on the same batch: a then b, then b then a, ...; consecutive pairs take consecutive batches.
    assert order[:8] == [("a", 1), ("b", 1), ("b", 2), ("a", 2), ("a", 0), ("b", 0), ("b", 1), ("a", 1)]
    assert len(pairs) == len(order) // 2 >= PAIRED_BLOCK.min_calls and all(a > 0 and b > 0 for a, b in pairs)


def test_a_paired_block_is_the_median_of_the_pairs_ratios():
    ratio, reference_ms = paired_block(lambda b: None, lambda b: None, [0], start=0)
    assert ratio > 0 and reference_ms > 0


def test_without_a_known_commit_the_reference_is_the_candidate_and_says_export_changes_are_not_judged():
    candidate = {("simple_cnn", "onnx"): "x.onnx"}
    assert "no git commit" in export_sources_changed("")
    assert "cannot compare with commit 000000000000" in export_sources_changed("0" * 40)
    logged = []
    reference = reference_exports("0" * 40, candidate, logged.append)
    assert reference.paths == candidate and "export changes not judged" in reference.source
    assert logged and logged[0].startswith("  warning: git cannot compare")


def test_the_reference_call_computes_what_the_runtime_adapter_computes():
    paths = fast_set_artifacts(log=lambda m: None, models=["simple_cnn"])
    x = np.random.default_rng(0).random((8, 28, 28, 1), dtype=np.float32)
    for fmt, runtime in (("onnx", "onnxruntime"), ("tflite", "litert")):
        run = reference_run(runtime, paths[("simple_cnn", fmt)], threads=1, batch=8)
        session = get_runtime(runtime).load(paths[("simple_cnn", fmt)], LoadOptions(threads=1))
        np.testing.assert_allclose(run(x), session.run(x), rtol=1e-5, atol=1e-6)
        session.close()
    with pytest.raises(InferBenchError, match="no reference call for runtime 'openvino'"):
        reference_run("openvino", paths[("simple_cnn", "onnx")], 1, 1)


def test_the_baseline_of_this_machine_is_found_among_several(tmp_path):
    from infer_bench.regress.baselines import baseline_for_machine, machine_slug

    src = Path(__file__).resolve().parents[1] / "benchmarks" / "baseline.json"
    raw = json.loads(src.read_text())
    epyc, xeon = dict(raw), dict(raw)
    xeon["environment"] = {**raw["environment"], "cpu_model": "Intel(R) Xeon(R) Processor"}
    (tmp_path / "baseline.json").write_text(json.dumps(epyc))
    (tmp_path / "baseline-intel-r-xeon-r-processor-2c.json").write_text(json.dumps(xeon))
    here = {**raw["environment"], "cpu_model": "Intel(R) Xeon(R) Processor"}
    threads = raw["threads"]
    assert baseline_for_machine(tmp_path, here, threads).name == "baseline-intel-r-xeon-r-processor-2c.json"
    assert baseline_for_machine(tmp_path, raw["environment"], threads).name == "baseline.json"
    other = {**here, "cpu_model": "Ampere Altra", "logical_cores": 4}
    with pytest.raises(InferBenchError, match=r"No regression baseline .* \(Ampere Altra, 4 cores") as info:
        baseline_for_machine(tmp_path, other, threads)
    assert "baseline.json: AMD EPYC" in info.value.problem and "--update-baseline" in info.value.fix
    assert baseline_for_machine(tmp_path, other, threads, update=True).name == f"baseline-{machine_slug(other)}.json"
    newer = {**here, "packages": {**here["packages"], "onnxruntime-gpu": "9.9.9"}}
    with pytest.raises(InferBenchError, match="recorded on this CPU but another setup: onnxruntime-gpu differs"):
        baseline_for_machine(tmp_path, newer, threads)
