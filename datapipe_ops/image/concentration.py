"""Concentration parameters: fractions of an image's charge in small regions.

ctapipe 0.32's definitions (``ctapipe.image.concentration.concentration_parameters``), over the
surviving pixels: ``cog`` — pixels whose centre is closer than one pixel width to the centroid;
``core`` — pixels inside the 1-sigma Hillas ellipse (0 when the width is 0); ``pixel`` — the
brightest pixel.
"""

from __future__ import annotations

import math

from numba import njit


@njit(cache=True)
def concentration(x, y, pixel_width, charge, cog_x, cog_y, psi, length, width, intensity):
    """(cog, core, pixel) concentrations of one image (``psi`` in radians)."""
    n = x.shape[0]
    in_cog = 0.0
    in_core = 0.0
    brightest = charge[0]
    cos_psi = math.cos(psi)
    sin_psi = math.sin(psi)
    for k in range(n):
        dx = x[k] - cog_x
        dy = y[k] - cog_y
        if dx * dx + dy * dy < pixel_width[k] * pixel_width[k]:
            in_cog += charge[k]
        if width != 0.0:
            longi = dx * cos_psi + dy * sin_psi
            trans = -dx * sin_psi + dy * cos_psi
            if longi * longi / (length * length) + trans * trans / (width * width) <= 1.0:
                in_core += charge[k]
        brightest = max(brightest, charge[k])
    return in_cog / intensity, in_core / intensity, brightest / intensity
