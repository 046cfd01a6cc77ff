"""Percentile ranges for static int8 calibration (export/calibration.py)."""

import numpy as np
import pytest

from infer_bench.export.calibration import percentile_range


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
