"""Which committed baseline belongs to this machine: one file per machine setup in ``benchmarks/``.

A baseline's ratios are only comparable on the machine setup that recorded them
(CPU, core count, library versions, threads: ``Baseline.check_machine``), and the
project's CI has run on more than one kind of 2-core machine (an AVX2 AMD EPYC and
an AMX Intel Xeon). So ``benchmarks/`` holds one baseline per setup
(``baseline.json``, ``baseline-<cpu>-<cores>c.json``) and ``regress`` without
``--baseline`` uses the one recorded here. An explicit ``--baseline PATH`` is
used as given, never replaced.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import InferBenchError
from ..results.machine import machine_differences
from ..results.regress import UPDATE_BASELINE, Baseline, kept_environment

BASELINE_DIR = Path("benchmarks")
PATTERN = "baseline*.json"


def machine_slug(environment: dict) -> str:
    """"intel-r-xeon-r-processor-2c" from the CPU model and core count (a file name part)."""
    cpu = re.sub(r"[^a-z0-9]+", "-", str(environment.get("cpu_model") or "unknown-cpu").lower()).strip("-")
    return f"{cpu}-{environment.get('logical_cores') or '?'}c"


def _differences(baseline: Baseline, environment: dict, threads: int) -> list[str]:
    recorded = {**baseline.environment, "threads": baseline.threads}
    return machine_differences(recorded, {**kept_environment(environment), "threads": threads})


def baselines_in(folder: Path) -> list[tuple[Path, Baseline | None, str]]:
    """Every ``baseline*.json`` in ``folder`` with its loaded baseline, or None and why it could not be read."""
    out = []
    for path in sorted(Path(folder).glob(PATTERN)):
        try:
            out.append((path, Baseline.load(path), ""))
        except InferBenchError as exc:
            out.append((path, None, exc.problem))
    return out


def baseline_for_machine(folder: Path, environment: dict, threads: int, update: bool = False) -> Path:
    """The baseline in ``folder`` recorded on this machine setup.

    With ``update``, where to record one: that file, or ``baseline-<machine>.json``
    when this setup has none yet. Without, a setup with no baseline is an error
    naming the setups there are.
    """
    found = baselines_in(folder)
    for path, baseline, _ in found:
        if baseline is not None and not _differences(baseline, environment, threads):
            return path
    if update:
        return Path(folder) / f"baseline-{machine_slug(environment)}.json"
    here = (f"{environment.get('cpu_model')}, {environment.get('logical_cores')} cores, {threads} thread(s)")
    for path, baseline, _ in found:  # the same CPU with other libraries or threads: say exactly what differs
        if baseline is not None and not any(d.startswith(("cpu model", "logical cores"))
                                            for d in _differences(baseline, environment, threads)):
            raise InferBenchError(f"{path} was recorded on this CPU but another setup: "
                                  f"{'; '.join(_differences(baseline, environment, threads))}.",
                                  f"record it again with `{UPDATE_BASELINE}` (add the same --threads; commit it if "
                                  "this is the CI machine), or run where it was recorded.")
    known = "; ".join(
        f"{p.name}: {b.environment.get('cpu_model')}, {b.environment.get('logical_cores')} cores, {b.threads} "
        f"thread(s)" if b is not None else f"{p.name}: unreadable ({why})" for p, b, why in found) or "none"
    raise InferBenchError(
        f"No regression baseline in {folder}/ was recorded on this machine setup ({here}); there: {known}.",
        f"record one with `{UPDATE_BASELINE}` (a few minutes; commit it if this is the CI machine), or pass "
        "--baseline PATH.")
