"""Timing parameters: the peak-time gradient along the image's major axis.

Definition of ctapipe 0.32 (``ctapipe.image.timing.timing_parameters``): a robust straight-line
fit of the peak time versus the longitudinal coordinate (position along the Hillas major axis,
measured from the centroid), by Least Trimmed Squares (``ctapipe.fitting.lts_linear_regression``:
5 random starting pairs, C-steps on the 85 % of the points with the smallest residuals, at most
20 iterations, stop when the residual sum of squares changes by less than 1e-12, keep the best
start); ``slope`` [ns/deg] and ``intercept`` [ns] come from that fit, ``deviation`` [ns] is the
root-mean-square residual of all the points.

The random starting pairs are drawn from a ``numpy.random.Generator`` passed in by the caller
(ctapipe uses one process-wide generator seeded with 0): the stage draws from one generator per
telescope, seeded from the configuration, so results are reproducible run after run.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

#: ctapipe's determinant threshold for a solvable 2-point normal matrix
SINGULAR_EPS = 2 * float(np.finfo(np.float64).eps)
LTS_SAMPLES = 5
LTS_RELATIVE_SAMPLE_SIZE = 0.85
LTS_MAX_ITERATIONS = 20
LTS_EPS = 1e-12


@njit(cache=True)
def _line_fit(x, y, members, n_members):
    """Least-squares line through the points ``members[:n_members]``: (slope, intercept)."""
    sx = 0.0
    sy = 0.0
    sxx = 0.0
    sxy = 0.0
    for k in range(n_members):
        i = members[k]
        sx += x[i]
        sy += y[i]
        sxx += x[i] * x[i]
        sxy += x[i] * y[i]
    det = sxx * n_members - sx * sx
    if det < SINGULAR_EPS:
        return np.nan, np.nan
    slope = (n_members * sxy - sx * sy) / det
    intercept = (sxx * sy - sx * sxy) / det
    return slope, intercept


@njit(cache=True)
def _rss(x, y, members, n_members, slope, intercept):
    total = 0.0
    for k in range(n_members):
        i = members[k]
        r = y[i] - (x[i] * slope + intercept)
        total += r * r
    return total


@njit(cache=True)
def _kth_smallest(values, n, k):
    """The k-th smallest (0-based) of ``values[:n]``, reordering them (quickselect)."""
    low, high = 0, n - 1
    while low < high:
        pivot = values[(low + high) // 2]
        i, j = low, high
        while i <= j:
            while values[i] < pivot:
                i += 1
            while values[j] > pivot:
                j -= 1
            if i <= j:
                values[i], values[j] = values[j], values[i]
                i += 1
                j -= 1
        if k <= j:
            high = j
        elif k >= i:
            low = i
        else:
            return values[k]
    return values[k]


@njit(cache=True)
def _trimmed_members(squared, n, k, work, members):
    """Indices of the k points with the smallest squared residuals, in index order.

    The set is what ctapipe's ``np.argsort(squared)[:k]`` selects (only an exact tie at the
    k-th value may be broken differently); found in linear time, without allocating.
    """
    for i in range(n):
        work[i] = squared[i]
    threshold = _kth_smallest(work, n, k - 1)
    m = 0
    for i in range(n):
        if squared[i] < threshold:
            members[m] = i
            m += 1
    below = m
    for i in range(n):
        if m == k:
            break
        if squared[i] == threshold:
            members[m] = i
            m += 1
    if below and m > below:  # the values at the threshold were appended: back to index order
        members[:m].sort()


@njit(cache=True)
def lts_line_fit(x, y, rng, samples=LTS_SAMPLES):
    """Least Trimmed Squares straight line ``y = slope * x + intercept``.

    Returns ``(slope, intercept)``; NaN when fewer than 2 finite points (no random draw then)
    or no start converges to a solvable fit.
    """
    n_all = x.shape[0]
    work = np.empty((4, n_all), dtype=np.float64)
    xs, ys, squared, scratch = work[0], work[1], work[2], work[3]
    indices = np.empty(n_all + 2, dtype=np.int64)
    members, pair = indices[:n_all], indices[n_all:]
    n = 0
    for i in range(n_all):
        if math.isfinite(x[i]) and math.isfinite(y[i]):
            xs[n] = x[i]
            ys[n] = y[i]
            n += 1
    if n < 2:
        return np.nan, np.nan
    sample_size = np.int64(LTS_RELATIVE_SAMPLE_SIZE * n)
    best_slope = np.nan
    best_intercept = np.nan
    best_error = np.inf
    for _ in range(samples):
        pair[0] = rng.integers(0, n)
        pair[1] = rng.integers(0, n - 1)
        if pair[1] >= pair[0]:
            pair[1] += 1
        slope, intercept = _line_fit(xs, ys, pair, 2)
        if math.isnan(slope):
            continue
        error = _rss(xs, ys, pair, 2, slope, intercept)
        if sample_size < 2:
            continue  # every C-step fit would be singular: this start gives NaN
        for _iteration in range(LTS_MAX_ITERATIONS):
            for k in range(n):
                r = ys[k] - (xs[k] * slope + intercept)
                squared[k] = r * r
            _trimmed_members(squared, n, sample_size, scratch, members)
            slope, intercept = _line_fit(xs, ys, members, sample_size)
            last_error = error
            error = _rss(xs, ys, members, sample_size, slope, intercept)
            if abs(last_error - error) < LTS_EPS:
                break
        if error < best_error:
            best_error = error
            best_slope = slope
            best_intercept = intercept
    return best_slope, best_intercept


@njit(cache=True)
def timing_fit(longitudinal, peak_time, rng):
    """(slope [ns/deg], intercept [ns], deviation [ns]) of the peak times along the major axis."""
    slope, intercept = lts_line_fit(longitudinal, peak_time, rng)
    n = longitudinal.shape[0]
    total = 0.0
    for i in range(n):
        r = longitudinal[i] * slope + intercept - peak_time[i]
        total += r * r
    return slope, intercept, math.sqrt(total / n)
