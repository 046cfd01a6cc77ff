"""The regression comparison on synthetic samples: no change, 25% slower, noisy, faster/slower machines."""

import json

import numpy as np
import pytest

from infer_bench.contention import MemoryContention, require_spare_core
from infer_bench.errors import InferBenchError
from infer_bench.regress import (FAST_SET, baseline_dict, case_id, compare_ratios, load_baseline,
                                 measure_in_fresh_process, outcome_rows, RegressOutcome, with_slowdown)

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
    per_process = [{n: [1.0, 1.0, 1.0] for n in names}, {n: [1.3, 1.3, 1.3] for n in names}]
    contended = [{n: [1.1, 1.1, 1.1] for n in names}, {n: [1.2] for n in names}]
    data = baseline_dict(per_process, contended, threads=1, rounds=3, environment={"cpu_model": "x"})
    entry = data["cases"][names[0]]
    assert entry["ratios"] == [1.0, 1.0, 1.0, 1.3, 1.3, 1.3] and entry["ratio"] == pytest.approx(1.15)
    assert entry["process_medians"] == [1.0, 1.3] and entry["contended_medians"] == [1.1, 1.2]
    assert data["processes"] == 2 and data["contended_processes"] == 2
    assert entry["machine_allowance_pct"] == pytest.approx(13.0, abs=0.1)  # the slowest process: a quiet one here
    quiet_contended = baseline_dict(per_process[:1], [{n: [0.9] for n in names}], 1, 3, {})
    assert quiet_contended["cases"][names[0]]["machine_allowance_pct"] == 0.0  # never negative


def test_baseline_round_trip_and_refusals(tmp_path):
    names = [case_id(c) for c in FAST_SET]
    data = baseline_dict([{n: [1.0, 1.1, 0.9] for n in names}], [{n: [1.2] for n in names}], threads=1, rounds=3,
                         environment={"cpu_model": "x"})
    path = tmp_path / "b.json"
    path.write_text(json.dumps(data))
    loaded = load_baseline(path)
    assert loaded["cases"][names[0]]["ratio"] == 1.0
    with pytest.raises(InferBenchError, match="update-baseline"):
        load_baseline(tmp_path / "missing.json")
    path.write_text(json.dumps({**data, "schema_version": 99}))
    with pytest.raises(InferBenchError, match="schema_version 99"):
        load_baseline(path)
    broken = json.loads(json.dumps(data))
    del broken["cases"][names[0]]["machine_allowance_pct"]
    path.write_text(json.dumps(broken))
    with pytest.raises(InferBenchError, match="machine_allowance_pct"):
        load_baseline(path)


def test_memory_contention_runs_inside_the_block_only():
    with MemoryContention(mib=8) as contention:
        proc = contention.proc
        assert contention.running()
    assert proc.poll() is not None and not contention.running()


def test_contention_needs_a_spare_core(monkeypatch):
    monkeypatch.setattr("infer_bench.contention.os.cpu_count", lambda: 1)
    with pytest.raises(InferBenchError, match="needs a core beside the 1 being timed"):
        require_spare_core(1, "--memory-contention")


def test_a_failing_measurement_process_reports_why():
    with pytest.raises(InferBenchError, match="Unknown fast-set case 'no/such/case'"):
        measure_in_fresh_process(["no/such/case"], rounds=3, threads=1)


def test_a_fresh_process_measures_real_sessions_under_contention():
    # End to end through the worker, as --update-baseline and the confirmation run it (builds the
    # simple_cnn fast-set exports into .cache/regress once, which the CI gate then reuses).
    cases = ["simple_cnn/onnx/fp32/onnxruntime/b1", "simple_cnn/tflite/fp32/litert/b1"]
    ratios = measure_in_fresh_process(cases, rounds=3, threads=1, with_contention=True,
                                      slowdowns={cases[0]: 0.1})
    assert set(ratios) == set(cases)
    assert all(len(r) == 3 and all(x > 0 for x in r) for r in ratios.values())


def test_output_names_the_regressed_case_and_the_confidence():
    slow = compare_ratios("a/b", 1.0, [1.3, 1.31, 1.29, 1.3, 1.32], THRESHOLD)
    ok = compare_ratios("c/d", 1.0, [1.0, 1.01, 0.99, 1.0, 1.0], THRESHOLD)
    wide = compare_ratios("e/f", 1.0, [1.3, 1.31, 1.29, 1.3, 1.32], THRESHOLD, allowance_pct=45.0)
    rows = outcome_rows(RegressOutcome([ok, slow, wide], ["a/b"], {}), THRESHOLD)
    assert rows[0][0] == "a/b" and rows[0][-1].startswith("REGRESSED (confidence 100% that it is > 10% slower")
    assert rows[0][-2] == "10%" and rows[1][-2] == "45% (machine)" and rows[1][-1] == "ok"
    assert rows[2][-1] == "ok"


def test_with_slowdown_keeps_the_output():
    slowed = with_slowdown(lambda x: x * 2, 0.25)
    assert slowed(3) == 6


def test_committed_baseline_covers_the_fast_set():
    from pathlib import Path

    baseline = load_baseline(Path(__file__).resolve().parents[1] / "benchmarks" / "baseline.json")
    assert set(baseline["cases"]) == {case_id(c) for c in FAST_SET}
