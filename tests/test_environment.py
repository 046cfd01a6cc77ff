"""Environment capture: required keys, robustness when sources are missing, caching."""

import json

import pytest

from infer_bench import environment as env
from infer_bench.environment import capture_environment, cpu_info, environment_differences, memory_total_mb

REQUIRED = set(
    "cpu_model cpu_flags logical_cores usable_cores memory_total_mb gpu platform python"
    " packages onnxruntime_providers openvino threads hostname git_commit".split()
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
    assert set(e["packages"]) >= {"tensorflow", "keras", "onnx", "onnxruntime-gpu", "tf2onnx", "ai-edge-litert",
                                  "numpy", "openvino", "nncf"}
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
    assert info["flags"] == dict(avx2=True, avx512f=True, avx512_vnni=True, avx_vnni=False, avx512_bf16=False,
                                 avx512_fp16=False, amx_bf16=False, amx_int8=False, amx_tile=True, amx=True, fma=True)


# The flags line of an Intel Xeon with AMX (Sapphire Rapids), as /proc/cpuinfo writes it (abridged).
XEON_AMX_FLAGS = ("fpu sse sse2 avx avx2 fma avx512f avx512dq avx512cd avx512bw avx512vl avx512_bf16 avx_vnni "
                  "avx512_vnni avx512_fp16 amx_bf16 amx_tile amx_int8 avx512_vbmi")
EPYC_FLAGS = "fpu sse sse2 pni ssse3 fma sse4_1 sse4_2 avx f16c avx2 bmi2"


@pytest.mark.parametrize("flags_line, expected", [
    (XEON_AMX_FLAGS, dict(avx512_bf16=True, avx512_fp16=True, amx_bf16=True, amx_int8=True, amx_tile=True,
                          avx512_vnni=True, avx_vnni=True, amx=True)),
    (EPYC_FLAGS, dict(avx512_bf16=False, avx512_fp16=False, amx_bf16=False, amx_int8=False, amx_tile=False,
                      avx512_vnni=False, avx_vnni=False, amx=False)),
])
def test_cpuinfo_names_the_bf16_int8_and_amx_flags(tmp_path, flags_line, expected):
    p = tmp_path / "cpuinfo"
    p.write_text(f"processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: {flags_line}\n")
    flags = cpu_info(p)["flags"]
    assert {k: flags[k] for k in expected} == expected
    assert flags["avx2"] and flags["fma"]


def test_capture_records_openvino_and_its_cpu_capabilities():
    e = capture_environment()
    json.dumps(e)
    assert e["packages"]["openvino"] and e["packages"]["nncf"]
    ov = e["openvino"]
    assert ov["version"].startswith(e["packages"]["openvino"])
    assert "CPU" in ov["devices"]
    assert "FP32" in ov["cpu_capabilities"] and "INT8" in ov["cpu_capabilities"]
    # OpenVINO reports BF16 exactly where the CPU has native bf16 (AVX512-BF16 / AMX-BF16).
    flags = e["cpu_flags"] or {}
    if not (flags.get("avx512_bf16") or flags.get("amx_bf16")):
        assert "BF16" not in ov["cpu_capabilities"]


def test_no_openvino_gives_none(monkeypatch):
    from infer_bench.runtimes import openvino_rt

    def broken():
        raise ImportError("no openvino here")

    monkeypatch.setattr(openvino_rt, "openvino_module", broken)
    openvino_rt._core.cache_clear()
    openvino_rt.cpu_capabilities.cache_clear()
    try:
        assert env.capture_environment()["openvino"] is None
    finally:
        openvino_rt._core.cache_clear()
        openvino_rt.cpu_capabilities.cache_clear()


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
