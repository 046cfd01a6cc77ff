"""LoadGen's test settings for one scenario: short defaults for a small machine, MLPerf's one option away.

``ScenarioSettings`` is the validated, JSON-ready form; ``to_loadgen`` turns it into
``mlperf_loadgen.TestSettings``. The MLPerf preset copies the generic (``*.*``) rows of
LoadGen's ``mlperf.conf``: 600 s minimum duration, p90 for SingleStream, p99 for
MultiStream and Server, 8 samples per MultiStream query. The short preset keeps the
same percentiles but runs for seconds, with just enough queries for early stopping to
give its estimate: 662 queries for a p99 estimate (the MLPerf figure), and about 460
under the bound for a Server p99 verdict at 99% confidence (500 asked).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ..errors import InferBenchError, unknown_name

SCENARIOS = ("single-stream", "multi-stream", "server", "offline")
PRESETS = ("short", "mlperf")
LOADGEN_SCENARIO = {"single-stream": "SingleStream", "multi-stream": "MultiStream", "server": "Server",
                    "offline": "Offline"}
MLPERF_SERVER_SLO_MS = 10.0  # mlperf.conf: *.Server.target_latency = 10
MULTI_STREAM_SAMPLES = 8  # mlperf.conf: *.MultiStream.samples_per_query = 8
PERCENTILES = {"single-stream": 0.90, "multi-stream": 0.99, "server": 0.99, "offline": 0.90}
# (min_duration_ms, min_query_count) per preset and scenario.
DURATIONS = {
    "short": {"single-stream": (2000, 662), "multi-stream": (2000, 662), "server": (2000, 500), "offline": (2000, 1)},
    "mlperf": {"single-stream": (600_000, 100), "multi-stream": (600_000, 662), "server": (600_000, 100),
               "offline": (600_000, 1)},
}
# LoadGen pre-generates min_duration / expected latency queries; a low guess only costs memory,
# a high one ends the run before min_duration (an INVALID result), so guess low.
# 10 us: a tiny model answers in 40 us here, and with a 100 us guess a 300 ms run ended at 290 ms (INVALID).
DEFAULT_EXPECTED_LATENCY_NS = 10_000


@dataclass(frozen=True)
class ScenarioSettings:
    """One LoadGen run's settings.

    ``target_qps``: the Server arrival rate (Poisson), or the Offline expected rate (the run
    is sized from it: aim above the real rate so it lasts ``min_duration_ms``).
    ``slo_ms``: the Server latency bound at ``percentile``.
    """

    scenario: str
    preset: str = "short"
    min_duration_ms: int | None = None  # None: the preset's
    min_query_count: int | None = None  # None: the preset's
    target_qps: float | None = None
    slo_ms: float = MLPERF_SERVER_SLO_MS
    expected_latency_ns: int = DEFAULT_EXPECTED_LATENCY_NS
    seed: int = 0

    def __post_init__(self):
        if self.scenario not in SCENARIOS:
            raise unknown_name("scenario", self.scenario, SCENARIOS)
        if self.preset not in PRESETS:
            raise unknown_name("settings preset", self.preset, PRESETS)
        duration, queries = DURATIONS[self.preset][self.scenario]
        object.__setattr__(self, "min_duration_ms", duration if self.min_duration_ms is None else self.min_duration_ms)
        object.__setattr__(self, "min_query_count", queries if self.min_query_count is None else self.min_query_count)
        if self.min_duration_ms < 0 or self.min_query_count < 1:
            raise InferBenchError(f"min duration {self.min_duration_ms} ms and min queries {self.min_query_count} "
                                  "must be >= 0 and >= 1.", "pass e.g. --duration-s 2 --min-queries 662.")
        if self.scenario in ("server", "offline") and (self.target_qps is None or self.target_qps <= 0):
            raise InferBenchError(f"the {self.scenario} scenario needs a positive target QPS (got {self.target_qps}).",
                                  "pass --target-qps Q (or --find-max-qps --slo-ms X for the server search).")
        if self.slo_ms <= 0:
            raise InferBenchError(f"--slo-ms {self.slo_ms} must be positive.", "pass e.g. --slo-ms 10.")
        if self.expected_latency_ns < 1:
            raise InferBenchError("the expected latency must be at least 1 ns.", "leave it at its default.")

    @property
    def percentile(self) -> float:
        """The latency percentile LoadGen judges (and estimates with early stopping)."""
        return PERCENTILES[self.scenario]

    def with_qps(self, qps: float) -> "ScenarioSettings":
        """The same settings at another target QPS (the search's probes)."""
        return ScenarioSettings(**{**asdict(self), "target_qps": float(qps)})

    def to_dict(self) -> dict:
        """JSON-ready, with the percentile LoadGen used."""
        return {**asdict(self), "percentile": self.percentile}

    def to_loadgen(self, lg):
        """``lg.TestSettings`` (``lg`` is the ``mlperf_loadgen`` module) for a performance run."""
        ts = lg.TestSettings()
        ts.scenario = getattr(lg.TestScenario, LOADGEN_SCENARIO[self.scenario])
        ts.mode = lg.TestMode.PerformanceOnly
        ts.min_duration_ms = int(self.min_duration_ms)
        ts.min_query_count = int(self.min_query_count)
        # Fixed seeds (LoadGen's defaults are 0 too): the same arrivals and samples each run.
        ts.qsl_rng_seed = ts.sample_index_rng_seed = ts.schedule_rng_seed = int(self.seed)
        if self.scenario == "single-stream":
            ts.single_stream_expected_latency_ns = int(self.expected_latency_ns)
            ts.single_stream_target_latency_percentile = self.percentile
        elif self.scenario == "multi-stream":
            ts.multi_stream_expected_latency_ns = int(self.expected_latency_ns) * MULTI_STREAM_SAMPLES
            ts.multi_stream_samples_per_query = MULTI_STREAM_SAMPLES
            ts.multi_stream_target_latency_percentile = self.percentile
        elif self.scenario == "server":
            ts.server_target_qps = float(self.target_qps)
            ts.server_target_latency_ns = int(round(self.slo_ms * 1e6))
            ts.server_target_latency_percentile = self.percentile
        else:
            ts.offline_expected_qps = float(self.target_qps)
        return ts
