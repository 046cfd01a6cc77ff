"""The one exception type the CLI turns into a clear message and a non-zero exit."""

from __future__ import annotations


class InferBenchError(Exception):
    """A problem the user can fix: says what is wrong and how to fix it.

    The CLI prints ``str(error)`` (one paragraph, no traceback) and exits with
    ``exit_code``. ``--debug`` shows the traceback as well.
    """

    exit_code = 2

    def __init__(self, problem: str, fix: str | None = None):
        self.problem = problem
        self.fix = fix
        super().__init__(problem if not fix else f"{problem} Fix: {fix}")

    def __reduce__(self):
        # Pickled as (problem, fix), not as the joined message: an error raised in a step's own
        # process (isolate.py) must arrive with its fix still apart, and its notes kept.
        return (self.__class__, (self.problem, self.fix), self.__dict__)


class DataError(InferBenchError):
    """A dataset is missing, damaged or does not match what a model expects."""


class ArtifactError(InferBenchError):
    """An exported artifact or the manifest is missing, damaged or unknown."""


class DeviceUnavailable(InferBenchError):
    """A device (CUDA) was asked for but the runtime cannot use it here."""


def unknown_name(kind: str, value: str, choices) -> InferBenchError:
    """Error for an unknown model/format/runtime name, listing the valid ones."""
    valid = ", ".join(sorted(choices))
    return InferBenchError(f"Unknown {kind} {value!r}.", f"use one of: {valid}.")


_stop_signals: list[int] = []  # stop signals received by this process (cli's handler notes them)


def note_stop_signal(signum: int) -> None:
    """Record that SIGINT/SIGTERM arrived (the CLI's handler calls this before raising KeyboardInterrupt)."""
    _stop_signals.append(int(signum))


def stop_requested() -> bool:
    """Whether a stop signal arrived, even if the KeyboardInterrupt it raised was swallowed on the way.

    TensorFlow and Keras can turn an exception raised inside their calls into one of their own
    errors, which a runtime's ``except Exception`` then reports as a failed or skipped case; a
    loop over cases checks this so that a stopped run stops.
    """
    return bool(_stop_signals)
