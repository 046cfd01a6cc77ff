"""The timing loop: counts, stop rule, rotation. No wall-clock speed thresholds."""

import time

import numpy as np
import pytest

from infer_bench.measure import (
    BENCH,
    QUICK,
    ColdStart,
    InputRotation,
    LatencyStats,
    Measurement,
    StopRule,
    bare_loop_ns,
    measure_cold_start,
    measure_session,
    peak_rss_mb,
    time_calls,
)
from infer_bench.measure import loop


def images(n=10, shape=(4, 4, 1)):
    rng = np.random.default_rng(0)
    return rng.random((n, *shape), dtype=np.float32) + 0.01


class Recorder:
    """A fake ``run`` that remembers the buffers it was given."""

    def __init__(self, sleep_s=0.0):
        self.seen = []
        self.sleep_s = sleep_s

    def __call__(self, batch):
        self.seen.append(batch)
        if self.sleep_s:
            time.sleep(self.sleep_s)
        return batch.sum()


# --- InputRotation ---------------------------------------------------------


def test_rotation_batches_are_contiguous_distinct_and_cover_all_images():
    x = images(10)
    b = InputRotation(x).batches(4)
    assert len(b) == 3  # ceil(10 / 4)
    assert all(a.shape == (4, 4, 4, 1) and a.flags.c_contiguous and a.dtype == np.float32 for a in b)
    np.testing.assert_array_equal(b[0], x[0:4])
    np.testing.assert_array_equal(b[1], x[4:8])
    np.testing.assert_array_equal(b[2], x[[8, 9, 0, 1]])  # wraps around
    # copies, not views into the caller's array
    assert not any(np.shares_memory(a, x) for a in b)
    assert len({id(a) for a in b}) == len(b)


def test_rotation_tiles_when_fewer_images_than_batch():
    x = images(3)
    b = InputRotation(x).batches(8)
    assert len(b) >= 2  # still at least two buffers to rotate through
    np.testing.assert_array_equal(b[0], x[[0, 1, 2, 0, 1, 2, 0, 1]])
    np.testing.assert_array_equal(b[1], x[[2, 0, 1, 2, 0, 1, 2, 0]])


def test_rotation_single_image_batch_one_still_two_buffers():
    b = InputRotation(images(1)).batches(1)
    assert len(b) == 2 and b[0] is not b[1]


def test_rotation_is_cached_per_batch_size():
    r = InputRotation(images(10))
    assert r.batches(2) is r.batches(2)
    assert r.first(2) is r.batches(2)[0]


def test_rotation_caps_memory(monkeypatch):
    monkeypatch.setattr(loop, "MAX_ROTATION_BYTES", 10 * 16 * 4)  # room for 10 rows of 16 floats
    b = InputRotation(images(100)).batches(1)
    assert len(b) == 10


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.zeros((4, 2, 2, 1), np.float32), "all zeros"),
        (np.full((4, 2, 2, 1), np.nan, np.float32), "NaN or Inf"),
        (np.where(np.arange(16).reshape(4, 2, 2, 1) == 3, np.inf, 1).astype(np.float32), "NaN or Inf"),
        (np.ones((4, 2, 2, 1), np.uint8), "float32"),
        (np.ones((0, 2, 2, 1), np.float32), "empty"),
        (np.ones(5, np.float32), "shape"),
    ],
)
def test_rotation_refuses_bad_images(bad, match):
    with pytest.raises(ValueError, match=match):
        InputRotation(bad)


@pytest.mark.parametrize("bs", [0, -2, 1.5, True])
def test_rotation_refuses_bad_batch_size(bs):
    with pytest.raises(ValueError, match="batch_size"):
        InputRotation(images()).batches(bs)


# --- measure_session ----------------------------------------------------------


def test_measure_session_min_calls_and_warmup():
    run = Recorder()
    m = measure_session(run, InputRotation(images(10)), 4, StopRule(min_time_s=0.0, min_calls=25, warmup_calls=3))
    assert isinstance(m, Measurement)
    assert m.batch_size == 4 and m.warmup_calls == 3
    assert len(m.calls_ns) == 25
    assert len(run.seen) == 3 + 25
    assert all(isinstance(t, int) and t > 0 for t in m.calls_ns)
    assert isinstance(m.stats, LatencyStats) and m.stats.calls == 25 and m.stats.batch_size == 4


def test_measure_session_consecutive_calls_get_different_buffers():
    run = Recorder()
    measure_session(run, InputRotation(images(10)), 4, StopRule(min_time_s=0.0, min_calls=10, warmup_calls=0))
    assert all(a is not b for a, b in zip(run.seen, run.seen[1:]))
    assert run.seen[0] is run.seen[3]  # 3 batches, cycled


