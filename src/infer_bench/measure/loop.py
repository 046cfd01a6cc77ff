"""The one timing loop, shared by every part of the suite that times something.

Discipline: the cold start (load + first call) is timed apart; then warm-up
calls; then timed calls until the ``StopRule`` is met. Each call is timed alone
with ``time.perf_counter_ns()`` around ``run(batch)`` only, and the raw per-call
nanoseconds are kept. ``run`` must return only when the device work is
finished (the Session contract).
"""

from __future__ import annotations

import math
import resource
import sys
import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable, Sequence

import numpy as np

from .stats import LatencyStats
from .stop_rule import BENCH, StopRule, check_int

# Input rotation: at least this many distinct batch buffers, so consecutive
# calls never see the same buffer; at most this many bytes of pre-copied batches.
MIN_ROTATION_BATCHES = 2
MAX_ROTATION_BYTES = 256 * 2**20


class InputRotation:
    """Real images cut into contiguous batches that the timed loop cycles through.

    Using real, varying inputs (not one zero buffer) keeps caches and any
    data-dependent paths honest. Batches are copied once per batch size, up
    front, so the timed loop only indexes a tuple. If there are fewer images
    than a batch needs, they are tiled.
    """

    def __init__(self, images: np.ndarray):
        images = np.asarray(images)
        if images.ndim < 2:
            raise ValueError(f"images has shape {images.shape}: expected (N, H, W, C) or at least (N, features)")
        if images.shape[0] < 1:
            raise ValueError("images is empty: need at least one image")
        if images.dtype != np.float32:
            raise ValueError(f"images dtype is {images.dtype}: expected float32 (preprocess the images first)")
        if not np.isfinite(images).all():
            raise ValueError("images contain NaN or Inf: timing on them would not be timing real work")
        if not images.any():
            raise ValueError("images are all zeros: use real images so the timing is representative")
        self.images = images
        self._batches: dict[int, tuple[np.ndarray, ...]] = {}

    def __len__(self) -> int:
        return self.images.shape[0]

    def batches(self, batch_size: int) -> tuple[np.ndarray, ...]:
        """The pre-copied, C-contiguous batches of ``batch_size`` rows (cached).

        Batch ``k`` holds images ``k*batch_size ...`` wrapping around the end,
        so all images are used and consecutive batches differ.
        """
        check_int("batch_size", batch_size, 1)
        batch_size = int(batch_size)
        if batch_size not in self._batches:
            n = len(self)
            row_bytes = self.images[0].nbytes
            cap = max(MIN_ROTATION_BATCHES, MAX_ROTATION_BYTES // max(1, row_bytes * batch_size))
            count = min(max(MIN_ROTATION_BATCHES, math.ceil(n / batch_size)), cap)
            self._batches[batch_size] = tuple(
                np.ascontiguousarray(self.images[(k * batch_size + np.arange(batch_size)) % n]) for k in range(count)
            )
        return self._batches[batch_size]

    def first(self, batch_size: int) -> np.ndarray:
        """The first batch (what a cold start runs)."""
        return self.batches(batch_size)[0]


@dataclass(frozen=True)
class Measurement:
    """Raw result of ``measure_session``: per-call nanoseconds of the timed calls."""

    batch_size: int
    calls_ns: tuple[int, ...]
    warmup_calls: int

    def __post_init__(self):
        object.__setattr__(self, "calls_ns", tuple(self.calls_ns))
        if self.warmup_calls < 0:
            raise ValueError(f"warmup_calls={self.warmup_calls!r} must be >= 0")
        self.stats  # validates calls_ns and batch_size now, not at first use

    @cached_property
    def stats(self) -> LatencyStats:
        """Statistics derived from ``calls_ns``."""
        return LatencyStats(self.calls_ns, self.batch_size)


@dataclass(frozen=True)
class ColdStart:
    """Load time and first-call time, in ms, plus the loaded session."""

    load_ms: float
    first_inference_ms: float
    session: Any = field(repr=False, compare=False)


def time_calls(run: Callable[[np.ndarray], Any], batches: Sequence[np.ndarray], rule: StopRule,
               start: int = 0) -> tuple[int, ...]:
    """Time ``run(batch)`` under ``rule`` (a per-call rule) and return every timed call's nanoseconds.

    ``rule.warmup_calls`` untimed calls first; consecutive calls get
    consecutive ``batches`` (cycling), beginning at index ``start``.
    """
    if rule.per_row:
        raise ValueError("time_calls needs a per-call rule: pass rule.at_batch(batch_size)")
    nb = len(batches)
    if nb < 1:
        raise ValueError("batches is empty: need at least one input batch")
    for i in range(rule.warmup_calls):
        run(batches[(start + i) % nb])

    # Everything the loop needs is bound to locals so each iteration does as
    # little as possible besides the call itself.
    clock = time.perf_counter_ns
    samples: list[int] = []
    append = samples.append
    min_time_ns = int(rule.min_time_s * 1e9)
    min_calls = rule.min_calls
    limit = rule.max_calls if rule.max_calls is not None else sys.maxsize
    elapsed = 0
    i = start + rule.warmup_calls
    n = 0
    while True:
        batch = batches[i % nb]
        t0 = clock()
        run(batch)
        t1 = clock()
        append(t1 - t0)
        elapsed += t1 - t0
        i += 1
        n += 1
        if (n >= min_calls and elapsed >= min_time_ns) or n >= limit:
            break
    # A 0 reading means "below the clock's resolution" (1 ns on Linux); record
    # it as 1 ns so every sample stays a positive time.
    return tuple(d if d > 0 else 1 for d in samples)


def time_pairs(run_a: Callable[[np.ndarray], Any], run_b: Callable[[np.ndarray], Any],
               batches: Sequence[np.ndarray], rule: StopRule, start: int = 0) -> tuple[tuple[int, int], ...]:
    """Time ``run_a`` and ``run_b`` call against call on the same batches; every pair's (a ns, b ns).

    The two calls of a pair run back to back, ``a`` first in even pairs and
    ``b`` first in odd ones, so both see the same moment of a busy host and
    neither always inherits the other's caches. ``rule`` (through
    :func:`time_calls`, which times the pair as one call) sets the warm-up
    pairs and when to stop.
    """
    clock = time.perf_counter_ns
    pairs: list[tuple[int, int]] = []

    def both(batch):
        a_first = len(pairs) % 2 == 0
        first, second = (run_a, run_b) if a_first else (run_b, run_a)
        t0 = clock()
        first(batch)
        t1 = clock()
        second(batch)
        t2 = clock()
        pairs.append((t1 - t0, t2 - t1) if a_first else (t2 - t1, t1 - t0))

    time_calls(both, batches, rule, start=start)
    timed = pairs[rule.warmup_calls:]
    return tuple((max(a, 1), max(b, 1)) for a, b in timed)


def measure_session(run: Callable[[np.ndarray], Any], rotation: InputRotation, batch_size: int,
                    rule: StopRule = BENCH) -> Measurement:
    """Time ``run(batch)`` over ``rotation``'s batches of ``batch_size`` rows under ``rule``.

    A per-row rule (the ``BENCH`` preset) is first turned into calls at this
    batch size (``StopRule.at_batch``). Every per-call time is kept.
    """
    check_int("batch_size", batch_size, 1)
    rule = rule.at_batch(batch_size)
    calls_ns = time_calls(run, rotation.batches(batch_size), rule)
    return Measurement(batch_size=batch_size, calls_ns=calls_ns, warmup_calls=rule.warmup_calls)


def measure_cold_start(load_fn: Callable[[], Any], rotation: InputRotation, batch_size: int) -> ColdStart:
    """Time ``load_fn()`` (which returns a session), then its first ``run``.

    "Cold" means the first load in this process: module imports done before
    the call are not counted, files may already be in the OS page cache.
    """
    batch = rotation.first(batch_size)
    t0 = time.perf_counter_ns()
    session = load_fn()
    t1 = time.perf_counter_ns()
    session.run(batch)
    t2 = time.perf_counter_ns()
    return ColdStart(load_ms=(t1 - t0) / 1e6, first_inference_ms=(t2 - t1) / 1e6, session=session)


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MB (2**20 bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS reports bytes.
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def release_freed_heap() -> None:
    """Hand the heap memory Python and the libraries have freed back to the operating system (glibc only).

    glibc keeps freed blocks in its arenas for reuse, so after one AlexNet's ONNX export
    (+1.2 GiB, then freed) the process stayed about 0.4 GiB larger, and the next model's
    export started from there: the run's peak grew with each model. ``malloc_trim(0)``
    returns the free pages; elsewhere (macOS, musl) this does nothing.
    """
    import ctypes
    import ctypes.util

    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc
        return
    trim(0)


def bare_loop_ns(run: Callable[[np.ndarray], Any], batch: np.ndarray, n: int) -> int:
    """Total ns of ``n`` calls of ``run(batch)`` timed once around the whole loop.

    The baseline against which a benchmark shows the per-call harness
    (rotation + two clock reads + append) adds only a couple of microseconds.
    """
    check_int("n", n, 1)
    clock = time.perf_counter_ns
    t0 = clock()
    for _ in range(n):
        run(batch)
    return clock() - t0
