"""Isothermal exponential atmosphere: depth ↔ height, refractive index, Cherenkov angle.

The atmosphere is the flat, isothermal model of textbooks (e.g. Gaisser, *Cosmic Rays and
Particle Physics*, 1990, ch. 3)::

    X_v(h)   = X_0 · exp(-h / H)               vertical depth [g cm⁻²] at height h a.s.l.
    X_s      = X_v / cos(θ)                     slant depth along a direction at zenith angle θ
    n(h) - 1 = (n_0 - 1) · exp(-h / H)          refractive index follows the density
    cos θ_c  = 1 / n                            Cherenkov angle of a β = 1 particle

with ``X_0 = 1030 g cm⁻²`` (sea-level depth), ``H = 8.4 km`` (scale height of the lower
atmosphere) and ``n_0 - 1 = 2.83e-4`` (dry air at sea level, 15 °C, visible light). The
functions are numba-compiled scalars so the image kernels can call them.
"""

from __future__ import annotations

import math

from numba import njit

#: Speed of light [m/ns].
SPEED_OF_LIGHT_M_NS = 0.299792458


@njit(cache=True)
def height_of_slant_depth(
    slant_depth: float, cos_zenith: float, depth_sea_level: float, scale_height_m: float
) -> float:
    """Height a.s.l. [m] where the slant depth along a direction at ``cos_zenith`` is reached."""
    vertical = max(slant_depth * cos_zenith, 1e-6)
    return scale_height_m * math.log(depth_sea_level / vertical)


@njit(cache=True)
def slant_depth_of_height(
    height_m: float, cos_zenith: float, depth_sea_level: float, scale_height_m: float
) -> float:
    """Slant depth [g cm⁻²] above height ``height_m`` along a direction at ``cos_zenith``."""
    return depth_sea_level * math.exp(-height_m / scale_height_m) / cos_zenith


@njit(cache=True)
def cherenkov_angle(height_m: float, n0_minus_1: float, scale_height_m: float) -> float:
    """Cherenkov angle [rad] of a β = 1 particle at height ``height_m`` a.s.l."""
    eta = n0_minus_1 * math.exp(-height_m / scale_height_m)
    return math.acos(1.0 / (1.0 + eta))
