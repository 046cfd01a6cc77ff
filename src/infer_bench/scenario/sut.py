"""Systems under test: runtime sessions answering LoadGen's queries.

``SyncSUT`` (SingleStream, MultiStream, Offline) runs each query in LoadGen's issue
call, in batches of at most ``max_batch`` samples. ``ServerSUT`` is asynchronous: its
issue call only queues the samples; a pool of workers, one runtime session each,
takes them from the queue, optionally batching samples that arrived within
``max_wait_ms`` of the first (dynamic batching, up to ``max_batch``).

A runtime error must never leave a query unanswered: LoadGen would wait for it
forever. So every sample is completed whatever happens; the first error is kept,
later samples are completed at once without running, and ``raise_error`` turns the
error into a clear message once LoadGen has returned. ``stop`` (a stop signal, see
``loadgen_run``) does the same for every later sample, and waits for the runs in flight,
so that the sessions can be closed while LoadGen may still be issuing queries.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import Counter
from dataclasses import dataclass

from ..errors import InferBenchError
from .qsl import SampleLibrary

_STOP = object()  # one per worker: the pool is closing
JOIN_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class PoolConfig:
    """How the SUT serves: ``workers`` sessions of ``threads`` intra-op threads each, batches of up
    to ``max_batch`` samples collected for at most ``max_wait_ms`` after the first arrived."""

    workers: int = 1
    threads: int = 1
    max_batch: int = 1
    max_wait_ms: float = 0.0

    def __post_init__(self):
        for name in ("workers", "threads", "max_batch"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InferBenchError(f"--{name.replace('_', '-')} {value!r} must be a whole number >= 1.",
                                      f"pass e.g. --{name.replace('_', '-')} 1.")
        if self.max_wait_ms < 0:
            raise InferBenchError(f"--max-wait-ms {self.max_wait_ms} must be >= 0.", "pass e.g. --max-wait-ms 2.")
        if self.max_wait_ms > 0 and self.max_batch == 1:
            raise InferBenchError(f"--max-wait-ms {self.max_wait_ms:g} waits for a batch, but --max-batch is 1.",
                                  "pass --max-batch 2 or more with --max-wait-ms, or drop --max-wait-ms.")

    @property
    def label(self) -> str:
        """e.g. "2x1" (workers x threads), "1x2 b8/2ms" with dynamic batching."""
        batching = f" b{self.max_batch}/{self.max_wait_ms:g}ms" if self.max_batch > 1 else ""
        return f"{self.workers}x{self.threads}{batching}"

    def to_dict(self) -> dict:
        return {"workers": self.workers, "threads": self.threads, "max_batch": self.max_batch,
                "max_wait_ms": self.max_wait_ms}


class _Answering:
    """What both SUTs share: completing samples, counting batch sizes, keeping the first error."""

    def __init__(self, lg, samples: SampleLibrary, runtime: str):
        self._lg = lg
        self.samples = samples
        self.runtime = runtime
        self.batch_sizes: Counter = Counter()
        self.error: BaseException | None = None
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)  # notified when a run in flight ends
        self._running = 0  # session runs in flight
        self.stopping = False  # set by ``stop``: no session runs any more

    def _complete(self, ids) -> None:
        # No output data: a performance run only needs to know the samples are done.
        self._lg.QuerySamplesComplete([self._lg.QuerySampleResponse(i, 0, 0) for i in ids])

    def _answer(self, session, ids, indices) -> None:
        """Run one batch and complete its samples; on an error (or once stopping) complete them anyway."""
        with self._lock:
            run = self.error is None and not self.stopping
            self._running += 1 if run else 0
        try:
            if run:
                session.run(self.samples.batch(indices))
                with self._lock:
                    self.batch_sizes[len(ids)] += 1
        except Exception as exc:  # any runtime failure: kept and reported after the run
            with self._lock:
                self.error = self.error or exc
        finally:
            if run:
                with self._lock:
                    self._running -= 1
                    self._idle.notify_all()
            self._complete(ids)

    def stop(self, timeout_s: float = JOIN_TIMEOUT_S) -> bool:
        """A stop signal: complete every later sample at once without running it, and wait (at most
        ``timeout_s``) for the runs in flight to end. True when none is left running."""
        with self._lock:
            self.stopping = True
            return self._idle.wait_for(lambda: self._running == 0, timeout_s)

    def flush(self) -> None:
        """LoadGen's flush: nothing is held back."""

    def raise_error(self) -> None:
        """After the run: the first runtime error, as a clear message."""
        if self.error is not None:
            raise InferBenchError(f"{self.runtime} failed while answering LoadGen's queries: "
                                  f"{type(self.error).__name__}: {self.error}. The run was stopped; its remaining "
                                  "queries were answered without running the model.",
                                  f"run `infer-bench bench` on the same artifact and runtime to see the error "
                                  f"alone, or try another runtime.") from self.error

    def batch_stats(self) -> dict:
        """Batches run, by size (JSON keys are strings), and the mean batch size."""
        total = sum(self.batch_sizes.values())
        mean = sum(k * v for k, v in self.batch_sizes.items()) / total if total else 0.0
        return {"batches": total, "mean_batch": mean, "by_size": {str(k): v for k, v in sorted(self.batch_sizes.items())}}


