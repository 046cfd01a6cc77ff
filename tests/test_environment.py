"""Environment capture: required keys, robustness when sources are missing, caching."""

import json

import pytest

from infer_bench import environment as env
from infer_bench.environment import capture_environment, cpu_info, environment_differences, memory_total_mb

REQUIRED = set(
    "cpu_model cpu_flags logical_cores usable_cores memory_total_mb gpu platform python"
    " packages onnxruntime_providers threads hostname git_commit".split()
)


@pytest.fixture(autouse=True)
def fresh_cache():
    env._capture.cache_clear()
    yield
    env._capture.cache_clear()


def test_capture_has_required_keys_and_is_json():
    e = capture_environment(threads=4)
    assert REQUIRED <= set(e)
    json.dumps(e)  # JSON-ready
    assert e["threads"]["requested"] == 4
    assert "OMP_NUM_THREADS" in e["threads"]["env"]
    assert e["logical_cores"] >= 1
    assert set(e["packages"]) >= {"tensorflow", "keras", "onnx", "onnxruntime-gpu", "tf2onnx", "ai-edge-litert", "numpy"}
    assert e["packages"]["numpy"]  # installed here
    assert e["python"].startswith("3.")


def test_capture_does_not_import_tensorflow():
    import subprocess
    import sys

    code = "import sys; from infer_bench.environment import capture_environment as c; c(); print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "False"


def test_capture_is_cached_and_copies(monkeypatch):
    calls = []
    real = env.gpu_info
    monkeypatch.setattr(env, "gpu_info", lambda: calls.append(1) or real())
    a = capture_environment()
    a["hostname"] = "changed"
    b = capture_environment()
    assert len(calls) == 1  # captured once
    assert b["hostname"] != "changed"  # callers cannot change the cached copy
    capture_environment(threads=2)
    assert len(calls) == 2  # a different thread request is a different capture


def test_no_nvidia_smi_gives_none(monkeypatch):
    monkeypatch.setattr(env.shutil, "which", lambda name: None)
    assert env.gpu_info() is None


def test_nvidia_smi_output_parsed(monkeypatch):
    monkeypatch.setattr(env.shutil, "which", lambda name: "/usr/bin/nvidia-smi")
    monkeypatch.setattr(env, "_run", lambda cmd, cwd=None: "NVIDIA H200, 580.65.06\nNVIDIA H200, 580.65.06")
    assert env.gpu_info() == {"name": "NVIDIA H200", "driver_version": "580.65.06", "count": 2}
    monkeypatch.setattr(env, "_run", lambda cmd, cwd=None: None)  # nvidia-smi failed
    assert env.gpu_info() is None


def test_run_never_fails():
    assert env._run(["definitely-not-a-command-xyz"]) is None
    assert env._run(["false"]) is None


def test_cpuinfo_flags(tmp_path):
    p = tmp_path / "cpuinfo"
    p.write_text(
        "processor\t: 0\nmodel name\t: Fancy CPU 9000\nflags\t\t: fpu sse avx2 fma avx512f avx512_vnni amx_tile\n\n"
        "processor\t: 1\nmodel name\t: Fancy CPU 9000\nflags\t\t: fpu\n"
    )
    info = cpu_info(p)
    assert info["model"] == "Fancy CPU 9000"
    assert info["flags"] == dict(avx2=True, avx512f=True, avx512_vnni=True, avx_vnni=False, amx=True, fma=True)


def test_cpuinfo_missing_is_not_an_error(tmp_path):
    info = cpu_info(tmp_path / "nope")
    assert info["flags"] is None
    assert "model" in info


def test_meminfo(tmp_path):
    p = tmp_path / "meminfo"
    p.write_text("MemTotal:       16384000 kB\nMemFree: 1 kB\n")
    assert memory_total_mb(p) == pytest.approx(16000.0)
    # missing file: falls back to sysconf (or None), never raises
    v = memory_total_mb(tmp_path / "nope")
    assert v is None or v > 0


def test_git_info_outside_a_checkout(tmp_path):
    assert env.git_info(tmp_path) == {"commit": None, "dirty": None}


def test_environment_differences():
    a = {"cpu_model": "A", "python": "3.11.1", "packages": {"numpy": "2.4.6"}, "threads": {"requested": 4}}
    b = {"cpu_model": "B", "python": "3.11.1", "packages": {"numpy": "2.5.0"}, "threads": {"requested": 4}}
    assert environment_differences(a, a) == []
    assert environment_differences(a, b) == ["cpu model differs: A vs B", "numpy differs: 2.4.6 vs 2.5.0"]
