"""Pixel neighbours as CSR arrays, with ctapipe 0.32's definition.

ctapipe (``CameraGeometry.calc_pixel_neighbors``, ``diagonal=False``) finds, for every pixel, its
``k`` nearest other pixels and keeps those closer than ``radius`` times the distance to the
nearest one:

========  ===  ======  =========
grid      k    norm    radius
========  ===  ======  =========
hexagon   6    L2      1.4
square    4    L1      1.5
========  ===  ======  =========

so a hexagonal pixel has up to 6 neighbours, a square one up to 4 (its edges, no diagonals),
and pixels across a small gap (CHEC's module gaps) are still neighbours while the second ring is
not. The kernels below compute the same relation over the whole camera at once and return it as
compressed sparse rows (``offsets[i]:offsets[i + 1]`` indexes the sorted neighbours of pixel
``i`` in ``indices``), which numba kernels can walk directly.

The L1 rule for square pixels assumes the pixel rows run (nearly) along the axes: on a square
grid turned by some 20° to 45°, diagonal candidates tie in the L1 norm at the module edges and
the choice among them is arbitrary (ctapipe then warns that its matrix is not symmetric). Ties
are broken here in pixel-index order; keep square cameras axis-aligned.
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: (number of candidates, use the L1 norm, radius in units of the nearest distance) per pix_type
NEIGHBOR_RULES: dict[str, tuple[int, bool, float]] = {
    "hexagon": (6, False, 1.4),
    "square": (4, True, 1.5),
}


@njit(cache=True, inline="always")
def _consider(j, d, best_d, best_j):
    """Insert candidate j at distance d into the k best, ordered by (distance, index)."""
    k = best_d.shape[0]
    if d < best_d[k - 1] or (d == best_d[k - 1] and j < best_j[k - 1]):
        pos = k - 1
        while pos > 0 and (
            best_d[pos - 1] > d or (best_d[pos - 1] == d and best_j[pos - 1] > j)
        ):
            best_d[pos] = best_d[pos - 1]
            best_j[pos] = best_j[pos - 1]
            pos -= 1
        best_d[pos] = d
        best_j[pos] = j


@njit(cache=True)
def _neighbor_csr(
    pix_x: np.ndarray, pix_y: np.ndarray, k: int, l1_norm: bool, radius: float
) -> tuple[np.ndarray, np.ndarray]:
    # The k nearest pixels by (distance, index): the set and order a scan of all pixels in
    # index order keeps (strict comparisons). Pixels are visited outwards from i in x order,
    # stopping once |dx| alone exceeds the k-th best distance (d >= |dx| for both norms; the
    # margin covers the rounding of the L2 norm), so each pixel sees a few dozen candidates.
    n = pix_x.shape[0]
    order = np.argsort(pix_x, kind="mergesort")
    xs = pix_x[order]
    chosen = np.full((n, k), -1, dtype=np.int32)
    counts = np.zeros(n, dtype=np.int32)
    best_d = np.empty(k, dtype=np.float64)
    best_j = np.empty(k, dtype=np.int32)
    margin = 1.0 + 1e-9
    for r in range(n):
        i = order[r]
        best_d[:] = np.inf
        best_j[:] = -1
        up, down = r + 1, r - 1
        while up < n or down >= 0:
            bound = best_d[k - 1] * margin
            go_up = up < n and (down < 0 or xs[up] - xs[r] <= xs[r] - xs[down])
            q = up if go_up else down
            if abs(xs[q] - xs[r]) > bound:
                break  # the nearer side is already too far, so is the other
            if go_up:
                up += 1
            else:
                down -= 1
            j = order[q]
            dx = pix_x[j] - pix_x[i]
            dy = pix_y[j] - pix_y[i]
            d = abs(dx) + abs(dy) if l1_norm else np.sqrt(dx * dx + dy * dy)
            _consider(j, d, best_d, best_j)
        limit = radius * best_d[0]
        m = 0
        for c in range(k):
            if best_j[c] >= 0 and best_d[c] < limit:
                chosen[i, m] = best_j[c]
                m += 1
        chosen[i, :m] = np.sort(chosen[i, :m])
        counts[i] = m
    offsets = np.zeros(n + 1, dtype=np.int32)
    for i in range(n):
        offsets[i + 1] = offsets[i] + counts[i]
    indices = np.empty(offsets[n], dtype=np.int32)
    for i in range(n):
        indices[offsets[i] : offsets[i + 1]] = chosen[i, : counts[i]]
    return offsets, indices


def neighbor_csr(
    pix_x: np.ndarray, pix_y: np.ndarray, pix_type: str
) -> tuple[np.ndarray, np.ndarray]:
    """The neighbour relation of a camera as CSR arrays ``(offsets, indices)``, both int32.

    Parameters
    ----------
    pix_x, pix_y
        Pixel centres in the camera frame (any length unit, the rule is scale free).
    pix_type
        ``"hexagon"`` or ``"square"``: selects ctapipe's rule for that pixel shape.
    """
    k, l1_norm, radius = NEIGHBOR_RULES[pix_type]
    # fresh writable copies: one compiled specialisation whatever the caller passes
    x = np.array(pix_x, dtype=np.float64, order="C", copy=True)
    y = np.array(pix_y, dtype=np.float64, order="C", copy=True)
    if x.shape[0] < 2:
        return np.zeros(x.shape[0] + 1, dtype=np.int32), np.empty(0, dtype=np.int32)
    return _neighbor_csr(x, y, k, l1_norm, radius)


@njit(cache=True)
def _grow_border(offsets: np.ndarray, indices: np.ndarray, inner: np.ndarray) -> np.ndarray:
    n = offsets.shape[0] - 1
    grown = np.zeros(n, dtype=np.bool_)
    for i in range(n):
        for p in range(offsets[i], offsets[i + 1]):
            if inner[indices[p]]:
                grown[i] = True
                break
    return grown


def border_mask(offsets: np.ndarray, indices: np.ndarray, width: int = 1) -> np.ndarray:
    """Pixels in the camera border of ``width`` pixels, as ctapipe defines it.

    Width 1: pixels with fewer neighbours than the most any pixel has. Width ``w > 1``: pixels
    having a neighbour in the border of width ``w - 1``.
    """
    if width < 1:
        raise ValueError("border width must be at least 1")
    n_neighbors = np.diff(offsets)
    mask = n_neighbors < (n_neighbors.max() if n_neighbors.size else 0)
    for _ in range(width - 1):
        mask = _grow_border(offsets, indices, mask)
    return mask
