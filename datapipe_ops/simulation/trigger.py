"""Telescope and array trigger.

Telescope trigger: a pixel fires when its signal within the trigger window (true p.e. plus the
fluctuation of the night-sky background, ``Poisson(R_nsb · τ) - R_nsb · τ`` after AC coupling)
reaches the threshold; the camera triggers when a fired pixel has at least
``multiplicity - 1`` fired neighbours (a compact next-neighbour group, as the NN logic of
current IACT cameras). NSB alone (``R τ ≈ 1`` p.e. against a threshold of ≈ 6 p.e.) fires a
pixel with probability ~1e-4 per window, so pixels without Cherenkov light are not drawn.

Array trigger: an event is kept when at least ``min_telescopes`` telescopes triggered.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def telescope_trigger(
    images: np.ndarray,
    nsb_mean_pe: float,
    threshold_pe: float,
    multiplicity: int,
    neighbor_offsets: np.ndarray,
    neighbor_indices: np.ndarray,
    seed: int,
) -> np.ndarray:
    """Next-neighbour majority trigger of each row of ``images`` (n, n_pixels) true p.e."""
    np.random.seed(seed)
    n_rows, n_pix = images.shape
    fired = np.zeros(n_pix, dtype=np.bool_)
    triggered = np.zeros(n_rows, dtype=np.bool_)
    candidates = np.empty(n_pix, dtype=np.int64)
    for row in range(n_rows):
        n_fired = 0
        for p in range(n_pix):
            signal = images[row, p]
            if signal <= 0:
                fired[p] = False
                continue
            amplitude = signal
            if nsb_mean_pe > 0.0:
                amplitude += np.random.poisson(nsb_mean_pe) - nsb_mean_pe
            fired[p] = amplitude >= threshold_pe
            if fired[p]:
                candidates[n_fired] = p
                n_fired += 1
        if n_fired < multiplicity:
            continue
        if multiplicity <= 1:
            triggered[row] = True
            continue
        for i in range(n_fired):
            p = candidates[i]
            count = 1
            for j in range(neighbor_offsets[p], neighbor_offsets[p + 1]):
                if fired[neighbor_indices[j]]:
                    count += 1
            if count >= multiplicity:
                triggered[row] = True
                break
    return triggered


def array_trigger(tel_triggered: np.ndarray, min_telescopes: int) -> np.ndarray:
    """Events (rows of the (n_events, n_tels) bool mask) with ≥ ``min_telescopes`` triggers."""
    return np.count_nonzero(tel_triggered, axis=1) >= min_telescopes
