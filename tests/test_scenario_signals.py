"""A stop signal during a LoadGen run ends ``infer-bench scenario`` cleanly.

Before, the CLI's handler raised KeyboardInterrupt inside a SUT callback, which unwound
LoadGen's C++ ``StartTest`` while its logger thread still ran: a segfault (-11), an abort
(-6, ``std::terminate`` in ``Logger::~Logger`` at exit) or ``std::bad_function_call``.
Here a real ``infer-bench scenario`` process serves a tiny ONNX model (written with
``onnx.helper``, no TensorFlow) and gets SIGTERM or SIGINT once LoadGen's logs exist.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from infer_bench.scenario.loadgen_run import INTERRUPTED_STATUS, INTERRUPTED_SUFFIX
from infer_bench.scenario.sut import PoolConfig, ServerSUT, SyncSUT

ROWS = 64
START_TIMEOUT_S = 20.0  # until LoadGen's log folder appears (the process starts in about 2 s)
EXIT_TIMEOUT_S = 15.0  # after the signal: the SUT stops, LoadGen gets 3 s to end, else it is abandoned


@pytest.fixture(scope="module")
def tiny_onnx(tmp_path_factory) -> Path:
    """Reshape -> MatMul -> Softmax on 28x28x1: a model that runs in microseconds."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = np.random.default_rng(0).normal(0, 0.05, (784, 10)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Reshape", ["x", "shape"], ["flat"]), helper.make_node("MatMul", ["flat", "w"], ["logits"]),
         helper.make_node("Softmax", ["logits"], ["y"], axis=-1)], "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 28, 28, 1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 10])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(np.array([-1, 784], np.int64), "shape")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path = tmp_path_factory.mktemp("tiny") / "tiny_fashion.onnx"
    onnx.save(model, path)
    return path


def _interrupt_mid_run(tiny_onnx: Path, data_root: Path, results: Path, signum: int, *extra: str):
    """Start ``infer-bench scenario`` (a 30 s LoadGen run), send ``signum`` once LoadGen logs, return
    (returncode, stderr, seconds from the signal to the exit)."""
    cmd = [sys.executable, "-m", "infer_bench.cli", "scenario", "--artifact", str(tiny_onnx), "--runtime",
           "onnxruntime", "--threads", "1", "--duration-s", "30", "--rows", str(ROWS), "--data-dir", str(data_root),
           "--results-dir", str(results), "--json", str(results / "record.json"), *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not list(results.glob("scenario-*-logs/run/mlperf_log_detail.txt")):
            assert proc.poll() is None, f"ended before LoadGen started: {proc.communicate()}"
            assert time.monotonic() < deadline, "LoadGen did not start"
            time.sleep(0.05)
        time.sleep(0.5)  # well inside the run: queries are being answered
        proc.send_signal(signum)
        sent = time.monotonic()
        _, err = proc.communicate(timeout=EXIT_TIMEOUT_S)
        return proc.returncode, err, time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


@pytest.mark.parametrize("signum, extra", [
    (signal.SIGTERM, ()),  # SingleStream: LoadGen's issue call runs the model
    (signal.SIGINT, ("--scenario", "server", "--target-qps", "200")),  # Server: worker threads run it
], ids=["sigterm-single-stream", "sigint-server"])
def test_a_stop_signal_mid_run_ends_cleanly(tiny_onnx, data_root, tmp_path, signum, extra):
    code, err, seconds = _interrupt_mid_run(tiny_onnx, data_root, tmp_path, signum, *extra)
    assert code not in (-signal.SIGSEGV, 128 + signal.SIGSEGV, -signal.SIGABRT, 128 + signal.SIGABRT), err
    assert code == INTERRUPTED_STATUS, err
    assert "terminate called" not in err and "Fatal Python error" not in err and "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("infer-bench:")]
    assert len(lines) == 1, err  # one line says it all
    name = signal.Signals(signum).name
    assert f"interrupted by {name} during a LoadGen" in lines[0]
    assert "run-interrupted" in lines[0] and "no scenario record was written" in lines[0]
    assert seconds < 10  # the run had 30 s left
    # No record, complete or partial, and no temporary file of one; the partial logs are marked.
    assert not (tmp_path / "record.json").exists()
    assert not [p for p in tmp_path.iterdir() if p.is_file()]
    logs = next(tmp_path.glob("scenario-*-logs"))
    assert [p.name for p in logs.iterdir()] == [f"run{INTERRUPTED_SUFFIX}"]


class _Binding:
    """What the SUT calls of LoadGen's binding, recording the completed sample ids."""

    def __init__(self):
        self.done: list[int] = []
        self._lock = threading.Lock()

    def QuerySampleResponse(self, i, data, size):  # noqa: N802 - LoadGen's name
        return i

    def QuerySamplesComplete(self, responses):  # noqa: N802 - LoadGen's name
        with self._lock:
            self.done.extend(responses)


class _Counting:
    """A session that counts its calls and takes ``delay_s`` each."""

    def __init__(self, delay_s=0.0):
        self.calls, self.delay_s, self.input_shape = 0, delay_s, (None, 1)

    def run(self, batch):
        self.calls += 1
        time.sleep(self.delay_s)


def _samples(ids):
    return [SimpleNamespace(id=i, index=0) for i in ids]


LIBRARY = SimpleNamespace(batch=lambda indices: np.zeros((len(indices), 1), np.float32))


def test_a_stopped_sut_answers_every_sample_without_running_it():
    lg, session = _Binding(), _Counting()
    sut = SyncSUT(lg, session, LIBRARY, "onnxruntime")
    sut.issue(_samples([1, 2]))
    assert sut.stop() is True
    sut.issue(_samples([3, 4]))
    assert session.calls == 2 and lg.done == [1, 2, 3, 4]
    assert sut.batch_stats()["batches"] == 2  # only what ran is counted


def test_stopping_the_server_waits_for_the_run_in_flight_and_queues_nothing_after():
    lg, session = _Binding(), _Counting(delay_s=0.2)
    sut = ServerSUT(lg, [session], LIBRARY, "onnxruntime", PoolConfig())
    sut.issue(_samples([1]))
    time.sleep(0.05)  # the worker is inside its 0.2 s run
    assert sut.stop() is True  # returns once that run has ended: the session may be closed now
    assert session.calls == 1 and lg.done == [1]
    sut.issue(_samples([2, 3]))  # LoadGen may still issue: answered at once, never queued
    sut.close()
    assert session.calls == 1 and sorted(lg.done) == [1, 2, 3]
