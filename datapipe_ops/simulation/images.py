"""Cherenkov images: emitters seen by each telescope, rendered on the camera pixels (numba).

:func:`project_emitters` looks at every emitter (:class:`~datapipe_ops.simulation.showers.Emitters`)
from every telescope and describes it as an elliptical Gaussian in the telescope frame
(ctapipe's ``fov_lon`` / ``fov_lat``):

* **amount** — the photon density of the line's light pool at the telescope's impact distance
  ``b`` (plateau ``ρ_p`` up to ``R``, then ``ρ_p · exp(-(b - R) / r_t)``) times the mirror
  area times the photon→p.e. efficiency, shared among the line's emitters;
* **centroid** — the direction from the telescope to the emitter. All emitters of a line lie on
  its axis, whose image is a straight segment pointing at the source position (the vanishing
  point of the axis), displaced from it by ≈ ``b / D``;
* **length** — the angle subtended by the emitter's extent along the axis (grows with ``b``);
* **width** — the lateral RMS of the emission over the distance to it, the lateral RMS growing
  as ``σ_lat · E^α · (1 + b / b_w)`` (more scattered light reaches distant telescopes);
* **time** — emission time plus light travel time; the gradient along the segment follows.

:func:`render_images` integrates those Gaussians over the pixels (pixel box and optical PSF
folded in quadrature), adds per-pixel Poisson photon statistics and returns true p.e. counts
and arrival times relative to the image's mean time. :func:`add_muon_rings` adds rings of
muons hitting a mirror.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from datapipe_ops.simulation.atmosphere import SPEED_OF_LIGHT_M_NS

#: Gaussians are cut at this many sigmas.
_CUT_SIGMA = 4.0


@njit(cache=True)
def _to_frame(vx: float, vy: float, vz: float, basis: np.ndarray) -> tuple[float, float]:
    """(fov_lon, fov_lat) [rad] of the (unnormalised) direction (vx, vy, vz)."""
    norm = math.sqrt(vx * vx + vy * vy + vz * vz)
    x = (vx * basis[0, 0] + vy * basis[0, 1] + vz * basis[0, 2]) / norm
    y = (vx * basis[1, 0] + vy * basis[1, 1] + vz * basis[1, 2]) / norm
    z = (vx * basis[2, 0] + vy * basis[2, 1] + vz * basis[2, 2]) / norm
    return math.atan2(y, x), math.asin(min(1.0, max(-1.0, z)))


@njit(cache=True)
def directions_to_frame(vectors: np.ndarray, basis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(fov_lon, fov_lat) [rad] of ground-frame direction vectors (n, 3) for a pointing basis."""
    n = vectors.shape[0]
    lon = np.empty(n)
    lat = np.empty(n)
    for i in range(n):
        lon[i], lat[i] = _to_frame(vectors[i, 0], vectors[i, 1], vectors[i, 2], basis)
    return lon, lat


