"""Finding the pixels a mask selects."""

from __future__ import annotations

import numpy as np
import pytest

from datapipe_ops.image.masks import SCAN_BLOCK, selected_pixels


@pytest.mark.parametrize("n_pixels", [1, SCAN_BLOCK - 1, SCAN_BLOCK, 1855, 2048])
def test_selected_pixels_are_the_nonzero_ones_in_order(n_pixels):
    rng = np.random.default_rng(n_pixels)
    pixels = np.empty(n_pixels, np.int64)
    for density in (0.0, 0.01, 0.3, 1.0):
        mask = rng.random(n_pixels) < density
        n = selected_pixels(mask.view(np.uint8), pixels)
        np.testing.assert_array_equal(pixels[:n], np.flatnonzero(mask))
