"""Every file the suite writes, as typed, versioned records, through one store.

- ``store``: atomic, never-overwriting writes; the newest file by kind; reading with version checks.
- ``machine``: refusing to compare results taken on different machines.
- ``bench``: ``BenchResult`` and the ``ResultsFile`` of a bench run (``results/bench-*.json``).
"""

from .bench import (BenchResult, ResultsFile, ResultsWriter, latest_results, load_results, save_results,
                    save_results_to)
from .machine import machine_differences, require_same_machine

__all__ = ["BenchResult", "ResultsFile", "ResultsWriter", "latest_results", "load_results", "machine_differences",
           "require_same_machine", "save_results", "save_results_to"]
