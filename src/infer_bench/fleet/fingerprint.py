"""A machine's hardware fingerprint, derived from an environment block (pure).

Two result sets are comparable only if they come from the same fingerprint:
the same CPU model and instruction-set flags, core count, memory, GPUs, Python
and library versions. The fingerprint is computed from the environment block
that ``environment.capture_environment`` writes into every results file, so a
local ``bench`` file and a fleet record from the same machine get the same
fingerprint and can be merged; a node of another kind never can.

Memory is rounded to whole GiB: ``MemTotal`` moves by a few MiB between
kernels and boots of one machine, which changes no timing.
"""

from __future__ import annotations

import hashlib
import json

FINGERPRINT_CHARS = 16  # hex characters of the sha256 kept as the fingerprint id (64 bits: no accidental clash)
# The fields, in the order differences are named.
FIELDS = ("cpu_model", "cpu_flags_sha256", "logical_cores", "memory_gib", "gpu_names", "python", "packages")


def _flags_hash(flags) -> str | None:
    """sha256 of the CPU flags the environment recorded (sorted, only those present), None if unknown."""
    if not isinstance(flags, dict):
        return None
    on = sorted(k for k, v in flags.items() if v)
    return hashlib.sha256(",".join(on).encode()).hexdigest()[:FINGERPRINT_CHARS]


def _gpu_names(gpu) -> list[str]:
    """GPU names as a list (one entry per device), empty without a GPU."""
    if not isinstance(gpu, dict) or not gpu.get("name"):
        return []
    return [str(gpu["name"])] * int(gpu.get("count") or 1)


def fingerprint_fields(environment: dict) -> dict:
    """The fields of ``environment`` that decide whether timings are comparable (see ``FIELDS``)."""
    memory = environment.get("memory_total_mb")
    packages = environment.get("packages") or {}
    return {
        "cpu_model": environment.get("cpu_model"),
        "cpu_flags_sha256": _flags_hash(environment.get("cpu_flags")),
        "logical_cores": environment.get("logical_cores"),
        "memory_gib": None if not isinstance(memory, (int, float)) else round(memory / 1024),
        "gpu_names": _gpu_names(environment.get("gpu")),
        "python": environment.get("python"),
        # infer-bench itself is left out: its version says nothing about the machine (the commit is recorded apart).
        "packages": {k: v for k, v in sorted(packages.items()) if k != "infer-bench"},
    }


def fingerprint_id(fields: dict) -> str:
    """A short stable id of ``fields``: the sha256 of their canonical JSON."""
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:FINGERPRINT_CHARS]


def fingerprint_of(environment: dict) -> tuple[str, dict]:
    """(id, fields) of the machine that wrote ``environment``."""
    fields = fingerprint_fields(environment)
    return fingerprint_id(fields), fields


def fingerprint_differences(a: dict, b: dict) -> list[str]:
    """Plain-words differences between two fingerprints' fields ("numpy: 2.4.6 vs 2.3.0"), [] when equal."""
    out = []
    for key in FIELDS:
        va, vb = a.get(key), b.get(key)
        if key == "packages" and isinstance(va, dict) and isinstance(vb, dict):
            out += [f"{name}: {va.get(name)} vs {vb.get(name)}" for name in sorted(set(va) | set(vb))
                    if va.get(name) != vb.get(name)]
        elif va != vb:
            out.append(f"{key}: {va} vs {vb}")
    return out
