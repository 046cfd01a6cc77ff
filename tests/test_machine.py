"""Results from different machines are never compared: the refusal names the differing fields."""

import subprocess
import sys
from pathlib import Path

import pytest

from infer_bench.errors import InferBenchError
from infer_bench.results import ResultsFile, load_results, machine_differences, require_same_machine, save_results

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data" / "results_small.json"
HERE = {"cpu_model": "Intel(R) Xeon(R) Processor", "logical_cores": 2, "python": "3.11.7",
        "packages": {"numpy": "2.4.6", "onnxruntime-gpu": "1.31.1"}, "threads": {"requested": 2, "env": {}},
        "hostname": "a", "git_commit": "abc"}


def test_same_machine_has_no_differences_whatever_the_host_name_or_commit():
    other_host = {**HERE, "hostname": "b", "git_commit": "def"}
    assert machine_differences(HERE, other_host) == []
    require_same_machine(HERE, other_host, "a.json", "b.json")


def test_every_differing_field_is_named():
    there = {**HERE, "cpu_model": "AMD EPYC", "logical_cores": 4,
             "packages": {"numpy": "2.5.0", "onnxruntime-gpu": "1.31.1"}, "threads": {"requested": None, "env": {}}}
    diffs = machine_differences(HERE, there)
    assert diffs == ["cpu model differs: Intel(R) Xeon(R) Processor vs AMD EPYC", "logical cores differs: 2 vs 4",
                     "numpy differs: 2.4.6 vs 2.5.0",
                     "threads differs: {'requested': 2, 'env': {}} vs {'requested': None, 'env': {}}"]
    with pytest.raises(InferBenchError) as err:
        require_same_machine(HERE, there, "a.json", "b.json")
    text = str(err.value)
    assert "a.json and b.json" in text and "cpu model" in text and "numpy" in text and "logical cores" in text


def test_records_that_vary_the_threads_themselves_compare_only_the_thread_variables():
    # A LoadGen search or a sweep asks for its own thread counts and records what ran per result.
    search = {**HERE, "threads": {"requested": 2, "env": {}}}
    bench = {**HERE, "threads": {"requested": None, "env": {}}}
    assert machine_differences(bench, search) and not machine_differences(bench, search, requested_threads=False)
    pinned = {**HERE, "threads": {"requested": 2, "env": {"OMP_NUM_THREADS": "1"}}}
    assert machine_differences(bench, pinned, requested_threads=False) == [
        "threads differs: {'env': {}} vs {'env': {'OMP_NUM_THREADS': '1'}}"]


def test_a_key_only_one_file_has_is_not_a_difference():
    # Older files lack some keys; only a key both carry with other values makes them incomparable.
    assert machine_differences({"cpu_model": "X"}, {"cpu_model": "X", "python": "3.11.7"}) == []


def test_compare_runs_refuses_files_from_two_machines(tmp_path):
    here = load_results(DATA)
    a = save_results(ResultsFile(environment=HERE, results=here.results, created=here.created), tmp_path / "a")
    b = save_results(ResultsFile(environment={**HERE, "cpu_model": "AMD EPYC"}, results=here.results,
                                 created=here.created), tmp_path / "b")
    same = subprocess.run([sys.executable, str(REPO / "scripts" / "compare_runs.py"), str(a), str(a)],
                          capture_output=True, text=True)
    assert same.returncode == 0, same.stderr
    mixed = subprocess.run([sys.executable, str(REPO / "scripts" / "compare_runs.py"), str(a), str(b)],
                           capture_output=True, text=True)
    assert mixed.returncode == 2
    assert "cpu model differs: Intel(R) Xeon(R) Processor vs AMD EPYC" in mixed.stderr
