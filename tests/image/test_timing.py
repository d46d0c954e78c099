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
@pytest.mark.requirement("DPPS-DP-R-043")
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


def _plain_lts(x, y, rng, samples=5):
    """The C-steps written out without shortcuts (stable tie order), for bit-exact comparison."""

    def fit(idx):
        sx = sy = sxx = sxy = 0.0
        for i in idx:
            sx += x[i]
            sy += y[i]
            sxx += x[i] * x[i]
            sxy += x[i] * y[i]
        det = sxx * len(idx) - sx * sx
        if det < 2 * np.finfo(np.float64).eps:
            return np.nan, np.nan
        return (len(idx) * sxy - sx * sy) / det, (sxx * sy - sx * sxy) / det

    def rss(idx, slope, intercept):
        total = 0.0
        for i in idx:
            r = y[i] - (x[i] * slope + intercept)
            total += r * r
        return total

    n, k = len(x), int(0.85 * len(x))
    best, best_error = (np.nan, np.nan), np.inf
    for _ in range(samples):
        first = int(rng.integers(0, n))
        second = int(rng.integers(0, n - 1))
        pair = [first, second + (second >= first)]
        slope, intercept = fit(pair)
        if np.isnan(slope) or k < 2:
            continue
        error = rss(pair, slope, intercept)
        for _ in range(20):
            squared = (y - (x * slope + intercept)) ** 2
            members = np.sort(np.argsort(squared, kind="stable")[:k])
            slope, intercept = fit(members)
            last_error, error = error, rss(members, slope, intercept)
            if abs(last_error - error) < 1e-12:
                break
        if error < best_error:
            best, best_error = (slope, intercept), error
    return best


@pytest.mark.parametrize("n", [3, 5, 9, 18, 31, 70, 255, 257, 400])
def test_lts_is_bit_identical_to_the_plain_c_steps(n):
    for seed in range(6):
        x, y = points(n, seed=seed, outliers=n // 8)
        if seed % 2:  # quantised times and positions: many tied residuals
            x, y = np.round(x, 1), np.round(y)
        ours = lts_line_fit(x, y, np.random.default_rng(seed))
        plain = _plain_lts(x, y, np.random.default_rng(seed))
        np.testing.assert_array_equal(ours, plain)


def test_exclusion_selects_the_quickselect_set():
    from datapipe_ops.image.timing import _smallest_by_exclusion, _trimmed_members

    rng = np.random.default_rng(7)
    for n in (3, 4, 7, 18, 60, 256):
        for decimals in (1, 8):
            squared = np.round(rng.uniform(0, 1, n), decimals)
            squared[rng.integers(0, n, 2)] = np.inf
            k = int(0.85 * n)
            expected, ours = np.empty(n, np.int64), np.empty(n, np.int64)
            _trimmed_members(squared, n, k, np.empty(n), expected)
            _smallest_by_exclusion(squared, n, k, np.empty(n), np.empty(n, np.int64), ours)
            np.testing.assert_array_equal(ours[:k], expected[:k])