@njit(cache=True)
def project_emitters(
    position: np.ndarray,
    sigma_s: np.ndarray,
    t_emit: np.ndarray,
    weight: np.ndarray,
    line_core: np.ndarray,
    line_direction: np.ndarray,
    pool_radius: np.ndarray,
    plateau_density: np.ndarray,
    tail_length: np.ndarray,
    lateral_m: np.ndarray,
    lateral_impact_scale_m: float,
    tel_position: np.ndarray,
    tel_collection_m2: np.ndarray,
    tel_fov_radius: np.ndarray,
    tel_pixel_solid_angle: np.ndarray,
    tel_extra_sigma2: np.ndarray,
    basis: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every emitter as seen by every telescope.

    Returns ``components`` (n_lines, n_tels, n_emitters, 9) with, per emitter: amount [p.e.],
    fov_lon, fov_lat [rad], sigma along and across the axis [rad], cos and sin of the axis
    orientation in the (lon, lat) plane, arrival time [ns] and time gradient [ns/rad] along
    the axis; ``impact`` (n_lines, n_tels) [m]; ``in_fov`` (n_lines, n_tels): the amount of
    light whose centroid falls inside the telescope's field of view; and ``peak``
    (n_lines, n_tels): the sum over those emitters of their expected p.e. in the pixel at their
    centre — an upper bound of the brightest pixel of the line's image.
    ``tel_collection_m2`` is the mirror area times the photon→p.e. efficiency;
    ``tel_pixel_solid_angle`` [sr] and ``tel_extra_sigma2`` [rad²] (PSF and pixel) are per
    telescope.
    """
    n_lines, n_emit = weight.shape
    n_tels = tel_position.shape[0]
    out = np.zeros((n_lines, n_tels, n_emit, 9))
    impact = np.empty((n_lines, n_tels))
    in_fov = np.zeros((n_lines, n_tels))
    peak = np.zeros((n_lines, n_tels))
    c = SPEED_OF_LIGHT_M_NS
    for line in range(n_lines):
        dx_, dy_, dz_ = line_direction[line, 0], line_direction[line, 1], line_direction[line, 2]
        for tel in range(n_tels):
            wx = tel_position[tel, 0] - line_core[line, 0]
            wy = tel_position[tel, 1] - line_core[line, 1]
            wz = tel_position[tel, 2] - line_core[line, 2]
            along = wx * dx_ + wy * dy_ + wz * dz_
            px, py, pz = wx - along * dx_, wy - along * dy_, wz - along * dz_
            b = math.sqrt(px * px + py * py + pz * pz)
            impact[line, tel] = b
            radius = pool_radius[line]
            density = plateau_density[line]
            if b > radius:
                density *= math.exp(-(b - radius) / tail_length[line])
            photo = density * tel_collection_m2[tel]
            lateral = lateral_m[line] * (1.0 + b / lateral_impact_scale_m)
            for k in range(n_emit):
                if weight[line, k] <= 0.0:
                    continue
                rx = position[line, k, 0] - tel_position[tel, 0]
                ry = position[line, k, 1] - tel_position[tel, 1]
                rz = position[line, k, 2] - tel_position[tel, 2]
                dist = math.sqrt(rx * rx + ry * ry + rz * rz)
                lon, lat = _to_frame(rx, ry, rz, basis)
                ds = sigma_s[line, k]
                up_x, up_y, up_z = rx + ds * dx_, ry + ds * dy_, rz + ds * dz_
                lo_x, lo_y, lo_z = rx - ds * dx_, ry - ds * dy_, rz - ds * dz_
                lon_up, lat_up = _to_frame(up_x, up_y, up_z, basis)
                lon_lo, lat_lo = _to_frame(lo_x, lo_y, lo_z, basis)
                d_lon = lon_up - lon_lo
                d_lat = lat_up - lat_lo
                span = math.sqrt(d_lon * d_lon + d_lat * d_lat)
                time = t_emit[line, k] + dist / c
                if span > 1e-9:
                    cos_psi, sin_psi = d_lon / span, d_lat / span
                    t_up = t_emit[line, k] - ds / c + math.sqrt(up_x**2 + up_y**2 + up_z**2) / c
                    t_lo = t_emit[line, k] + ds / c + math.sqrt(lo_x**2 + lo_y**2 + lo_z**2) / c
                    gradient = (t_up - t_lo) / span
                else:
                    cos_psi, sin_psi, gradient = 1.0, 0.0, 0.0
                amount = photo * weight[line, k]
                out[line, tel, k, 0] = amount
                out[line, tel, k, 1] = lon
                out[line, tel, k, 2] = lat
                out[line, tel, k, 3] = 0.5 * span
                out[line, tel, k, 4] = lateral / dist
                out[line, tel, k, 5] = cos_psi
                out[line, tel, k, 6] = sin_psi
                out[line, tel, k, 7] = time
                out[line, tel, k, 8] = gradient
                if lon * lon + lat * lat < tel_fov_radius[tel] ** 2:
                    in_fov[line, tel] += amount
                    s_long2 = 0.25 * span * span + tel_extra_sigma2[tel]
                    s_lat2 = (lateral / dist) ** 2 + tel_extra_sigma2[tel]
                    peak[line, tel] += (
                        amount
                        * tel_pixel_solid_angle[tel]
                        / (2.0 * math.pi * math.sqrt(s_long2 * s_lat2))
                    )
    return out, impact, in_fov, peak


@njit(cache=True)
def render_images(
    pair_shower: np.ndarray,
    pair_tel: np.ndarray,
    line_offsets: np.ndarray,
    components: np.ndarray,
    pix_lon: np.ndarray,
    pix_lat: np.ndarray,
    pixel_solid_angle: np.ndarray,
    grid: tuple[float, float, float, int, int],
    cell_offsets: np.ndarray,
    cell_pixels: np.ndarray,
    extra_sigma2: float,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """True images of (shower, telescope) pairs of one camera type.

    ``components`` comes from :func:`project_emitters`; the pixels are given in the telescope
    frame (``pix_lon``, ``pix_lat`` [rad], solid angles [sr]) with a cell index
    (:func:`pixel_grid`) so that each Gaussian only visits the pixels near it.
    ``extra_sigma2`` [rad²] is added to both Gaussian axes: the optical PSF and the pixel box
    (width² / 12). Returns Poisson-distributed p.e. counts (n_pairs, n_pixels) int32 and
    per-pixel mean arrival times [ns] relative to the amount-weighted mean time of the image
    (float32).
    """
    np.random.seed(seed)
    lon_min, lat_min, cell, n_x, n_y = grid
    n_pairs = pair_shower.shape[0]
    n_pix = pix_lon.shape[0]
    n_emit = components.shape[2]
    images = np.zeros((n_pairs, n_pix), dtype=np.int32)
    times = np.zeros((n_pairs, n_pix), dtype=np.float32)
    expected = np.zeros(n_pix)
    weighted_time = np.zeros(n_pix)
    touched = np.zeros(n_pix, dtype=np.bool_)
    touched_list = np.empty(n_pix, dtype=np.int64)
    for pair in range(n_pairs):
        shower = pair_shower[pair]
        tel = pair_tel[pair]
        n_touched = 0
        total = 0.0
        total_time = 0.0
        for line in range(line_offsets[shower], line_offsets[shower + 1]):
            for k in range(n_emit):
                comp = components[line, tel, k]
                amount = comp[0]
                if amount <= 0.0:
                    continue
                lon0, lat0 = comp[1], comp[2]
                s_long2 = comp[3] * comp[3] + extra_sigma2
                s_lat2 = comp[4] * comp[4] + extra_sigma2
                cos_psi, sin_psi = comp[5], comp[6]
                t0, gradient = comp[7], comp[8]
                reach = _CUT_SIGMA * math.sqrt(max(s_long2, s_lat2))
                x0 = max(int((lon0 - reach - lon_min) / cell), 0)
                x1 = min(int((lon0 + reach - lon_min) / cell), n_x - 1)
                y0 = max(int((lat0 - reach - lat_min) / cell), 0)
                y1 = min(int((lat0 + reach - lat_min) / cell), n_y - 1)
                if x1 < x0 or y1 < y0:
                    continue
                norm = amount / (2.0 * math.pi * math.sqrt(s_long2 * s_lat2))
                for iy in range(y0, y1 + 1):
                    for ix in range(x0, x1 + 1):
                        c = iy * n_x + ix
                        for j in range(cell_offsets[c], cell_offsets[c + 1]):
                            p = cell_pixels[j]
                            d_lon = pix_lon[p] - lon0
                            d_lat = pix_lat[p] - lat0
                            u = d_lon * cos_psi + d_lat * sin_psi
                            v = -d_lon * sin_psi + d_lat * cos_psi
                            q = u * u / s_long2 + v * v / s_lat2
                            if q > _CUT_SIGMA * _CUT_SIGMA:
                                continue
                            value = norm * pixel_solid_angle[p] * math.exp(-0.5 * q)
                            if not touched[p]:
                                touched[p] = True
                                touched_list[n_touched] = p
                                n_touched += 1
                                expected[p] = 0.0
                                weighted_time[p] = 0.0
                            expected[p] += value
                            weighted_time[p] += value * (t0 + gradient * u)
                            total += value
                            total_time += value * (t0 + gradient * u)
        mean_time = total_time / total if total > 0.0 else 0.0
        # visit the touched pixels in index order: the Poisson draws do not depend on the
        # order in which the Gaussians reached them
        touched_sorted = np.sort(touched_list[:n_touched])
        for i in range(n_touched):
            p = touched_sorted[i]
            touched[p] = False
            mu = expected[p]
            if mu < 1e-4:
                continue
            n = np.random.poisson(mu)
            if n > 0:
                images[pair, p] = n
                times[pair, p] = weighted_time[p] / mu - mean_time
    return images, times


def pixel_grid(
    pix_lon: np.ndarray, pix_lat: np.ndarray, cell: float
) -> tuple[tuple[float, float, float, int, int], np.ndarray, np.ndarray]:
    """Square cells of side ``cell`` [rad] over the pixels: ``(lon_min, lat_min, cell, n_x,
    n_y)``, and the pixels of cell ``c`` as ``cell_pixels[cell_offsets[c]:cell_offsets[c+1]]``."""
    lon_min, lat_min = float(pix_lon.min()) - cell, float(pix_lat.min()) - cell
    n_x = int((pix_lon.max() - lon_min) / cell) + 2
    n_y = int((pix_lat.max() - lat_min) / cell) + 2
    ix = ((pix_lon - lon_min) / cell).astype(np.int64)
    iy = ((pix_lat - lat_min) / cell).astype(np.int64)
    cells = iy * n_x + ix
    order = np.argsort(cells, kind="stable")
    counts = np.bincount(cells, minlength=n_x * n_y)
    offsets = np.zeros(n_x * n_y + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return (lon_min, lat_min, float(cell), n_x, n_y), offsets, order.astype(np.int64)


@njit(cache=True)
def add_muon_rings(
    images: np.ndarray,
    times: np.ndarray,
    ring_pair: np.ndarray,
    ring_lon: np.ndarray,
    ring_lat: np.ndarray,
    ring_radius: np.ndarray,
    ring_width: np.ndarray,
    ring_amount: np.ndarray,
    pix_lon: np.ndarray,
    pix_lat: np.ndarray,
    pixel_solid_angle: np.ndarray,
    seed: int,
) -> None:
    """Add muon rings (Poisson p.e.) in place: ring ``r`` belongs to row ``ring_pair[r]``.

    A ring is a Gaussian annulus of ``ring_radius`` (the Cherenkov angle) and RMS width
    ``ring_width`` centred on the muon direction, carrying ``ring_amount`` p.e. in total.
    """
    np.random.seed(seed)
    for r in range(ring_pair.shape[0]):
        row = ring_pair[r]
        radius, width = ring_radius[r], ring_width[r]
        norm = ring_amount[r] / (2.0 * math.pi * radius * math.sqrt(2.0 * math.pi) * width)
        for p in range(pix_lon.shape[0]):
            d_lon = pix_lon[p] - ring_lon[r]
            d_lat = pix_lat[p] - ring_lat[r]
            dr = math.sqrt(d_lon * d_lon + d_lat * d_lat) - radius
            if abs(dr) > _CUT_SIGMA * width:
                continue
            mu = norm * pixel_solid_angle[p] * math.exp(-0.5 * dr * dr / (width * width))
            n = np.random.poisson(mu)
            if n > 0:
                total = images[row, p] + n
                # muon light arrives within a nanosecond: it pulls the pixel time towards 0
                times[row, p] = times[row, p] * images[row, p] / total
                images[row, p] = total
