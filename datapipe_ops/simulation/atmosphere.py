"""Isothermal exponential atmosphere: depth ↔ height, refractive index.

The atmosphere is the flat, isothermal model of textbooks (e.g. Gaisser, *Cosmic Rays and
Particle Physics*, 1990, ch. 3)::

    X_v(h)   = X_0 · exp(-h / H)               vertical depth [g cm⁻²] at height h a.s.l.
    X_s      = X_v / cos(θ)                     slant depth along a direction at zenith angle θ
    n(h) - 1 = (n_0 - 1) · exp(-h / H)          refractive index follows the density
    cos θ_c  = 1 / (β n)                        Cherenkov angle of a particle of speed β

with ``X_0 = 1030 g cm⁻²`` (sea-level depth), ``H = 8.4 km`` (scale height of the lower
atmosphere) and ``n_0 - 1 = 2.83e-4`` (dry air at sea level, 15 °C, visible light), the
defaults of :class:`~datapipe_ops.simulation.config.Atmosphere`. The functions work on whole
arrays of heights and depths.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from datapipe_ops.simulation.config import Atmosphere

#: Speed of light [m/ns].
SPEED_OF_LIGHT_M_NS = 0.299792458


def height_of_slant_depth(
    slant_depth: np.ndarray, cos_zenith: np.ndarray, atmosphere: Atmosphere
) -> np.ndarray:
    """Height a.s.l. [m] where the slant depth along a direction at ``cos_zenith`` is reached."""
    vertical = np.maximum(slant_depth * cos_zenith, 1e-6)
    return atmosphere.scale_height_m * np.log(atmosphere.depth_sea_level_g_cm2 / vertical)


def slant_depth_of_height(
    height_m: np.ndarray, cos_zenith: np.ndarray, atmosphere: Atmosphere
) -> np.ndarray:
    """Slant depth [g cm⁻²] above ``height_m`` along a direction at ``cos_zenith``."""
    vertical = atmosphere.depth_sea_level_g_cm2 * np.exp(-height_m / atmosphere.scale_height_m)
    return vertical / cos_zenith


def refractivity(height_m: np.ndarray | float, atmosphere: Atmosphere) -> np.ndarray:
    """``n - 1`` of the air at ``height_m`` a.s.l."""
    return atmosphere.n0_minus_1 * np.exp(-height_m / atmosphere.scale_height_m)
