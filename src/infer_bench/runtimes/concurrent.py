"""Several sessions of one artifact, to be run at once (``bench --sweep``), and what actually ran.

Two ways to have k requests in flight:
- runtimes with their own streams (OpenVINO): ONE compiled model with k streams of
  t threads each, and one infer request per stream (``OpenVINOSession.sibling``),
  which is how OpenVINO shares weights and places streams on cores;
- the others (ONNX Runtime, LiteRT): k independent sessions of t intra-op threads
  each, as a service running k interpreters would.

TensorFlow's thread pools are set once per process (``devices.configure_tensorflow``),
so its sessions cannot each get their own thread count: ``sweep_unsupported_reason``
says so and the sweep records the case as skipped, never relabelled.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from .base import LoadOptions, execution_details


def has_streams(runtime) -> bool:
    """Whether ``runtime`` runs several requests inside one loaded model (OpenVINO)."""
    return getattr(runtime, "engine", None) == "openvino"


def sweep_unsupported_reason(runtime) -> str | None:
    """Why ``runtime`` cannot take part in a threads x sessions sweep here (None: it can)."""
    if getattr(runtime, "engine", None) == "tensorflow":
        return ("TensorFlow's intra-op threads are set once per process, so its sessions cannot each have "
                "their own thread count; time it at one setting with `infer-bench bench --threads N`")
    return None


def load_sessions(runtime, path: Path, options: LoadOptions, sessions: int) -> list:
    """``sessions`` sessions of ``path`` with ``options.threads`` threads each (see the module doc).

    The caller closes every one. A load error closes the sessions already made and is re-raised.
    """
    if has_streams(runtime):
        first = runtime.load(path, replace(options, streams=sessions))
        return [first] + [first.sibling() for _ in range(sessions - 1)]
    made = []
    try:
        for _ in range(sessions):
            made.append(runtime.load(path, options))
    except BaseException:
        for s in made:
            s.close()
        raise
    return made


def executed_layout(sessions: list) -> tuple[int, int | None, str | None]:
    """``(sessions, threads per session, problem)`` as they ran: read back from the sessions
    (OpenVINO: the compiled model's streams and threads), with ``problem`` set when
    the sessions disagree, or OpenVINO ran another number of streams than sessions asked for."""
    details = execution_details(sessions[0])
    if "streams" in details and "threads" in details:
        streams, threads = details["streams"], details["threads"]
        if streams != len(sessions):
            return len(sessions), None, f"OpenVINO ran {streams} stream(s) for the {len(sessions)} asked for"
        return streams, threads // streams if threads % streams == 0 else None, (
            None if threads % streams == 0 else f"OpenVINO split {threads} threads over {streams} streams unevenly")
    counts = {s.threads for s in sessions}
    if len(counts) != 1:
        return len(sessions), None, f"the sessions ran different thread counts: {sorted(counts)}"
    return len(sessions), counts.pop(), None