class SyncSUT(_Answering):
    """One session answering each query in LoadGen's issue call, ``max_batch`` samples at a time."""

    def __init__(self, lg, session, samples: SampleLibrary, runtime: str, max_batch: int = 1):
        super().__init__(lg, samples, runtime)
        self.session = session
        self.max_batch = max_batch

    def issue(self, query_samples) -> None:
        """LoadGen's issue callback."""
        ids = [q.id for q in query_samples]
        indices = [q.index for q in query_samples]
        for i in range(0, len(ids), self.max_batch):
            self._answer(self.session, ids[i:i + self.max_batch], indices[i:i + self.max_batch])

    def close(self) -> None:
        """Nothing runs in the background."""


class ServerSUT(_Answering):
    """A queue and a pool of workers, one session each; see the module docstring."""

    def __init__(self, lg, sessions, samples: SampleLibrary, runtime: str, config: PoolConfig):
        super().__init__(lg, samples, runtime)
        if len(sessions) != config.workers:
            raise InferBenchError(f"{len(sessions)} sessions for {config.workers} workers.",
                                  "load one session per worker.")
        self.config = config
        self._queue: queue.Queue = queue.Queue()
        self._wait_s = config.max_wait_ms / 1000.0
        self._threads = [threading.Thread(target=self._work, args=(s,), name=f"sut-worker-{k}", daemon=True)
                         for k, s in enumerate(sessions)]
        for t in self._threads:
            t.start()

    def issue(self, query_samples) -> None:
        """LoadGen's issue callback: queue the samples with their arrival time, return at once."""
        now = time.perf_counter()
        with self._lock:  # so that no sample is queued after ``stop``: after ``close`` no worker would take it
            if not self.stopping:
                for q in query_samples:
                    self._queue.put((q.id, q.index, now))
                return
        self._complete([q.id for q in query_samples])

    def _next_batch(self) -> tuple[list, bool]:
        """The next batch of queued samples, and whether the pool is closing (pure queue logic)."""
        first = self._queue.get()
        if first is _STOP:
            return [], True
        batch = [first]
        # The window runs from the first sample's arrival, so a backlog is taken at once.
        deadline = first[2] + self._wait_s
        while len(batch) < self.config.max_batch:
            remaining = deadline - time.perf_counter()
            try:
                item = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                return batch, True
            batch.append(item)
        return batch, False

    def _work(self, session) -> None:
        while True:
            batch, closing = self._next_batch()
            if batch:
                self._answer(session, [b[0] for b in batch], [b[1] for b in batch])
            if closing:
                return

    def close(self) -> None:
        """Stop the workers (after LoadGen has returned: every sample is answered by then)."""
        for _ in self._threads:
            self._queue.put(_STOP)
        for t in self._threads:
            t.join(JOIN_TIMEOUT_S)
