"""Descriptive statistics of pixel values (ctapipe's descriptive_statistics)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from datapipe_ops.image.statistics import N_STATISTICS, describe


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.requirement("DPPS-DP-R-043")
def test_describe_matches_scipy(seed):
    values = np.random.default_rng(seed).gamma(2.0, 3.0, 200)
    out = np.empty(N_STATISTICS)
    describe(values, out)
    assert out[0] == values.max() and out[1] == values.min()
    assert out[2] == pytest.approx(values.mean(), rel=1e-12)
    assert out[3] == pytest.approx(values.std(), rel=1e-12)
    assert out[4] == pytest.approx(stats.skew(values), rel=1e-9)
    assert out[5] == pytest.approx(stats.kurtosis(values, fisher=True), rel=1e-9)


def test_constant_values_give_nan_shape_moments():
    out = np.empty(N_STATISTICS)
    describe(np.full(5, 3.0), out)
    assert list(out[:4]) == [3.0, 3.0, 3.0, 0.0]
    assert np.isnan(out[4]) and np.isnan(out[5])
