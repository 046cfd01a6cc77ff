"""One LoadGen test: a SUT and a sample library in, LoadGen's verdict and its log folder out.

A stop signal (Ctrl-C, SIGTERM) must never reach LoadGen's C++ code. The CLI turns
both into a KeyboardInterrupt raised in the main thread; raised inside a SUT
callback, it would unwind ``StartTest`` as a C++ exception while LoadGen's logger
thread still logs the samples being completed, and while the sample ids the SUT
holds point into LoadGen's freed query storage: a segfault in ``Logger::IOThread``,
``std::bad_function_call``, or ``std::terminate`` from the logger's static
destructor at exit. So the test runs in a thread of its own and the main thread
only waits for it: the signal lands there. Then the SUT answers every sample at
once without running the model, the runs in flight end, and LoadGen gets
``GRACE_S`` to end its test; a test that needs longer (a 600 s ``--mlperf`` run) is
abandoned and ``end_interrupted`` ends the process without the interpreter's
teardown, the one exit that does not destroy LoadGen under its running threads.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import InferBenchError
from .qsl import SampleLibrary
from .settings import ScenarioSettings
from .summary import LoadGenSummary, read_summary

GRACE_S = 3.0  # after a stop signal, how long LoadGen may take to end its test (on instant answers)
INTERRUPTED_STATUS = 130  # what the CLI answers any interrupt with (cli.main)
INTERRUPTED_SUFFIX = "-interrupted"  # an interrupted run's log folder: its summary describes no real run


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


class LoadGenInterrupted(KeyboardInterrupt):
    """A stop signal arrived during a LoadGen test.

    ``what``: the run interrupted; ``log_dir``: its partial logs (renamed ``*-interrupted``);
    ``abandoned``: LoadGen's test was still running when this was raised, so the process
    must end through ``end_interrupted``. A search fills in ``finished_runs`` and ``log_root``.
    """

    def __init__(self, what: str, log_dir: Path, abandoned: bool):
        super().__init__(what)
        self.what, self.log_dir, self.abandoned = what, log_dir, abandoned
        self.finished_runs = 0
        self.log_root: Path | None = None

    def message(self, signum: int | None = None) -> str:
        """One line: what was interrupted, how LoadGen ended, what was kept."""
        by = f" by {signal.Signals(signum).name}" if signum else ""
        ended = ("LoadGen's test was abandoned (it had too long left to run)" if self.abandoned
                 else "LoadGen's test ended")
        kept = f"the interrupted run's partial LoadGen logs in {self.log_dir}"
        if self.finished_runs:
            kept = f"the LoadGen logs of {self.finished_runs} finished run(s) in {self.log_root}, and {kept}"
        return (f"interrupted{by} during {self.what}; {ended}; kept: {kept}; no scenario record was written "
                "(results files written before are unchanged).")


def end_interrupted(exc: LoadGenInterrupted, signum: int | None = None) -> int:
    """Print ``exc``'s one line and return the interrupt status; when LoadGen was abandoned, end the
    process here instead (``os._exit``): its threads still run, and a normal exit would destroy
    LoadGen's logger under them (``std::terminate``)."""
    print(f"infer-bench: {exc.message(signum)}", file=sys.stderr)
    if exc.abandoned:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(INTERRUPTED_STATUS)
    return INTERRUPTED_STATUS


def new_log_dir(path: Path) -> Path:
    """Create ``path`` for one run's logs; an existing folder is refused (LoadGen would overwrite its logs)."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=False)
    except FileExistsError:
        raise InferBenchError(f"{path} already exists; LoadGen logs are never written over.",
                              "choose another --results-dir, or remove the folder first.") from None
    return path


class _Test:
    """``StartTestWithLogSettings`` in a thread of its own, so that the main thread, where Python
    runs signal handlers, waits outside LoadGen and no KeyboardInterrupt is raised in a callback."""

    def __init__(self, lg, sut_handle, qsl_handle, settings, log):
        self.done = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(lg, sut_handle, qsl_handle, settings, log),
                                        name="loadgen-test", daemon=True)
        self._thread.start()

    def _run(self, lg, sut_handle, qsl_handle, settings, log) -> None:
        try:
            lg.StartTestWithLogSettings(sut_handle, qsl_handle, settings, log)
        except BaseException as exc:  # raised again in the main thread
            self.error = exc
        finally:
            self.done.set()


def _stop(sut, test: _Test) -> bool:
    """After a stop signal: the SUT answers at once from now on and its runs in flight end; then
    LoadGen has ``GRACE_S`` to end its test (none after a second signal). True when it ended."""
    deadline = time.monotonic() + GRACE_S
    while True:
        try:
            sut.stop()  # the sessions may be closed once this returns
            break
        except KeyboardInterrupt:  # another signal: still wait for the runs in flight, skip the grace
            deadline = 0.0
    try:
        return test.done.wait(max(0.0, deadline - time.monotonic()))
    except KeyboardInterrupt:
        return test.done.is_set()


def _mark_interrupted(log_dir: Path) -> Path:
    """Rename ``log_dir`` so that its summary is never taken for a real run (LoadGen, still writing,
    keeps its open files)."""
    marked = log_dir.with_name(log_dir.name + INTERRUPTED_SUFFIX)
    try:
        log_dir.rename(marked)
    except OSError:
        return log_dir
    return marked


def run_loadgen(sut, samples: SampleLibrary, settings: ScenarioSettings, log_dir: Path) -> LoadGenRun:
    """Run LoadGen on ``sut`` (an object with ``issue``, ``flush``, ``stop`` and ``raise_error``), keeping
    its logs (``mlperf_log_summary.txt``, ``mlperf_log_detail.txt``) in the new folder ``log_dir``.

    A runtime error inside the SUT is raised after LoadGen returns (the SUT answers every query
    whatever happens, so LoadGen never waits forever). A stop signal raises ``LoadGenInterrupted``
    (see the module docstring)."""
    lg = import_loadgen()
    log_dir = new_log_dir(log_dir)
    log = lg.LogSettings()
    log.log_output.outdir = str(log_dir)
    log.log_output.copy_summary_to_stdout = False
    log.enable_trace = False  # the trace is megabytes per second of run and nothing here reads it
    sut_handle = lg.ConstructSUT(sut.issue, sut.flush)
    qsl_handle = samples.construct(lg)
    start = time.perf_counter()
    test = _Test(lg, sut_handle, qsl_handle, settings.to_loadgen(lg), log)
    try:
        test.done.wait()
    except KeyboardInterrupt:
        if not _stop(sut, test):
            # LoadGen still runs and uses both handles: they stay, and the process ends soon.
            raise LoadGenInterrupted(f"a LoadGen {settings.scenario} run", _mark_interrupted(log_dir), True) from None
        lg.DestroyQSL(qsl_handle)
        lg.DestroySUT(sut_handle)
        raise LoadGenInterrupted(f"a LoadGen {settings.scenario} run", _mark_interrupted(log_dir), False) from None
    seconds = time.perf_counter() - start
    lg.DestroyQSL(qsl_handle)
    lg.DestroySUT(sut_handle)
    if test.error is not None:
        raise test.error
    sut.raise_error()
    return LoadGenRun(read_summary(log_dir), log_dir, seconds)
