"""Memory contention on demand: a neighbour process streaming through memory, as other tenants of a CI host do.

``infer-bench regress`` uses it twice: when recording a baseline, to measure how
much each case slows when memory is busy (part of its machine allowance), and with
``--memory-contention``, to show that a check of unchanged code stays green
while memory is busy.
"""

from __future__ import annotations

import os
import subprocess
import sys

from ..errors import InferBenchError

CONTENTION_MIB = 256  # each of the two arrays it copies between: well past any shared last-level cache

# Runs in a child process so that it holds a core of its own, not a share of the GIL.
_CONTENTION_CODE = """
import sys, numpy as np
n = int(sys.argv[1]) * 2**20 // 4
a = np.ones(n, dtype=np.float32); b = np.zeros_like(a)
print("ready", flush=True)
while True:
    np.copyto(b, a)
"""


def require_spare_core(threads: int, what: str) -> None:
    """Raise unless the machine has a core beside the ``threads`` being timed (for the contention process)."""
    cores = os.cpu_count() or 1
    if cores <= threads:
        raise InferBenchError(f"{what} needs a core beside the {threads} being timed; this machine has {cores}.",
                              f"use --threads {max(cores - 1, 1)}, or a machine with at least {threads + 1} cores.")


class MemoryContention:
    """Context manager: a child process copies a ``mib`` MiB float32 array into another, in a loop, until exit.

    The arrays are allocated and touched before ``__enter__`` returns, so the
    contention is on for the whole block.
    """

    def __init__(self, mib: int = CONTENTION_MIB):
        self.mib = int(mib)
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "MemoryContention":
        self.proc = subprocess.Popen([sys.executable, "-c", _CONTENTION_CODE, str(self.mib)], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        if self.proc.stdout.readline().strip() != "ready":
            self.__exit__(None, None, None)
            raise InferBenchError("The memory-contention process did not start.",
                                  f"check that numpy imports in {sys.executable} and that {2 * self.mib} MiB are free.")
        return self

    def running(self) -> bool:
        """Whether the contention process is alive."""
        return self.proc is not None and self.proc.poll() is None

    def __exit__(self, *exc) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            for stream in (self.proc.stdout, self.proc.stderr):
                stream.close()
            self.proc = None
