"""The robust timing fit: ctapipe's Least Trimmed Squares, given the same random starts."""

from __future__ import annotations

import numpy as np
import pytest

from datapipe_ops.image.timing import lts_line_fit, timing_fit


def points(n: int, seed: int, outliers: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-0.5, 0.5, n)
    y = 20.0 + 8.0 * x + rng.normal(0, 0.3, n)
    y[:outliers] += rng.uniform(10, 30, outliers)
    return x, y


@pytest.mark.parametrize(("n", "outliers"), [(4, 0), (10, 1), (40, 5), (300, 30)])
def test_lts_identical_to_ctapipe_with_the_same_generator(n, outliers):
    from ctapipe.fitting import lts_linear_regression

    x, y = points(n, seed=n, outliers=outliers)
    ours = lts_line_fit(x, y, np.random.default_rng(3))
    theirs, _ = lts_linear_regression(x, y, samples=5, rng=np.random.default_rng(3))
    assert np.allclose(ours, theirs, rtol=1e-9)


def test_lts_ignores_outliers_and_non_finite_points():
    x, y = points(60, seed=1, outliers=8)
    y[10] = np.nan
    slope, intercept = lts_line_fit(x, y, np.random.default_rng(0))
    assert slope == pytest.approx(8.0, abs=0.5)
    assert intercept == pytest.approx(20.0, abs=0.2)
    ordinary = np.polyfit(x[np.isfinite(y)], y[np.isfinite(y)], 1)
    assert abs(ordinary[1] - 20.0) > abs(intercept - 20.0)  # least squares is pulled away


def test_too_few_points_give_nan_without_drawing():
    rng = np.random.default_rng(0)
    state = rng.bit_generator.state
    assert np.isnan(lts_line_fit(np.array([1.0]), np.array([2.0]), rng)).all()
    assert rng.bit_generator.state == state


def test_deviation_is_rms_of_all_points():
    x, y = points(30, seed=2)
    slope, intercept, deviation = timing_fit(x, y, np.random.default_rng(0))
    assert deviation == pytest.approx(np.sqrt(np.mean((x * slope + intercept - y) ** 2)))
