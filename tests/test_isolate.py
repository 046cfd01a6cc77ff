"""A step in a process of its own: its result, its log lines, its errors and its death come back."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from infer_bench.errors import InferBenchError
from infer_bench.isolate import run_isolated
from infer_bench.measure import peak_rss_mb


# Module-level: the spawned child imports this module to find them.
def _answer(x, *, log):
    log(f"working on {x}")
    log("done")
    return {"double": 2 * x, "pid": os.getpid()}


def _fails(*, log):
    log("about to fail")
    raise InferBenchError("the data folder has no class folders.", "pass a folder of class folders.")


def _breaks(*, log):
    return 1 / 0


def _dies(*, log):
    log("dying")
    os.kill(os.getpid(), signal.SIGKILL)


def _allocates(mib, *, log):
    block = bytearray(mib * 2**20)  # touched: every page becomes resident
    for i in range(0, len(block), 4096):
        block[i] = 1
    return peak_rss_mb()


def _sleeps_then_cleans(marker, *, log):
    log("started")
    try:
        time.sleep(60)
    finally:
        Path(marker).write_text("cleaned up")  # what an atomic writer's clean-up does on an interrupt


def test_the_result_and_every_log_line_come_back_in_order():
    lines = []
    out = run_isolated("demo", _answer, 21, log=lines.append)
    assert out["double"] == 42 and out["pid"] != os.getpid()
    assert lines == ["working on 21", "done"]


def test_an_error_in_the_step_is_raised_here_as_itself():
    lines = []
    with pytest.raises(InferBenchError, match="no class folders") as info:
        run_isolated("check", _fails, log=lines.append)
    assert info.value.fix == "pass a folder of class folders." and lines == ["about to fail"]
    with pytest.raises(ZeroDivisionError) as info:
        run_isolated("bench", _breaks, log=lambda line: None)
    assert any("in the bench step's process" in note and "_breaks" in note for note in info.value.__notes__)


def test_a_step_that_dies_is_an_error_that_says_how():
    lines = []
    with pytest.raises(InferBenchError, match=r"The train alexnet step's process was killed by SIGKILL"):
        run_isolated("train alexnet", _dies, log=lines.append)
    assert lines == ["dying"]


def test_the_steps_memory_is_not_this_process():
    before = peak_rss_mb()
    child_peak = run_isolated("big", _allocates, 300, log=lambda line: None)
    assert child_peak > 300  # the child held the 300 MiB ...
    assert peak_rss_mb() - before < 100  # ... and this process never did


def test_an_interrupted_caller_stops_the_step_and_its_clean_ups_run(tmp_path):
    marker = tmp_path / "marker"

    def interrupt_once_started(line):
        if line == "started":
            raise KeyboardInterrupt  # as Ctrl-C or SIGTERM arrive in the CLI

    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        run_isolated("export", _sleeps_then_cleans, str(marker), log=interrupt_once_started)
    assert marker.read_text() == "cleaned up" and time.monotonic() - t0 < 30
