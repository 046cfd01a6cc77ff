"""Whether two results were taken on the same machine, and refusing to compare them when not.

Timings from different CPUs, core counts, library versions or thread
settings are not comparable (pyperf refuses to merge such runs for the same
reason). Every comparison of two result files goes through ``require_same_machine``.
"""

from __future__ import annotations

from ..errors import InferBenchError

# Environment keys whose difference makes two files' timings incomparable.
COMPARABLE_KEYS = ("cpu_model", "logical_cores", "gpu", "python", "packages", "threads")


def _threads(value, requested: bool = True):
    # The threads block holds the count asked for (None = all cores) and the thread
    # environment variables; both change what runs, so both are compared.
    keys = ("requested", "env") if requested else ("env",)
    return value if not isinstance(value, dict) else {k: value.get(k) for k in keys}


def machine_differences(a: dict, b: dict, requested_threads: bool = True) -> list[str]:
    """Plain-words list of the differences between two environment blocks that make timings incomparable.

    A key missing from either block is not counted as a difference (older
    files lack some keys); a key present in both with other values is.
    ``requested_threads=False`` leaves the thread count asked for out (the thread
    environment variables still count): for records that vary the threads
    themselves and say per result what ran (a LoadGen search, ``bench --sweep``).
    """
    out = []
    for key in COMPARABLE_KEYS:
        if key not in a or key not in b:
            continue
        va, vb = a[key], b[key]
        if key == "threads":
            va, vb = _threads(va, requested_threads), _threads(vb, requested_threads)
        if key == "packages" and isinstance(va, dict) and isinstance(vb, dict):
            for name in sorted(set(va) | set(vb)):
                if name in va and name in vb and va[name] != vb[name]:
                    out.append(f"{name} differs: {va[name]} vs {vb[name]}")
        elif va != vb:
            out.append(f"{key.replace('_', ' ')} differs: {va} vs {vb}")
    return out


def require_same_machine(a: dict, b: dict, a_name: str, b_name: str) -> None:
    """Raise an InferBenchError naming every differing field when ``a`` and ``b`` come from different machines."""
    diffs = machine_differences(a, b)
    if diffs:
        raise InferBenchError(
            f"{a_name} and {b_name} were not measured on the same machine setup ({'; '.join(diffs)}); "
            "their timings cannot be compared.",
            "measure both on the same machine with the same packages and --threads.")