def test_measure_session_min_time_keeps_going_past_min_calls():
    run = Recorder(sleep_s=0.002)
    m = measure_session(run, InputRotation(images()), 1, StopRule(min_time_s=0.05, min_calls=2, warmup_calls=0))
    # each call sleeps >= 2 ms, so reaching 50 ms of timed calls needs more than 2 calls
    assert len(m.calls_ns) > 2
    assert sum(m.calls_ns) >= 50_000_000
    # and it stops at the first call that crosses the line
    assert sum(m.calls_ns[:-1]) < 50_000_000


def test_measure_session_max_calls_wins():
    run = Recorder()
    m = measure_session(run, InputRotation(images()), 2, StopRule(min_time_s=60.0, min_calls=1000, warmup_calls=1, max_calls=7))
    assert len(m.calls_ns) == 7 and len(run.seen) == 8


def test_bench_preset_counts_rows_not_calls():
    # >= 1 s and about 100 rows' worth of calls after about 10 rows' worth of warm-up,
    # with floors of 10 timed and 2 warm-up calls at large batches.
    assert BENCH.min_time_s == 1.0
    assert BENCH.at_batch(1) == StopRule(min_time_s=1.0, min_calls=100, warmup_calls=10)
    assert BENCH.at_batch(8) == StopRule(min_time_s=1.0, min_calls=13, warmup_calls=2)
    assert BENCH.at_batch(128) == StopRule(min_time_s=1.0, min_calls=10, warmup_calls=2)
    assert QUICK.at_batch(8) is QUICK  # a per-call rule is the same at every batch size


def test_measure_session_applies_a_per_row_rule_at_its_batch_size():
    run = Recorder()
    rule = StopRule(min_time_s=0.0, min_calls=40, warmup_calls=8, per_row=True)
    m = measure_session(run, InputRotation(images(10)), 4, rule)
    assert m.stats.calls == 10 and m.warmup_calls == 2 and len(run.seen) == 12


def test_time_calls_starts_at_the_given_batch_and_refuses_a_per_row_rule():
    seen = []
    batches = [np.full((1, 2), i, dtype=np.float32) for i in range(3)]
    time_calls(lambda b: seen.append(int(b[0, 0])), batches, StopRule.fixed(4, warmup_calls=1), start=2)
    assert seen == [2, 0, 1, 2, 0]
    with pytest.raises(ValueError, match="per-call"):
        time_calls(lambda b: None, batches, BENCH)


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"min_calls": 0}, "min_calls"),
        ({"warmup_calls": -1}, "warmup_calls"),
        ({"max_calls": 0}, "max_calls"),
        ({"min_time_s": -1.0}, "min_time_s"),
        ({"min_time_s": float("nan")}, "min_time_s"),
    ],
)
def test_stop_rule_refuses_bad_settings(kw, match):
    settings = {"min_time_s": 0.0, "min_calls": 1, "warmup_calls": 0, **kw}
    with pytest.raises(ValueError, match=match):
        StopRule(**settings)


def test_zero_clock_reading_recorded_as_one_ns(monkeypatch):
    # A call shorter than the clock's resolution reads 0; it must not break the stats.
    monkeypatch.setattr(loop.time, "perf_counter_ns", lambda: 42)
    m = measure_session(Recorder(), InputRotation(images()), 1, StopRule(min_time_s=0.0, min_calls=5, warmup_calls=0))
    assert m.calls_ns == (1, 1, 1, 1, 1)


def test_measurement_validates():
    with pytest.raises(ValueError, match="empty"):
        Measurement(batch_size=1, calls_ns=(), warmup_calls=0)
    with pytest.raises(ValueError, match="warmup_calls"):
        Measurement(batch_size=1, calls_ns=(1,), warmup_calls=-1)
    with pytest.raises(ValueError, match="batch_size"):
        Measurement(batch_size=0, calls_ns=(1,), warmup_calls=0)


# --- cold start, RSS, bare loop -------------------------------------------------------


class FakeSession:
    def __init__(self):
        self.calls = 0

    def run(self, batch):
        self.calls += 1
        return batch


def test_measure_cold_start():
    made = []

    def load():
        time.sleep(0.001)
        made.append(FakeSession())
        return made[-1]

    cs = measure_cold_start(load, InputRotation(images()), 2)
    assert isinstance(cs, ColdStart)
    assert cs.session is made[0] and made[0].calls == 1
    assert cs.load_ms > 0 and cs.first_inference_ms > 0


def test_peak_rss_mb_is_plausible():
    mb = peak_rss_mb()
    assert 1 < mb < 1_000_000


def test_bare_loop_ns():
    run = Recorder()
    batch = InputRotation(images()).first(2)
    total = bare_loop_ns(run, batch, 50)
    assert isinstance(total, int) and total > 0
    assert len(run.seen) == 50 and all(b is batch for b in run.seen)
    with pytest.raises(ValueError, match="n="):
        bare_loop_ns(run, batch, 0)
