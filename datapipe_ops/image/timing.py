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


#: up to this many points the trimmed set is found by excluding the largest residuals
#: (about 15 % of them, kept in a small sorted list), beyond it by quickselect
EXCLUSION_MAX_POINTS = 256
#: inputs up to this magnitude cannot make a finite fit's residuals NaN (see _lts_into)
EXCLUSION_MAX_ABS = 1e60


@njit(cache=True)
def _smallest_by_exclusion(squared, n, k, top_value, top_index, members):
    """Indices of the k smallest ``squared[:n]`` (ties: lowest index first), in index order.

    The same set as :func:`_trimmed_members` for values that are not NaN, found by keeping the
    ``n - k`` largest in the order (value, index) in ``top_value`` / ``top_index``, ascending.
    """
    n_out = n - k
    for i in range(n_out):
        v = squared[i]
        j = i
        while j > 0 and top_value[j - 1] > v:
            top_value[j] = top_value[j - 1]
            top_index[j] = top_index[j - 1]
            j -= 1
        top_value[j] = v
        top_index[j] = i
    for i in range(n_out, n):
        v = squared[i]
        if v >= top_value[0]:  # (v, i) is above the smallest kept-out point: replace it
            j = 0
            while j + 1 < n_out and top_value[j + 1] <= v:
                top_value[j] = top_value[j + 1]
                top_index[j] = top_index[j + 1]
                j += 1
            top_value[j] = v
            top_index[j] = i
    cut_value = top_value[0]
    cut_index = top_index[0]
    m = 0
    for i in range(n):
        v = squared[i]
        members[m] = i
        m += (v < cut_value) | ((v == cut_value) & (i < cut_index))


@njit(cache=True)
def _squared_residuals(x, y, n, slope, intercept, squared):
    for k in range(n):
        r = y[k] - (x[k] * slope + intercept)
        squared[k] = r * r


@njit(cache=True)
def _member_sum(squared, members, n_members):
    """Residual sum of squares of the members (the terms and order of :func:`_rss`)."""
    total = 0.0
    for k in range(n_members):
        total += squared[members[k]]
    return total


@njit(cache=True)
def _same_members(a, b, n_members):
    k = 0
    while k < n_members and a[k] == b[k]:
        k += 1
    return k == n_members


@njit(cache=True)
def _lts_into(x, y, rng, samples, work, indices):
    """:func:`lts_line_fit` with caller-provided scratch.

    ``work`` and ``indices`` come from :func:`lts_workspace` for at least ``len(x)`` points.

    Same arithmetic as ctapipe's C-steps, with two shortcuts that cannot change the result:
    a start whose fit becomes singular ends at once (its error would stay NaN, and NaN never
    wins), and a start reaching a member set that an earlier start ended on as a fixed point
    (the set reproduces itself) ends with that start's fit, which it would reproduce.
    """
    n_all = x.shape[0]
    xs, ys, squared, scratch, fixed_fits = work[0], work[1], work[2], work[3], work[4]
    members, previous, pair, top_index = indices[0], indices[1], indices[2], indices[3]
    n = 0
    biggest = 0.0
    for i in range(n_all):
        if math.isfinite(x[i]) and math.isfinite(y[i]):
            xs[n] = x[i]
            ys[n] = y[i]
            biggest = max(biggest, abs(x[i]), abs(y[i]))
            n += 1
    if n < 2:
        return np.nan, np.nan
    # with bounded inputs a finite fit has no NaN residual, so exclusion and quickselect agree
    by_exclusion = n <= EXCLUSION_MAX_POINTS and biggest <= EXCLUSION_MAX_ABS
    sample_size = np.int64(LTS_RELATIVE_SAMPLE_SIZE * n)
    n_fixed = 0  # member sets known to reproduce themselves: indices[4:], fits in fixed_fits
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
        _squared_residuals(xs, ys, n, slope, intercept, squared)
        for iteration in range(LTS_MAX_ITERATIONS):
            # squared: the residuals of the current line (of the pair, then of the last C-step)
            if by_exclusion:
                _smallest_by_exclusion(squared, n, sample_size, scratch, top_index, members)
            else:
                _trimmed_members(squared, n, sample_size, scratch, members)
            known = -1
            for f in range(n_fixed):
                if _same_members(members, indices[4 + f], sample_size):
                    known = f
            if known >= 0:
                slope = fixed_fits[3 * known]
                intercept = fixed_fits[3 * known + 1]
                error = fixed_fits[3 * known + 2]
                break
            slope, intercept = _line_fit(xs, ys, members, sample_size)
            if math.isnan(slope):
                error = np.nan
                break
            last_error = error
            _squared_residuals(xs, ys, n, slope, intercept, squared)
            error = _member_sum(squared, members, sample_size)
            if iteration > 0 and _same_members(members, previous, sample_size):
                indices[4 + n_fixed, :sample_size] = members[:sample_size]
                fixed_fits[3 * n_fixed] = slope
                fixed_fits[3 * n_fixed + 1] = intercept
                fixed_fits[3 * n_fixed + 2] = error
                n_fixed += 1
            if abs(last_error - error) < LTS_EPS:
                break
            previous[:sample_size] = members[:sample_size]
        if error < best_error:
            best_error = error
            best_slope = slope
            best_intercept = intercept
    return best_slope, best_intercept


@njit(cache=True)
def lts_workspace(n_points, samples=LTS_SAMPLES):
    """Scratch arrays of :func:`_lts_into` for up to ``n_points`` points: (work, indices)."""
    return (
        np.empty((5, max(n_points, 3 * samples)), dtype=np.float64),
        np.empty((samples + 4, max(n_points, 2)), dtype=np.int64),
    )


@njit(cache=True)
def lts_line_fit(x, y, rng, samples=LTS_SAMPLES):
    """Least Trimmed Squares straight line ``y = slope * x + intercept``.

    Returns ``(slope, intercept)``; NaN when fewer than 2 finite points (no random draw then)
    or no start converges to a solvable fit.
    """
    work, indices = lts_workspace(x.shape[0], samples)
    return _lts_into(x, y, rng, samples, work, indices)


@njit(cache=True)
def timing_fit_into(longitudinal, peak_time, rng, work, indices):
    """:func:`timing_fit` with the scratch of :func:`lts_workspace` (no allocation per image)."""
    slope, intercept = _lts_into(longitudinal, peak_time, rng, LTS_SAMPLES, work, indices)
    n = longitudinal.shape[0]
    total = 0.0
    for i in range(n):
        r = longitudinal[i] * slope + intercept - peak_time[i]
        total += r * r
    return slope, intercept, math.sqrt(total / n)


@njit(cache=True)
def timing_fit(longitudinal, peak_time, rng):
    """(slope [ns/deg], intercept [ns], deviation [ns]) of the peak times along the major axis."""
    work, indices = lts_workspace(longitudinal.shape[0])
    return timing_fit_into(longitudinal, peak_time, rng, work, indices)
