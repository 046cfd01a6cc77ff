"""Several sessions timed at once, one Python thread each: what "2 sessions x 1 thread" delivers.

Discipline, as in ``loop.time_calls``: each session is warmed up alone first
(its own warm-up calls, on its own thread), then every session starts its timed
calls together (a barrier), each call timed alone with ``perf_counter_ns``
around ``run(batch)`` only. The main thread stops the window after the rule's
minimum time; each session then finishes the call in flight and keeps going
until it has its share of the rule's minimum calls.

Two numbers come out, and they answer different questions:
- latency: every timed call of every session, pooled (what one request waits
  while the others run beside it);
- throughput: every row completed, divided by the wall time from the common
  start to the last call's end (not the sum of call times, which would count
  the overlap k times).

The runtimes release Python's GIL while they compute (ONNX Runtime, LiteRT and
OpenVINO all do), so the threads' work overlaps; what the GIL still serialises
(the loop's own few microseconds per call) is part of what a Python service
would pay too.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Callable, Sequence

from .loop import InputRotation
from .stats import LatencyStats
from .stop_rule import BENCH, StopRule, check_int

# A session that has not reached the barrier after this long is stuck (a deadlocked runtime):
# the measurement fails with a clear error instead of hanging.
BARRIER_TIMEOUT_S = 600.0


class ConcurrentRunError(RuntimeError):
    """A session raised while being measured beside others (the original error is the cause)."""


@dataclass(frozen=True)
class ConcurrentMeasurement:
    """Raw result of ``measure_concurrent``: each session's per-call nanoseconds and the window."""

    batch_size: int
    calls_ns: tuple[tuple[int, ...], ...]  # one tuple per session
    window_ns: int  # common start -> the last timed call's end
    warmup_calls: int

    def __post_init__(self):
        check_int("batch_size", self.batch_size, 1)
        check_int("window_ns", self.window_ns, 1)
        object.__setattr__(self, "calls_ns", tuple(tuple(int(c) for c in s) for s in self.calls_ns))
        if not self.calls_ns or any(not s for s in self.calls_ns):
            raise ValueError("every session needs at least one timed call")

    @property
    def sessions(self) -> int:
        return len(self.calls_ns)

    @cached_property
    def stats(self) -> LatencyStats:
        """Latency statistics over every session's calls, pooled."""
        return LatencyStats(tuple(c for s in self.calls_ns for c in s), self.batch_size)

    @property
    def rows(self) -> int:
        """Rows completed in the window, by every session."""
        return self.batch_size * sum(len(s) for s in self.calls_ns)

    @property
    def throughput_rows_per_s(self) -> float:
        """Rows completed per second of wall time, all sessions together."""
        return self.rows / (self.window_ns / 1e9)

    @property
    def calls_per_session(self) -> tuple[int, ...]:
        return tuple(len(s) for s in self.calls_ns)


def measure_concurrent(runs: Sequence[Callable[[Any], Any]], rotation: InputRotation, batch_size: int,
                       rule: StopRule = BENCH) -> ConcurrentMeasurement:
    """Time ``runs`` (one ``run(batch)`` per session) all at once, each on its own thread.

    A per-row ``rule`` is first turned into calls at ``batch_size``; its
    ``min_calls`` is shared between the sessions (each makes at least its share,
    and at least ``StopRule.MIN_CALLS_FLOOR``). Sessions start on different
    batches of the rotation, so no two read the same buffer at the same step.
    An error in any session stops all of them and is raised as
    ``ConcurrentRunError`` from the original.
    """
    check_int("batch_size", batch_size, 1)
    if not runs:
        raise ValueError("runs is empty: need at least one session")
    rule = rule.at_batch(batch_size)
    batches = rotation.batches(batch_size)
    k, nb = len(runs), len(batches)
    per_session_calls = max(StopRule.MIN_CALLS_FLOOR, math.ceil(rule.min_calls / k))
    limit = rule.max_calls
    barrier = threading.Barrier(k + 1, timeout=BARRIER_TIMEOUT_S)
    stop = threading.Event()
    samples: list[list[int]] = [[] for _ in range(k)]
    ends = [0] * k
    errors: list[BaseException] = []

    def session_loop(i: int) -> None:
        run, start = runs[i], (i * nb) // k
        try:
            for w in range(rule.warmup_calls):
                run(batches[(start + w) % nb])
        except BaseException as exc:  # noqa: BLE001 - re-raised by the main thread
            errors.append(exc)
            barrier.abort()
            return
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            return
        clock, append, j, n, t1 = time.perf_counter_ns, samples[i].append, start, 0, 0
        try:
            while True:
                batch = batches[j % nb]
                t0 = clock()
                run(batch)
                t1 = clock()
                append(t1 - t0)
                j += 1
                n += 1
                if (stop.is_set() and n >= per_session_calls) or (limit is not None and n >= limit):
                    break
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
            stop.set()
        ends[i] = t1

    threads = [threading.Thread(target=session_loop, args=(i,), name=f"session-{i}", daemon=True) for i in range(k)]
    for t in threads:
        t.start()
    try:
        barrier.wait()
    except threading.BrokenBarrierError:
        pass  # a session failed in its warm-up (or hung): reported below
    t_start = time.perf_counter_ns()
    # Sleep in short steps so an error in a session ends the window early.
    deadline = t_start + int(rule.min_time_s * 1e9)
    while not errors and time.perf_counter_ns() < deadline:
        time.sleep(min(0.02, max(0.0, (deadline - time.perf_counter_ns()) / 1e9)))
    stop.set()
    for t in threads:
        t.join()
    if not errors and barrier.broken:
        errors.append(TimeoutError(f"a session did not finish its warm-up within {BARRIER_TIMEOUT_S:g} s"))
    if errors:
        raise ConcurrentRunError(f"a session failed while {k} ran at once: {type(errors[0]).__name__}: "
                                 f"{errors[0]}") from errors[0]
    window = max(ends) - t_start
    return ConcurrentMeasurement(batch_size=batch_size, calls_ns=tuple(tuple(max(1, c) for c in s) for s in samples),
                                 window_ns=max(1, window), warmup_calls=rule.warmup_calls)
