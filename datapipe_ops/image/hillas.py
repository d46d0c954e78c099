"""Hillas parameters: the moments of a cleaned image, with ctapipe 0.32's definitions.

The kernel works on the selected pixels only (compacted arrays) and writes into a row of the
parameter matrix; see :mod:`datapipe_ops.image.parameters` for the column layout.

Definitions (``ctapipe.image.hillas.hillas_parameters``): the centroid is the charge-weighted
mean position; length and width are the square roots of the eigenvalues of the charge-weighted
covariance (population normalisation; eigenvalues within float64 epsilon of zero are set to
zero); ``psi`` is the angle of the major axis to the ``fov_lon`` axis in (-90°, 90°];
skewness and kurtosis are the third and fourth standardised moments along the major axis
(kurtosis in Pearson's convention, 3 for a Gaussian). The uncertainties of length and width
follow the MAGIC formulae, those of psi and of the transverse centroid a weighted least-squares
line fit of the transverse versus longitudinal coordinates (weights charge / pixel area).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

#: eigenvalues closer to 0 than this are 0 (ctapipe's HILLAS_ATOL)
EIGENVALUE_ATOL = float(np.finfo(np.float64).eps)

# field positions in the tuple returned by hillas_moments
INTENSITY, COG_LON, COG_LAT, R, PHI, LENGTH, LENGTH_UNC, WIDTH, WIDTH_UNC = range(9)
PSI, PSI_UNC, TRANSVERSE_COG_UNC, SKEWNESS, KURTOSIS = range(9, 14)
N_HILLAS = 14


@njit(cache=True)
def major_axis_angle(cxx: float, cyy: float, cxy: float) -> float:
    """Angle [rad] of the major axis of a 2x2 covariance, in (-pi/2, pi/2]."""
    if cxy == 0.0 and cxx == cyy:
        return math.pi / 2  # isotropic: the eigen-solver's (0, 1) eigenvector
    psi = 0.5 * math.atan2(2.0 * cxy, cxx - cyy)
    if psi <= -math.pi / 2:
        psi += math.pi
    return psi


@njit(cache=True)
def hillas_moments(x, y, area, w, out):
    """Hillas parameters of one image into ``out[0:N_HILLAS]`` (angles in radians).

    ``x``, ``y`` [deg], ``area`` [deg²] and ``w`` (charge) hold the selected pixels; the sum of
    ``w`` must be positive.
    """
    n = x.shape[0]
    size = 0.0
    sx = 0.0
    sy = 0.0
    for i in range(n):
        size += w[i]
        sx += w[i] * x[i]
        sy += w[i] * y[i]
    cog_x = sx / size
    cog_y = sy / size
    cxx = 0.0
    cyy = 0.0
    cxy = 0.0
    for i in range(n):
        dx = x[i] - cog_x
        dy = y[i] - cog_y
        cxx += w[i] * dx * dx
        cyy += w[i] * dy * dy
        cxy += w[i] * dx * dy
    cxx /= size
    cyy /= size
    cxy /= size

    half_trace = 0.5 * (cxx + cyy)
    root = math.sqrt(0.25 * (cxx - cyy) ** 2 + cxy * cxy)
    eig_major = half_trace + root
    eig_minor = half_trace - root
    if abs(eig_major) <= EIGENVALUE_ATOL:
        eig_major = 0.0
    if abs(eig_minor) <= EIGENVALUE_ATOL:
        eig_minor = 0.0
    length = math.sqrt(eig_major) if eig_major >= 0 else np.nan
    width = math.sqrt(eig_minor) if eig_minor >= 0 else np.nan

    psi = np.nan
    psi_unc = np.nan
    transverse_unc = np.nan
    skewness = np.nan
    kurtosis = np.nan
    if length != 0.0:
        psi = major_axis_angle(cxx, cyy, cxy)
        cos_psi = math.cos(psi)
        sin_psi = math.sin(psi)
        m3 = 0.0
        m4 = 0.0
        s_ll = 0.0
        s_l = 0.0
        s_1 = 0.0
        s_lt = 0.0
        s_t = 0.0
        for i in range(n):
            dx = x[i] - cog_x
            dy = y[i] - cog_y
            longi = dx * cos_psi + dy * sin_psi
            trans = -dx * sin_psi + dy * cos_psi
            l2 = longi * longi
            m3 += w[i] * l2 * longi
            m4 += w[i] * l2 * l2
            weight = w[i] / area[i]
            s_ll += weight * l2
            s_l += weight * longi
            s_1 += weight
            s_lt += weight * longi * trans
            s_t += weight * trans
        skewness = (m3 / size) / length**3
        kurtosis = (m4 / size) / length**4
        det = s_ll * s_1 - s_l * s_l
        inv_00 = s_1 / det
        inv_01 = -s_l / det
        inv_11 = s_ll / det
        slope = inv_00 * s_lt + inv_01 * s_t
        elongation = math.tan(width / length * math.pi / 2.0)
        psi_unc = math.sqrt(inv_00 + slope * slope) * (1.0 + elongation * elongation)
        sin_slope = math.sin(slope)
        transverse_unc = math.sqrt(inv_11 * (1.0 + sin_slope * sin_slope))

    cos_2psi = math.cos(2.0 * psi)
    a = (1.0 + cos_2psi) / 2.0
    b = (1.0 - cos_2psi) / 2.0
    c = math.sin(2.0 * psi)
    sum_length = 0.0
    sum_width = 0.0
    for i in range(n):
        dx = x[i] - cog_x
        dy = y[i] - cog_y
        big_a = (dx * dx - cxx) / size
        big_b = (dy * dy - cyy) / size
        big_c = (dx * dy - cxy) / size
        term_l = a * big_a + b * big_b + c * big_c
        term_w = b * big_a + a * big_b - c * big_c
        sum_length += term_l * term_l * w[i]
        sum_width += term_w * term_w * w[i]
    length_unc = np.nan if length == 0.0 else math.sqrt(sum_length) / (2.0 * length)
    width_unc = np.nan if width == 0.0 else math.sqrt(sum_width) / (2.0 * width)

    out[INTENSITY] = size
    out[COG_LON] = cog_x
    out[COG_LAT] = cog_y
    out[R] = math.sqrt(cog_x * cog_x + cog_y * cog_y)
    out[PHI] = math.atan2(cog_y, cog_x)
    out[LENGTH] = length
    out[LENGTH_UNC] = length_unc
    out[WIDTH] = width
    out[WIDTH_UNC] = width_unc
    out[PSI] = psi
    out[PSI_UNC] = psi_unc
    out[TRANSVERSE_COG_UNC] = transverse_unc
    out[SKEWNESS] = skewness
    out[KURTOSIS] = kurtosis
