"""One LoadGen test: a SUT and a sample library in, LoadGen's verdict and its log folder out."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import InferBenchError
from .qsl import SampleLibrary
from .settings import ScenarioSettings
from .summary import LoadGenSummary, read_summary


def import_loadgen():
    """The ``mlperf_loadgen`` module, or an error naming the package that provides it."""
    try:
        import mlperf_loadgen
    except ImportError as exc:
        raise InferBenchError(f"MLPerf LoadGen's Python bindings are not installed ({exc}).",
                              "pip install mlcommons-loadgen==6.0.17 (or reinstall infer-bench).") from None
    return mlperf_loadgen


@dataclass(frozen=True)
class LoadGenRun:
    """A finished test: its summary, where its logs are, and how long it took."""

    summary: LoadGenSummary
    log_dir: Path
    seconds: float


def new_log_dir(path: Path) -> Path:
    """Create ``path`` for one run's logs; an existing folder is refused (LoadGen would overwrite its logs)."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=False)
    except FileExistsError:
        raise InferBenchError(f"{path} already exists; LoadGen logs are never written over.",
                              "choose another --results-dir, or remove the folder first.") from None
    return path


def run_loadgen(sut, samples: SampleLibrary, settings: ScenarioSettings, log_dir: Path) -> LoadGenRun:
    """Run LoadGen on ``sut`` (an object with ``issue``, ``flush`` and ``raise_error``), keeping its logs
    (``mlperf_log_summary.txt``, ``mlperf_log_detail.txt``) in the new folder ``log_dir``.

    A runtime error inside the SUT is raised after LoadGen returns (the SUT answers every query
    whatever happens, so LoadGen never waits forever)."""
    lg = import_loadgen()
    log_dir = new_log_dir(log_dir)
    log = lg.LogSettings()
    log.log_output.outdir = str(log_dir)
    log.log_output.copy_summary_to_stdout = False
    log.enable_trace = False  # the trace is megabytes per second of run and nothing here reads it
    sut_handle = lg.ConstructSUT(sut.issue, sut.flush)
    qsl_handle = samples.construct(lg)
    start = time.perf_counter()
    try:
        lg.StartTestWithLogSettings(sut_handle, qsl_handle, settings.to_loadgen(lg), log)
    finally:
        seconds = time.perf_counter() - start
        lg.DestroyQSL(qsl_handle)
        lg.DestroySUT(sut_handle)
    sut.raise_error()
    return LoadGenRun(read_summary(log_dir), log_dir, seconds)
