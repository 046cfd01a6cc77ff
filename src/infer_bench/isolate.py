"""Run one step of ``infer-bench run`` in a fresh Python process, so its memory is gone when it ends.

Why: one process that trains, exports, checks and benchmarks keeps what each step
leaves behind (TensorFlow's graphs and caches, the heap glibc does not hand
back): on the report's models the single-process run peaked at 6.0 GiB, while no
step needs more than about 3.8 GiB on its own. A step run here starts from a
bare interpreter (the ``spawn`` start method: no copy of the parent's memory)
and returns everything to the operating system when it exits.

The step's log lines travel back through a pipe and go to the caller's ``log``
as they come, so progress reads as if the step ran in-process; its return value
(and any exception it raised, with the child's traceback as a note) comes back
the same way. If the child dies without answering (killed: out of memory, a
segfault in a runtime), the step fails with an error that says so. If the
caller is interrupted (Ctrl-C, SIGTERM), the child is stopped before the
interrupt goes on.
"""

from __future__ import annotations

import multiprocessing
import pickle
import signal
import traceback
from typing import Any, Callable

from .errors import InferBenchError

STOP_GRACE_S = 10.0  # how long a child that was told to stop may take before it is killed


def _child_main(conn, fn: Callable, args: tuple, kwargs: dict) -> None:
    """The child's side: run ``fn`` with a ``log`` that sends each line home, then send the outcome."""
    # Ctrl-C reaches the whole process group: the parent decides, and stops this child itself
    # with SIGTERM, which becomes a KeyboardInterrupt here so the step's clean-ups run (no
    # half-written ".partial" file is left behind).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _interrupt)

    def log(line: str) -> None:
        conn.send(("log", str(line)))

    try:
        outcome = ("ok", fn(*args, log=log, **kwargs))
    except BaseException as exc:  # noqa: BLE001 - sent to the parent, which raises it there
        outcome = ("error", exc, traceback.format_exc())
    try:
        conn.send(outcome)
    except (pickle.PicklingError, TypeError, AttributeError):  # an unpicklable result or exception
        conn.send(("error", RuntimeError(f"{outcome[1]!r} could not be sent back from the step's process"),
                   outcome[2] if len(outcome) > 2 else ""))
    conn.close()


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"stopped by {signal.Signals(signum).name}")


def _death_words(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        hint = " (the kernel's out-of-memory killer sends SIGKILL)" if name == "SIGKILL" else ""
        return f"was killed by {name}{hint}"
    return f"exited with status {exitcode} without a result"


def run_isolated(step: str, fn: Callable[..., Any], *args, log: Callable[[str], None] = print, **kwargs) -> Any:
    """``fn(*args, log=..., **kwargs)`` in a fresh process; its result, or its exception raised here.

    ``fn`` must be a module-level function and its arguments and result picklable
    (the child imports ``fn``'s module anew). ``step`` names the step in errors.
    """
    ctx = multiprocessing.get_context("spawn")
    receive, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_child_main, args=(send, fn, args, kwargs), name=f"infer-bench {step}", daemon=True)
    child.start()
    send.close()  # the child holds the only sending end: EOF here means it is gone
    try:
        while True:
            try:
                message = receive.recv()
            except EOFError:
                child.join()
                raise InferBenchError(f"The {step} step's process {_death_words(child.exitcode)}.",
                                      "see the messages above; if memory ran out, close other programs or use "
                                      "--quick; what finished before is kept.") from None
            if message[0] == "log":
                log(message[1])
                continue
            child.join()
            if message[0] == "ok":
                return message[1]
            exc, child_traceback = message[1], message[2]
            if not isinstance(exc, (InferBenchError, KeyboardInterrupt)):
                exc.add_note(f"in the {step} step's process:\n{child_traceback}")
            raise exc
    except BaseException:
        _stop(child)
        raise
    finally:
        receive.close()


def _stop(child) -> None:
    """Stop a child still running (the caller was interrupted or failed): SIGTERM, then SIGKILL."""
    if child.is_alive():
        child.terminate()
        child.join(STOP_GRACE_S)
        if child.is_alive():
            child.kill()
            child.join()
