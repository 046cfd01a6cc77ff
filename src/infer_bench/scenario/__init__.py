"""``infer-bench scenario``: MLPerf LoadGen scenarios over any artifact x runtime.

- ``settings``: LoadGen's test settings (short defaults, MLPerf's one option away).
- ``qsl``: the query sample library (real test images of the model's data).
- ``sut``: the synchronous SUT and the asynchronous server pool (dynamic batching).
- ``summary``: LoadGen's summary log as a typed result (pure).
- ``search``: the Server QPS search under a latency bound (pure).
- ``loadgen_run``, ``target``, ``runner``: one LoadGen test, the artifact served, the command's runs.
- ``table``, ``figure``: the printed table and the search's figure.

The runner is imported from ``scenario.runner`` (it imports ``bench``, which imports ``plans``,
which imports this package's settings).
"""

from .search import Probe, SearchOutcome, config_grid, next_qps, search_max_qps
from .settings import PRESETS, SCENARIOS, ScenarioSettings
from .summary import INVALID, VALID, LoadGenSummary, parse_summary, read_summary
from .sut import PoolConfig, ServerSUT, SyncSUT

__all__ = ["INVALID", "PRESETS", "SCENARIOS", "VALID", "LoadGenSummary", "PoolConfig", "Probe", "ScenarioSettings",
           "SearchOutcome", "ServerSUT", "SyncSUT", "config_grid", "next_qps", "parse_summary", "read_summary",
           "search_max_qps"]
