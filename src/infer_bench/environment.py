"""What machine and software a run happened on, captured once per process.

Everything here is best effort: a missing ``/proc`` file, no ``nvidia-smi``,
no git checkout or a package that is not installed gives ``None`` for that
entry, never an exception. TensorFlow is not imported (it takes seconds);
package versions come from installed distribution metadata. OpenVINO is
asked for its version, devices and CPU capabilities (it starts in about a
second): they say which precisions its CPU plugin can execute here.
"""

from __future__ import annotations

import copy
import functools
import importlib.metadata
import os
import platform
import shutil
import socket
import subprocess
import sys
from pathlib import Path

from .runtimes import openvino_rt

# CPU flags that decide which kernels the runtimes can use (XNNPACK, oneDNN, MLAS): bf16 needs
# avx512_bf16 or amx_bf16, fast int8 needs a VNNI flag or amx_int8, fp16 compute avx512_fp16.
CPU_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "avx512_fp16", "amx_bf16", "amx_int8",
             "amx_tile", "amx", "fma")
# Distributions whose versions are recorded (distribution names, not module names).
PACKAGES = ("tensorflow", "keras", "onnx", "onnxruntime-gpu", "tf2onnx", "ai-edge-litert", "openvino", "nncf", "numpy",
            "infer-bench")
# Environment variables that change how many threads the runtimes use, or which GPU.
THREAD_ENV_VARS = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "TF_NUM_INTRAOP_THREADS",
    "TF_NUM_INTEROP_THREADS",
    "CUDA_VISIBLE_DEVICES",
)
SUBPROCESS_TIMEOUT_S = 10

_CPUINFO = Path("/proc/cpuinfo")
_MEMINFO = Path("/proc/meminfo")


def cpu_info(path: Path = _CPUINFO) -> dict:
    """CPU model name and the flags of interest, from ``/proc/cpuinfo``.

    ``flags`` is None when the file or its flags line is missing (unknown,
    which is different from "absent"). ``amx`` is true if any ``amx_*`` flag is;
    the named ones (``amx_bf16``, ``amx_int8``, ``amx_tile``) say which.
    """
    model, flags = None, None
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        text = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if model is None and key in ("model name", "hardware", "cpu model"):
            model = value.strip() or None
        elif flags is None and key in ("flags", "features"):  # x86 says flags, ARM says Features
            flags = set(value.split())
    if model is None:
        model = platform.processor() or None
    found = None
    if flags is not None:
        found = {f: (any(x.startswith("amx") for x in flags) if f == "amx" else f in flags) for f in CPU_FLAGS}
    return {"model": model, "flags": found}


def memory_total_mb(path: Path = _MEMINFO) -> float | None:
    """Total memory in MB (2**20 bytes), from ``/proc/meminfo`` or sysconf."""
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024  # the value is in KiB
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20
    except (ValueError, OSError, AttributeError):
        return None


def _run(cmd: list[str], cwd: str | None = None) -> str | None:
    """stdout of ``cmd`` stripped, or None if it is missing, fails or hangs."""
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT_S, cwd=cwd)
    except (OSError, subprocess.SubprocessError):
        return None
    return p.stdout.strip() if p.returncode == 0 else None


def gpu_info() -> dict | None:
    """``{"name", "driver_version", "count"}`` of the NVIDIA GPUs via nvidia-smi, or None."""
    if shutil.which("nvidia-smi") is None:
        return None
    out = _run(["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"])
    rows = [[c.strip() for c in line.split(",")] for line in (out or "").splitlines() if line.strip()]
    rows = [r for r in rows if len(r) >= 2]
    if not rows:
        return None
    return {"name": rows[0][0], "driver_version": rows[0][1], "count": len(rows)}


def package_versions() -> dict[str, str | None]:
    """Installed version of each distribution in ``PACKAGES`` (None if not installed)."""
    out = {}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def onnxruntime_providers() -> list[str] | None:
    """ONNX Runtime's available execution providers, or None if it cannot be imported."""
    try:
        import onnxruntime  # lazy: only this entry needs it

        return list(onnxruntime.get_available_providers())
    except Exception:  # any import problem just means "unknown" here
        return None


def git_info(path: Path | None = None) -> dict:
    """Commit and dirtiness of the checkout holding this package (None outside git)."""
    cwd = str(path or Path(__file__).resolve().parent)
    commit = _run(["git", "rev-parse", "HEAD"], cwd=cwd)
    dirty = None
    if commit:
        status = _run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd)
        dirty = None if status is None else bool(status)
    return {"commit": commit, "dirty": dirty}


def _usable_cores() -> int | None:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on every platform
        return None


@functools.lru_cache(maxsize=None)
def _capture(threads: int | None) -> dict:
    cpu = cpu_info()
    git = git_info()
    return {
        "cpu_model": cpu["model"],
        "cpu_flags": cpu["flags"],
        "logical_cores": os.cpu_count(),
        "usable_cores": _usable_cores(),
        "memory_total_mb": memory_total_mb(),
        "gpu": gpu_info(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "packages": package_versions(),
        "onnxruntime_providers": onnxruntime_providers(),
        "openvino": openvino_rt.device_info(),
        "threads": {"requested": threads, "env": {k: os.environ.get(k) for k in THREAD_ENV_VARS}},
        "hostname": socket.gethostname(),
        "git_commit": git["commit"],
        "git_dirty": git["dirty"],
        "argv": list(sys.argv),
    }


def capture_environment(threads: int | None = None) -> dict:
    """The environment of this run as a JSON-ready dict (cached per process).

    ``threads`` is the thread count the run asked the runtimes for (None = all
    cores). Keys: cpu_model, cpu_flags, logical_cores, usable_cores,
    memory_total_mb, gpu, platform, machine, python, python_implementation,
    packages, onnxruntime_providers, openvino (version, devices, cpu_capabilities,
    cpu_name; None without OpenVINO), threads, hostname, git_commit, git_dirty, argv.
    """
    # A copy, so a caller editing its dict cannot change what later callers get.
    return copy.deepcopy(_capture(threads))


# Keys whose difference makes two runs' timings not comparable.
_COMPARABLE_KEYS = ("cpu_model", "gpu", "python", "packages", "threads")


def environment_differences(a: dict, b: dict) -> list[str]:
    """Plain-words list of differences that make timings from ``a`` and ``b`` hard to compare."""
    out = []
    for key in _COMPARABLE_KEYS:
        va, vb = a.get(key), b.get(key)
        if key == "packages" and isinstance(va, dict) and isinstance(vb, dict):
            for name in sorted(set(va) | set(vb)):
                if va.get(name) != vb.get(name):
                    out.append(f"{name} differs: {va.get(name)} vs {vb.get(name)}")
        elif va != vb:
            out.append(f"{key.replace('_', ' ')} differs: {va} vs {vb}")
    return out
