"""Percentile ranges for static int8 calibration (export/calibration.py)."""

import numpy as np
import pytest

from infer_bench.export.calibration import TailPercentile, percentile_range


def test_full_percentile_is_min_max():
    values = np.array([-2.0, 0.5, 3.0, 7.0])
    assert percentile_range(values, 100) == (-2.0, 7.0)


def test_a_rare_outlier_is_clipped_and_ordinary_values_kept():
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.uniform(0, 4, 1_000_000), [400.0]])  # one activation 100x the rest
    lo, hi = percentile_range(values, 99.999)
    assert lo == 0.0
    assert 3.99 < hi < 4.0  # the outlier no longer sets the int8 grid


def test_tails_are_cut_equally_on_both_sides():
    values = np.arange(-500_000, 500_001, dtype=np.float32)  # symmetric around 0
    lo, hi = percentile_range(values, 99.0)  # 0.5% off each end
    assert lo == pytest.approx(-495_000, rel=1e-3) and hi == pytest.approx(495_000, rel=1e-3)


def test_range_always_holds_zero():
    assert percentile_range(np.array([2.0, 3.0, 4.0]), 100) == (0.0, 4.0)
    assert percentile_range(np.array([-4.0, -3.0]), 100) == (-4.0, 0.0)


@pytest.mark.parametrize("bad", [0, -1, 100.5])
def test_a_percentile_outside_0_100_is_refused(bad):
    with pytest.raises(ValueError, match="percentile"):
        percentile_range(np.ones(10), bad)


def test_no_values_is_refused():
    with pytest.raises(ValueError, match="no values"):
        percentile_range(np.array([]))


@pytest.mark.parametrize("percentile", [100, 99.998, 99.9, 99.0, 37.5])
@pytest.mark.parametrize("total, chunk", [(1, 1), (7, 2), (10_000, 1_000), (123_457, 9_999)])
def test_streamed_tails_give_numpys_percentiles_exactly(percentile, total, chunk):
    rng = np.random.default_rng(total)
    values = np.concatenate([rng.standard_normal(total - total // 3), rng.exponential(5, total // 3)])
    values = rng.permutation(values).astype(np.float32)
    tails = TailPercentile(total, percentile)
    for start in range(0, total, chunk):
        tails.add(values[start:start + chunk].reshape(-1, 1))  # any shape: chunks are raveled
    tail = (100 - percentile) / 2
    lo, hi = np.percentile(values, [tail, 100 - tail])
    assert tails.range() == pytest.approx((min(lo, 0.0), max(hi, 0.0)), rel=1e-6, abs=1e-7)
    # what it holds: the two tails, not the values (bounded by ranks, whatever the chunking)
    assert len(tails._low) + len(tails._high) <= 2 * (total * tail / 100 + 2) + 2


def test_streamed_tails_refuse_a_wrong_count():
    tails = TailPercentile(4)
    tails.add(np.ones(3))
    with pytest.raises(ValueError, match="3 of the 4"):
        tails.range()
    with pytest.raises(ValueError, match="more than the 4"):
        tails.add(np.ones(2))
