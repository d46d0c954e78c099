"""Leakage parameters: how much of a cleaned image lies in the camera border.

ctapipe 0.32's definition (``ctapipe.image.leakage.leakage_parameters``): the fraction of the
surviving pixels, and of their charge, that lie in the border of width 1 and 2 pixels (see
:func:`datapipe_ops.image.geometry.border_masks`).
"""

from __future__ import annotations

from numba import njit


@njit(cache=True)
def leakage(pixels, charge, border_1, border_2):
    """(pixels_width_1, pixels_width_2, intensity_width_1, intensity_width_2) of one image.

    ``pixels`` are the indices of the surviving pixels, ``charge`` their charges.
    """
    n = pixels.shape[0]
    n_1 = 0
    n_2 = 0
    q_1 = 0.0
    q_2 = 0.0
    total = 0.0
    for k in range(n):
        p = pixels[k]
        total += charge[k]
        if border_1[p]:
            n_1 += 1
            q_1 += charge[k]
        if border_2[p]:
            n_2 += 1
            q_2 += charge[k]
    return n_1 / n, n_2 / n, q_1 / total, q_2 / total
