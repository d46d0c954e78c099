"""Per-event combination of telescope predictions: numba kernels over whole chunks.

Telescope events come as flat arrays with the index of their subarray event; the kernels group
them by event (one sort per chunk) and loop over events in compiled code, never per event in
Python.

:func:`weighted_mean`
    The energy (mean of log10 E) and gammaness combiners: weighted mean and weighted standard
    deviation per event.
:func:`stereo_disp`
    The combined stereo direction. Each telescope's disp estimate puts the source at one of two
    points on its image axis, ``cog ± disp·(cos ψ, sin ψ)``; the axes intersection, when valid,
    is one more point. For every head/tail combination (of the ``max_telescopes`` telescopes with
    the smallest uncertainty; the others keep the sign their classifier prefers) the points are
    averaged with weights ``1/σ²`` (σ: the predicted uncertainty of each point) and scored by
    ``χ² − 2 Σ ln P(sign)``: the weighted spread of the points around their mean plus the
    disagreement with the head/tail classifiers. The best combination gives the direction; its
    uncertainty is ``1/sqrt(Σ 1/σ²)`` scaled up by the spread when the points disagree. This is
    the MAGIC / LST stereo-disp idea (choose the head/tail set with the smallest spread) with
    the classifiers' probabilities and the intersection folded into one score.

All angles are offsets [deg] in the telescope frame of the array pointing (flat-sky sums, exact
enough for the field of view of a camera).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

_MIN_PROBABILITY = 1e-3


def event_groups(event_index: np.ndarray, n_events: int) -> tuple[np.ndarray, np.ndarray]:
    """``(order, offsets)``: rows of event i are ``order[offsets[i]:offsets[i + 1]]``."""
    order = np.argsort(event_index, kind="stable").astype(np.int64)
    offsets = np.searchsorted(event_index[order], np.arange(n_events + 1)).astype(np.int64)
    return order, offsets


@njit(cache=True, nogil=True)
def _weighted_mean_kernel(order, offsets, values, weights, mean, std, count):
    for i in range(offsets.shape[0] - 1):
        total_w = 0.0
        total = 0.0
        n = 0
        for k in range(offsets[i], offsets[i + 1]):
            r = order[k]
            v = values[r]
            w = weights[r]
            if math.isfinite(v) and math.isfinite(w) and w > 0.0:
                total_w += w
                total += w * v
                n += 1
        count[i] = n
        if n == 0:
            mean[i] = np.nan
            std[i] = np.nan
            continue
        m = total / total_w
        spread = 0.0
        for k in range(offsets[i], offsets[i + 1]):
            r = order[k]
            v = values[r]
            w = weights[r]
            if math.isfinite(v) and math.isfinite(w) and w > 0.0:
                spread += w * (v - m) * (v - m)
        mean[i] = m
        std[i] = math.sqrt(spread / total_w)


def weighted_mean(
    event_index: np.ndarray, values: np.ndarray, weights: np.ndarray, n_events: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-event weighted mean, weighted standard deviation and count of finite values."""
    order, offsets = event_groups(event_index, n_events)
    mean = np.empty(n_events)
    std = np.empty(n_events)
    count = np.empty(n_events, dtype=np.int64)
    _weighted_mean_kernel(
        order,
        offsets,
        np.ascontiguousarray(values, dtype=np.float64),
        np.ascontiguousarray(weights, dtype=np.float64),
        mean,
        std,
        count,
    )
    return mean, std, count


