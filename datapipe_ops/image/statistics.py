"""Descriptive statistics of the pixel values of an image (ctapipe's ``descriptive_statistics``).

max, min, mean, standard deviation (population), skewness and kurtosis (Fisher's convention:
0 for a Gaussian) of the values, computed in float64. A zero standard deviation gives NaN
skewness and kurtosis.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

N_STATISTICS = 6


@njit(cache=True)
def describe(values, out):
    """Write max, min, mean, std, skewness, kurtosis of ``values`` (non-empty) into ``out``."""
    n = values.shape[0]
    vmax = values[0]
    vmin = values[0]
    total = 0.0
    for i in range(n):
        v = values[i]
        vmax = max(vmax, v)
        vmin = min(vmin, v)
        total += v
    mean = total / n
    m2 = 0.0
    for i in range(n):
        d = values[i] - mean
        m2 += d * d
    std = math.sqrt(m2 / n)
    skewness = np.nan
    kurtosis = np.nan
    if std > 0:
        m3 = 0.0
        m4 = 0.0
        for i in range(n):
            z = (values[i] - mean) / std
            z2 = z * z
            m3 += z2 * z
            m4 += z2 * z2
        skewness = m3 / n
        kurtosis = m4 / n - 3.0
    out[0] = vmax
    out[1] = vmin
    out[2] = mean
    out[3] = std
    out[4] = skewness
    out[5] = kurtosis
