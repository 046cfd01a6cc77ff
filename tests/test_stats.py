"""Statistics on hand-computed samples."""

import math

import pytest

from infer_bench.measure import LatencyStats
from infer_bench.present.wording import format_speedup

MS = 1_000_000  # ns per ms


def test_hand_computed_four_calls_batch_two():
    s = LatencyStats((1 * MS, 2 * MS, 3 * MS, 4 * MS), batch_size=2)
    c, r = s.per_call_ms, s.per_row_ms
    assert s.calls == 4
    assert c.p50 == pytest.approx(2.5)
    assert c.mean == pytest.approx(2.5)
    # linear interpolation: position 0.9 * 3 = 2.7 -> 3 + 0.7 * (4 - 3)
    assert c.p90 == pytest.approx(3.7)
    assert c.p99 == pytest.approx(3.97)
    assert c.min == pytest.approx(1.0) and c.max == pytest.approx(4.0)
    # sample std: sqrt((1.5^2 + 0.5^2 + 0.5^2 + 1.5^2) / 3) = sqrt(5/3)
    assert c.std == pytest.approx(math.sqrt(5 / 3))
    assert r.p50 == pytest.approx(1.25)
    assert r.mean == pytest.approx(1.25)
    assert r.min == pytest.approx(0.5) and r.max == pytest.approx(2.0)
    assert r.std == pytest.approx(math.sqrt(5 / 3) / 2)
    # 8 rows in 10 ms of timed calls
    assert s.total_s == pytest.approx(0.010)
    assert s.throughput_rows_per_s == pytest.approx(800.0)


def test_single_call_has_zero_std():
    s = LatencyStats((5 * MS,))
    assert s.per_call_ms.std == 0.0
    assert s.per_call_ms.p99 == pytest.approx(5.0)
    assert s.throughput_rows_per_s == pytest.approx(200.0)


def test_to_dict_shape():
    d = LatencyStats((1 * MS, 3 * MS), batch_size=4).to_dict()
    assert set(d) == {"per_row_ms", "per_call_ms", "throughput_rows_per_s", "calls"}
    keys = {"p50", "p90", "p99", "mean", "std", "min", "max"}
    assert set(d["per_row_ms"]) == keys and set(d["per_call_ms"]) == keys
    assert d["calls"] == 2
    assert d["per_call_ms"]["p50"] == pytest.approx(2.0)
    assert d["per_row_ms"]["p50"] == pytest.approx(0.5)
    assert d["throughput_rows_per_s"] == pytest.approx(2000.0)


def test_lists_and_numpy_ints_are_normalised():
    import numpy as np

    s = LatencyStats([np.int64(10), 20], batch_size=np.int64(1))
    assert s.calls_ns == (10, 20)
    assert all(type(v) is int for v in s.calls_ns)


@pytest.mark.parametrize(
    "calls, match",
    [((), "empty"), ((1, 0), r"calls_ns\[1\]=0"), ((-5,), r"calls_ns\[0\]=-5"), ((1.5,), "int > 0"), ((True,), "int")],
)
def test_bad_samples_refused(calls, match):
    with pytest.raises(ValueError, match=match):
        LatencyStats(calls)


@pytest.mark.parametrize("bs", [0, -1, 1.0, True])
def test_bad_batch_size_refused(bs):
    with pytest.raises(ValueError, match="batch_size"):
        LatencyStats((1,), batch_size=bs)


def test_frozen():
    s = LatencyStats((1,))
    with pytest.raises(AttributeError):
        s.batch_size = 3


def test_noise_warnings():
    quiet = LatencyStats(tuple([MS] * 100))
    assert quiet.noise_warnings() == []
    # 98 calls of 1 ms and 2 of 10 ms: p99 = 10 ms (10x the median)
    noisy = LatencyStats(tuple([MS] * 98 + [10 * MS] * 2))
    w = noisy.noise_warnings()
    assert any(x.startswith("p99 is 10.0x the median: noisy") for x in w)
    assert any(x.startswith("std is") and "% of the mean" in x for x in w)
    few = LatencyStats((MS, MS))
    assert any("only 2 timed calls" in x for x in few.noise_warnings())


@pytest.mark.parametrize(
    "ref, ms, text",
    [
        (3.2, 1.0, "3.2x faster"),
        (1.0, 1.5, "1.5x slower"),
        (1.0, 1.0, "same"),
        (1.02, 1.0, "same"),
        (1.0, 1.03, "same"),
        (1.07, 1.0, "1.07x faster"),
        (10.0, 1.0, "10.0x faster"),
    ],
)
def test_format_speedup(ref, ms, text):
    assert format_speedup(ref, ms) == text


@pytest.mark.parametrize("ref, ms", [(0, 1.0), (1.0, -1), (float("nan"), 1.0), (1.0, float("inf"))])
def test_format_speedup_refuses_bad_times(ref, ms):
    with pytest.raises(ValueError):
        format_speedup(ref, ms)