@njit(cache=True, nogil=True)
def _stereo_disp_kernel(
    order,
    offsets,
    lon,
    lat,
    psi,
    disp,
    p_plus,
    sigma,
    inter_lon,
    inter_lat,
    inter_sigma,
    max_telescopes,
    out_lon,
    out_lat,
    out_uncert,
    out_spread,
    out_n,
):
    n_events = offsets.shape[0] - 1
    capacity = 64
    px = np.empty((capacity, 2))
    py = np.empty((capacity, 2))
    w = np.empty(capacity)
    lp = np.empty((capacity, 2))
    rank = np.empty(capacity, dtype=np.int64)
    fixed = np.empty(capacity, dtype=np.int64)
    for i in range(n_events):
        n = 0
        for k in range(offsets[i], offsets[i + 1]):
            r = order[k]
            if n >= capacity:
                break
            if not (math.isfinite(disp[r]) and math.isfinite(p_plus[r]) and sigma[r] > 0.0):
                continue
            c = math.cos(psi[r])
            s = math.sin(psi[r])
            px[n, 0] = lon[r] + disp[r] * c
            py[n, 0] = lat[r] + disp[r] * s
            px[n, 1] = lon[r] - disp[r] * c
            py[n, 1] = lat[r] - disp[r] * s
            p = min(max(p_plus[r], _MIN_PROBABILITY), 1.0 - _MIN_PROBABILITY)
            lp[n, 0] = math.log(p)
            lp[n, 1] = math.log(1.0 - p)
            w[n] = 1.0 / (sigma[r] * sigma[r])
            n += 1
        has_inter = math.isfinite(inter_lon[i]) and math.isfinite(inter_lat[i])
        has_inter = has_inter and inter_sigma[i] > 0.0
        w0 = 1.0 / (inter_sigma[i] * inter_sigma[i]) if has_inter else 0.0
        out_n[i] = n
        if n == 0:
            out_lon[i] = np.nan
            out_lat[i] = np.nan
            out_uncert[i] = np.nan
            out_spread[i] = np.nan
            continue
        # the max_telescopes best-measured telescopes are searched, the others follow their
        # classifier
        for a in range(n):
            rank[a] = a
        for a in range(1, n):  # insertion sort by decreasing weight (n is small)
            b = a
            while b > 0 and w[rank[b - 1]] < w[rank[b]]:
                t = rank[b - 1]
                rank[b - 1] = rank[b]
                rank[b] = t
                b -= 1
        m = min(n, max_telescopes)
        for a in range(n):
            fixed[a] = 0 if lp[a, 0] >= lp[a, 1] else 1
        best_cost = np.inf
        best_x = 0.0
        best_y = 0.0
        best_chi2 = 0.0
        best_w = 0.0
        for combo in range(1 << m):
            for b in range(m):
                fixed[rank[b]] = (combo >> b) & 1
            sw = w0
            sx = w0 * inter_lon[i] if has_inter else 0.0
            sy = w0 * inter_lat[i] if has_inter else 0.0
            penalty = 0.0
            for a in range(n):
                h = fixed[a]
                sw += w[a]
                sx += w[a] * px[a, h]
                sy += w[a] * py[a, h]
                penalty -= 2.0 * lp[a, h]
            mx = sx / sw
            my = sy / sw
            chi2 = 0.0
            if has_inter:
                chi2 += w0 * ((inter_lon[i] - mx) ** 2 + (inter_lat[i] - my) ** 2)
            for a in range(n):
                h = fixed[a]
                chi2 += w[a] * ((px[a, h] - mx) ** 2 + (py[a, h] - my) ** 2)
            cost = chi2 + penalty
            if cost < best_cost:
                best_cost = cost
                best_x = mx
                best_y = my
                best_chi2 = chi2
                best_w = sw
        n_points = n + (1 if has_inter else 0)
        out_lon[i] = best_x
        out_lat[i] = best_y
        spread = math.sqrt(best_chi2 / best_w)
        out_spread[i] = spread
        scale = 1.0
        if n_points > 1:
            # reduced chi2 of the points (2 coordinates each, 2 fitted) inflates the error
            scale = max(1.0, math.sqrt(best_chi2 / (2.0 * (n_points - 1))))
        out_uncert[i] = scale / math.sqrt(best_w)


def stereo_disp(
    event_index: np.ndarray,
    n_events: int,
    cog_lon: np.ndarray,
    cog_lat: np.ndarray,
    psi_deg: np.ndarray,
    disp: np.ndarray,
    p_plus: np.ndarray,
    sigma: np.ndarray,
    intersection_lon: np.ndarray,
    intersection_lat: np.ndarray,
    intersection_sigma: np.ndarray,
    max_telescopes: int = 8,
) -> dict[str, np.ndarray]:
    """The combined direction of each event (see the module docstring).

    Parameters
    ----------
    event_index
        (n,) event of each telescope event.
    cog_lon, cog_lat, psi_deg
        (n,) image centroid [deg] and axis angle [deg] in the telescope frame.
    disp, p_plus, sigma
        (n,) predicted |disp| [deg], probability that the source lies in the +ψ direction,
        uncertainty of the disp point [deg]; rows with a NaN are left out.
    intersection_lon, intersection_lat, intersection_sigma
        (n_events,) the axes intersection [deg] and its uncertainty; NaN = no intersection.

    Returns
    -------
    dict
        ``lon``, ``lat``, ``uncert``, ``spread`` [deg] and ``n_telescopes`` per event (NaN and 0
        where no telescope has a disp estimate).
    """
    order, offsets = event_groups(event_index, n_events)
    out = {name: np.empty(n_events) for name in ("lon", "lat", "uncert", "spread")}
    n_used = np.empty(n_events, dtype=np.int64)

    def f64(a: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(a, dtype=np.float64)

    _stereo_disp_kernel(
        order,
        offsets,
        f64(cog_lon),
        f64(cog_lat),
        np.deg2rad(f64(psi_deg)),
        f64(disp),
        f64(p_plus),
        f64(sigma),
        f64(intersection_lon),
        f64(intersection_lat),
        f64(intersection_sigma),
        int(max_telescopes),
        out["lon"],
        out["lat"],
        out["uncert"],
        out["spread"],
        n_used,
    )
    out["n_telescopes"] = n_used
    return out
