"""Pixel masks: the indices of the pixels a mask selects, found without visiting every pixel.

Cleaned images keep a few per cent of a camera's pixels, so the kernels gather the selected
pixels once per image and work on those; this finds them.
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: mask bytes tested together when looking for selected pixels
SCAN_BLOCK = 32


@njit(cache=True)
def selected_pixels(mask, pixels):
    """Indices of the non-zero bytes of ``mask`` (uint8) into ``pixels``, ascending.

    Returns how many. Blocks of :data:`SCAN_BLOCK` bytes without a selected pixel are skipped
    after one vectorised test.
    """
    n_pixels = mask.shape[0]
    n_blocked = n_pixels - n_pixels % SCAN_BLOCK
    n = 0
    for start in range(0, n_blocked, SCAN_BLOCK):
        any_set = np.uint8(0)
        for p in range(start, start + SCAN_BLOCK):
            any_set |= mask[p]
        if any_set:
            for p in range(start, start + SCAN_BLOCK):
                pixels[n] = p
                n += mask[p] != 0
    for p in range(n_blocked, n_pixels):
        pixels[n] = p
        n += mask[p] != 0
    return n
