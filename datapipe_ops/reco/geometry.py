"""Stereo geometry: the weighted intersection of the image axes (``HillasIntersection``).

Definitions are ctapipe 0.32's ``HillasReconstructor`` (telescope-frame Hillas parameters,
telescopes pointing with the array):

* each image defines a plane through the telescope: the great circle through the image
  centroid and a second point ``p2 = cog + 0.1 r (cos ψ, sin ψ)`` of the telescope frame,
  ``r`` the camera radius (mean distance of the camera's border pixels from its centre);
  both points are turned into horizontal directions (right-handed cartesian: x north, y west,
  z up) and the plane normal is their cross product (not normalised, as in ctapipe);
* every pair of planes crosses in a direction (taken in the upper hemisphere); the shower
  direction is the normalised sum of the crossings weighted by the product of the two images'
  weights ``intensity · length / width``; ``alt_uncert = az_uncert`` is the mean angle between
  the result and the crossings;
* the core is the least-squares intersection, in the tilted plane perpendicular to the array
  pointing, of the lines through each telescope along its image axis (ψ measured in the camera
  frame of the array pointing), projected to the ground along the pointing;
* ``h_max`` is the least-squares intersection of the lines from each telescope towards its
  image centroid, its height above sea level (the site's height added);
* the impact distance of each telescope is its distance to the shower axis through the core.

Deliberate differences from ctapipe (which leaves them unset): ``core_uncert_x/y`` and
``h_max_uncert`` are the standard errors of the least-squares intersections (the scatter of the
lines about the fitted point, ``NaN`` for two telescopes where the core lines meet exactly), and
an event whose direction or core comes out non-finite (parallel image axes) is flagged invalid
instead of carrying ``NaN`` values with ``is_valid`` set.

One compiled call (:func:`intersect_axes`) reconstructs a whole chunk of events; the quality
query (:func:`quality_mask`) is vectorised numpy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from astropy import units as u
from numba import njit

from datapipe_ops.image.geometry import ImageGeometry
from datapipe_ops.instrument import SubarrayDescription
from datapipe_ops.reco import names
from datapipe_ops.reco.config import GeometryConfig, QualityQuery

#: subarray columns (without the algorithm prefix) and their units, in table order
GEOMETRY_COLUMNS: tuple[tuple[str, u.UnitBase | None], ...] = (
    ("alt", u.deg),
    ("az", u.deg),
    ("alt_uncert", u.deg),
    ("az_uncert", u.deg),
    ("core_x", u.m),
    ("core_y", u.m),
    ("core_uncert_x", u.m),
    ("core_uncert_y", u.m),
    ("h_max", u.m),
    ("h_max_uncert", u.m),
    ("average_intensity", None),
)
#: the step of the second axis point, in camera radii (ctapipe's 0.1)
AXIS_STEP = 0.1
#: the DL1 columns geometry reads
INPUT_COLUMNS = (
    "hillas_intensity",
    "hillas_fov_lon",
    "hillas_fov_lat",
    "hillas_psi",
    "hillas_length",
    "hillas_width",
    "morphology_n_pixels",
    "leakage_intensity_width_2",
)


def camera_radius_deg(geometry: ImageGeometry) -> float:
    """ctapipe's ``guess_radius`` in the telescope frame: mean distance [deg] of the border
    pixels (width 1) from the mean pixel position."""
    lon, lat = geometry.fov_lon, geometry.fov_lat
    border = geometry.border_1
    distance = np.hypot(lon[border] - lon.mean(), lat[border] - lat.mean())
    return float(distance.mean())


@dataclass(frozen=True)
class ArrayGeometry:
    """What the kernel needs of the subarray, in its telescope order.

    Attributes
    ----------
    tel_ids
        (n_tels,) telescope ids.
    positions
        (n_tels, 3) ground positions [m] (x north, y west, z up).
    camera_radius
        (n_tels,) camera radius [deg] of each telescope (:func:`camera_radius_deg`).
    site_height
        Height of the array centre above sea level [m] (added to ``h_max``).
    """

    tel_ids: np.ndarray
    positions: np.ndarray
    camera_radius: np.ndarray
    site_height: float

    @property
    def n_tels(self) -> int:
        """Number of telescopes."""
        return int(self.tel_ids.shape[0])

    @classmethod
    def from_subarray(cls, subarray: SubarrayDescription) -> ArrayGeometry:
        """Positions, camera radii and site height of ``subarray``."""
        radius = {}
        values = np.empty(subarray.n_tels, np.float64)
        for j, tel_id in enumerate(subarray.tel_ids):
            tel = subarray.telescopes[int(tel_id)]
            key = (tel.camera.name, tel.optics.effective_focal_length_m)
            if key not in radius:
                image = ImageGeometry.from_camera(tel.camera.geometry, key[1])
                radius[key] = camera_radius_deg(image)
            values[j] = radius[key]
        height = 0.0
        if subarray.site:
            from datapipe_ops.instrument.loading import load_site

            height = float(load_site(subarray.site).height_m)
        return cls(
            tel_ids=np.asarray(subarray.tel_ids, np.int64),
            positions=np.ascontiguousarray(subarray.positions, np.float64),
            camera_radius=values,
            site_height=height,
        )


@dataclass
class GeometryResult:
    """The reconstructed geometry of a chunk of events.

    ``columns`` maps each name of :data:`GEOMETRY_COLUMNS` to an (n_events,) float64 array;
    ``is_valid`` (n_events,) bool; ``telescopes`` (n_events, n_tels) bool, the images used;
    ``impact_distance`` (n_events, n_tels) [m], every telescope's distance to the shower axis
    (NaN for invalid events).
    """

    columns: dict[str, np.ndarray]
    is_valid: np.ndarray
    telescopes: np.ndarray
    impact_distance: np.ndarray


def quality_mask(
    has_image: np.ndarray,
    intensity: np.ndarray,
    width: np.ndarray,
    n_pixels: np.ndarray,
    leakage_intensity_width_2: np.ndarray,
    query: QualityQuery,
) -> np.ndarray:
    """(n_events, n_tels) bool: the image exists and passes every condition of ``query``
    (NaN parameters fail)."""
    with np.errstate(invalid="ignore"):
        mask = has_image & (intensity > query.min_intensity) & (width > 0.0)
        mask &= n_pixels > query.min_n_pixels
        if query.max_leakage_intensity_width_2 is not None:
            mask &= leakage_intensity_width_2 <= query.max_leakage_intensity_width_2
    return mask


@njit(cache=True, error_model="numpy")
def _telescope_to_cartesian(lon_deg, lat_deg, sin_p, cos_p, sin_a, cos_a, out):
    """Telescope-frame point → right-handed horizontal unit vector (x north, y west, z up)."""
    lon = math.radians(lon_deg)
    lat = math.radians(lat_deg)
    wx = math.cos(lat) * math.cos(lon)
    wy = math.cos(lat) * math.sin(lon)
    wz = math.sin(lat)
    vx = cos_p * wx - sin_p * wz  # towards the pointing azimuth
    vz = sin_p * wx + cos_p * wz
    # azimuth grows from north to east; right-handed y points west
    out[0] = vx * cos_a - wy * sin_a
    out[1] = -(vx * sin_a + wy * cos_a)
    out[2] = vz


@njit(cache=True, error_model="numpy")
def _cross(a, b, out):
    out[0] = a[1] * b[2] - a[2] * b[1]
    out[1] = a[2] * b[0] - a[0] * b[2]
    out[2] = a[0] * b[1] - a[1] * b[0]


@njit(cache=True, error_model="numpy")
def _angle(a, b):
    norm_a = math.sqrt(a[0] ** 2 + a[1] ** 2 + a[2] ** 2)
    norm = norm_a * math.sqrt(b[0] ** 2 + b[1] ** 2 + b[2] ** 2)
    cosine = (a[0] * b[0] + a[1] * b[1] + a[2] * b[2]) / norm
    return math.acos(min(max(cosine, -1.0), 1.0))


@njit(cache=True, error_model="numpy")
def _solve3(m, v, out):
    """out = m⁻¹ v for a 3×3 matrix (Cramer); returns False if singular."""
    c00 = m[1, 1] * m[2, 2] - m[1, 2] * m[2, 1]
    c01 = m[1, 2] * m[2, 0] - m[1, 0] * m[2, 2]
    c02 = m[1, 0] * m[2, 1] - m[1, 1] * m[2, 0]
    det = m[0, 0] * c00 + m[0, 1] * c01 + m[0, 2] * c02
    if det == 0.0 or not math.isfinite(det):
        return False
    inv = np.empty((3, 3))
    inv[0, 0] = c00 / det
    inv[1, 0] = c01 / det
    inv[2, 0] = c02 / det
    inv[0, 1] = (m[0, 2] * m[2, 1] - m[0, 1] * m[2, 2]) / det
    inv[1, 1] = (m[0, 0] * m[2, 2] - m[0, 2] * m[2, 0]) / det
    inv[2, 1] = (m[0, 1] * m[2, 0] - m[0, 0] * m[2, 1]) / det
    inv[0, 2] = (m[0, 1] * m[1, 2] - m[0, 2] * m[1, 1]) / det
    inv[1, 2] = (m[0, 2] * m[1, 0] - m[0, 0] * m[1, 2]) / det
    inv[2, 2] = (m[0, 0] * m[1, 1] - m[0, 1] * m[1, 0]) / det
    for i in range(3):
        out[i] = inv[i, 0] * v[0] + inv[i, 1] * v[1] + inv[i, 2] * v[2]
    # keep the inverse for the covariance: m is overwritten with it
    for i in range(3):
        for j in range(3):
            m[i, j] = inv[i, j]
    return True


@njit(cache=True, error_model="numpy")
def _event(
    lon,
    lat,
    psi_deg,
    intensity,
    weight,
    used,
    radius,
    positions,
    alt_p,
    az_p,
    out,
    impact,
    cog,
    p2,
    normals,
    work,
):
    """Reconstruct one event into ``out`` (the GEOMETRY_COLUMNS order, then validity)."""
    n_tels = lon.shape[0]
    sin_p, cos_p = math.sin(alt_p), math.cos(alt_p)
    sin_a, cos_a = math.sin(az_p), math.cos(az_p)
    k = 0
    intensity_sum = 0.0
    for j in range(n_tels):
        if not used[j]:
            continue
        psi = math.radians(psi_deg[j])
        step = AXIS_STEP * radius[j]
        p2_lon = lon[j] + step * math.cos(psi)
        p2_lat = lat[j] + step * math.sin(psi)
        _telescope_to_cartesian(lon[j], lat[j], sin_p, cos_p, sin_a, cos_a, cog[k])
        _telescope_to_cartesian(p2_lon, p2_lat, sin_p, cos_p, sin_a, cos_a, p2[k])
        _cross(cog[k], p2[k], normals[k])
        # image axis angle in the camera frame of the array pointing (x = lat, y = lon); the
        # line is the same for atan2 and ctapipe's atan of the ratio (angles differ by pi)
        work[k, 0] = math.atan2(lon[j] - p2_lon, lat[j] - p2_lat)
        work[k, 1] = weight[j]
        work[k, 2] = j
        intensity_sum += intensity[j]
        k += 1
    for i in range(out.shape[0]):
        out[i] = np.nan
    out[11] = 0.0
    if k < 2:
        return
    # direction: weighted sum of the pairwise plane crossings
    crossing = np.empty(3)
    total = np.zeros(3)
    for a in range(k):
        for b in range(a + 1, k):
            _cross(normals[a], normals[b], crossing)
            sign = -1.0 if crossing[2] < 0 else 1.0
            w = work[a, 1] * work[b, 1] * sign
            for i in range(3):
                total[i] += crossing[i] * w
    norm = math.sqrt(total[0] ** 2 + total[1] ** 2 + total[2] ** 2)
    for i in range(3):
        total[i] /= norm
    off = 0.0
    for a in range(k):
        for b in range(a + 1, k):
            _cross(normals[a], normals[b], crossing)
            if crossing[2] < 0:
                for i in range(3):
                    crossing[i] = -crossing[i]
            off += _angle(total, crossing)
    out[10] = intensity_sum / k
    n_pairs = k * (k - 1) // 2
    alt = math.atan2(total[2], math.hypot(total[0], total[1]))
    az = (-math.atan2(total[1], total[0])) % (2.0 * math.pi)
    out[0] = math.degrees(alt)
    out[1] = math.degrees(az)
    out[2] = math.degrees(off / n_pairs)
    out[3] = out[2]
    # core: intersection of the image-axis lines in the tilted plane
    cos_z, sin_z = sin_p, cos_p
    t00, t01, t02 = cos_z * cos_a, -cos_z * sin_a, -sin_z
    t10, t11, t12 = sin_a, cos_a, 0.0
    t20, t21, t22 = sin_z * cos_a, -sin_z * sin_a, cos_z
    s00 = s01 = s11 = 0.0
    c0 = c1 = 0.0
    for m in range(k):
        j = int(work[m, 2])
        px, py, pz = positions[j, 0], positions[j, 1], positions[j, 2]
        tx = t00 * px + t01 * py + t02 * pz
        ty = t10 * px + t11 * py + t12 * pz
        ux, uy = math.cos(work[m, 0]), math.sin(work[m, 0])
        a00, a01, a11 = ux * ux - 1.0, ux * uy, uy * uy - 1.0
        s00 += a00
        s01 += a01
        s11 += a11
        c0 += a00 * tx + a01 * ty
        c1 += a01 * tx + a11 * ty
    det = s00 * s11 - s01 * s01
    if det == 0.0 or not math.isfinite(det):
        return
    i00, i01, i11 = s11 / det, -s01 / det, s00 / det
    cx = i00 * c0 + i01 * c1
    cy = i01 * c0 + i11 * c1
    # scatter of the lines about the core (one constraint per line, two unknowns)
    residual = 0.0
    for m in range(k):
        j = int(work[m, 2])
        px, py, pz = positions[j, 0], positions[j, 1], positions[j, 2]
        tx = t00 * px + t01 * py + t02 * pz
        ty = t10 * px + t11 * py + t12 * pz
        ux, uy = math.cos(work[m, 0]), math.sin(work[m, 0])
        residual += ((cx - tx) * uy - (cy - ty) * ux) ** 2
    # tilted (x, y, 0) → ground, then along the pointing down to z = 0
    gx = t00 * cx + t10 * cy
    gy = t01 * cx + t11 * cy
    gz = t02 * cx + t12 * cy
    core_x = gx - t20 * gz / t22
    core_y = gy - t21 * gz / t22
    out[4] = core_x
    out[5] = core_y
    if k > 2:
        sigma2 = residual / (k - 2)
        # covariance in the tilted plane: sigma² (-S)⁻¹; the ground projection is linear
        j00, j01 = t00 - t20 * t02 / t22, t10 - t20 * t12 / t22
        j10, j11 = t01 - t21 * t02 / t22, t11 - t21 * t12 / t22
        v00, v01, v11 = -i00 * sigma2, -i01 * sigma2, -i11 * sigma2
        var_x = j00 * j00 * v00 + 2.0 * j00 * j01 * v01 + j01 * j01 * v11
        var_y = j10 * j10 * v00 + 2.0 * j10 * j11 * v01 + j11 * j11 * v11
        out[6] = math.sqrt(max(var_x, 0.0))
        out[7] = math.sqrt(max(var_y, 0.0))
    # h_max: intersection of the lines from the telescopes towards their image centroids
    s = np.zeros((3, 3))
    c = np.zeros(3)
    for m in range(k):
        j = int(work[m, 2])
        for r in range(3):
            for q in range(3):
                a_rq = cog[m, r] * cog[m, q] - (1.0 if r == q else 0.0)
                s[r, q] += a_rq
                c[r] += a_rq * positions[j, q]
    point = np.empty(3)
    if _solve3(s, c, point):
        out[8] = point[2]
        residual = 0.0
        for m in range(k):
            j = int(work[m, 2])
            d = point - positions[j]
            along = d[0] * cog[m, 0] + d[1] * cog[m, 1] + d[2] * cog[m, 2]
            residual += d[0] ** 2 + d[1] ** 2 + d[2] ** 2 - along**2
        # two constraints per line, three unknowns; s now holds S⁻¹ and (-S)⁻¹ = -S⁻¹
        sigma2 = residual / (2 * k - 3)
        out[9] = math.sqrt(max(-s[2, 2] * sigma2, 0.0))
    if not (math.isfinite(out[0]) and math.isfinite(out[1])):
        return
    if not (math.isfinite(core_x) and math.isfinite(core_y)):
        return
    out[11] = 1.0
    # impact distance of every telescope to the axis through (core_x, core_y, 0)
    dx = math.cos(alt) * math.cos(az)
    dy = -math.cos(alt) * math.sin(az)
    dz = math.sin(alt)
    for j in range(n_tels):
        rx = positions[j, 0] - core_x
        ry = positions[j, 1] - core_y
        rz = positions[j, 2]
        cx_ = ry * dz - rz * dy
        cy_ = rz * dx - rx * dz
        cz_ = rx * dy - ry * dx
        impact[j] = math.sqrt(cx_ * cx_ + cy_ * cy_ + cz_ * cz_)


@njit(cache=True, error_model="numpy")
def intersect_axes(
    fov_lon,
    fov_lat,
    psi,
    intensity,
    weight,
    used,
    camera_radius,
    positions,
    pointing_alt,
    pointing_az,
):
    """Reconstruct a chunk of events in one compiled call.

    Parameters
    ----------
    fov_lon, fov_lat, psi
        (n_events, n_tels) Hillas centroid and axis angle [deg] in the telescope frame.
    intensity
        (n_events, n_tels) image intensity (the average_intensity column).
    weight
        (n_events, n_tels) plane weights (``intensity · length / width``).
    used
        (n_events, n_tels) bool, the images that passed the quality query.
    camera_radius
        (n_tels,) camera radius [deg]; ``positions`` (n_tels, 3) [m] ground positions.
    pointing_alt, pointing_az
        (n_events,) array pointing [rad].

    Returns
    -------
    values : (n_events, 12) float64
        the :data:`GEOMETRY_COLUMNS` (``h_max`` above the array centre), then 1.0 for a valid
        event and 0.0 otherwise.
    impact : (n_events, n_tels) float64
        impact distance [m] of every telescope (NaN for invalid events).
    """
    n_events, n_tels = fov_lon.shape
    values = np.empty((n_events, 12))
    impact = np.full((n_events, n_tels), np.nan)
    cog = np.empty((n_tels, 3))
    p2 = np.empty((n_tels, 3))
    normals = np.empty((n_tels, 3))
    work = np.empty((n_tels, 3))
    for e in range(n_events):
        _event(
            fov_lon[e],
            fov_lat[e],
            psi[e],
            intensity[e],
            weight[e],
            used[e],
            camera_radius,
            positions,
            pointing_alt[e],
            pointing_az[e],
            values[e],
            impact[e],
            cog,
            p2,
            normals,
            work,
        )
    return values, impact


def reconstruct(
    fov_lon: np.ndarray,
    fov_lat: np.ndarray,
    psi: np.ndarray,
    intensity: np.ndarray,
    length: np.ndarray,
    width: np.ndarray,
    used: np.ndarray,
    pointing_alt: np.ndarray,
    pointing_az: np.ndarray,
    array: ArrayGeometry,
    min_telescopes: int = 2,
) -> GeometryResult:
    """Geometry of a chunk from (n_events, n_tels) telescope-frame Hillas arrays [deg].

    ``used`` says which images passed the quality query; events with fewer than
    ``min_telescopes`` of them are invalid. Pointing is in degrees.
    """
    used = np.ascontiguousarray(used, dtype=np.bool_)
    enough = used.sum(axis=1) >= max(min_telescopes, 2)
    used = used & enough[:, np.newaxis]
    with np.errstate(invalid="ignore", divide="ignore"):
        weight = np.where(used, intensity * length / width, 0.0)
    as_float = lambda a: np.ascontiguousarray(a, dtype=np.float64)  # noqa: E731
    values, impact = intersect_axes(
        as_float(fov_lon),
        as_float(fov_lat),
        as_float(psi),
        as_float(intensity),
        as_float(weight),
        used,
        array.camera_radius,
        array.positions,
        np.deg2rad(as_float(pointing_alt)),
        np.deg2rad(as_float(pointing_az)),
    )
    is_valid = values[:, 11] > 0.5
    columns = {name: values[:, i].copy() for i, (name, _) in enumerate(GEOMETRY_COLUMNS)}
    columns["h_max"] += array.site_height
    for name, _ in GEOMETRY_COLUMNS:
        if name != "average_intensity":
            columns[name][~is_valid] = np.nan
    return GeometryResult(
        columns=columns,
        is_valid=is_valid,
        telescopes=used & is_valid[:, np.newaxis],
        impact_distance=impact,
    )


def reconstruct_chunk(chunk, array: ArrayGeometry, config: GeometryConfig) -> GeometryResult:
    """Geometry of an :class:`~datapipe_ops.reco.events.EventChunk` with ``config``'s quality
    query."""
    dense = {name: chunk.dense(name) for name in INPUT_COLUMNS}
    used = quality_mask(
        chunk.has_image,
        dense["hillas_intensity"],
        dense["hillas_width"],
        dense["morphology_n_pixels"],
        dense["leakage_intensity_width_2"],
        config.quality,
    )
    return reconstruct(
        dense["hillas_fov_lon"],
        dense["hillas_fov_lat"],
        dense["hillas_psi"],
        dense["hillas_intensity"],
        dense["hillas_length"],
        dense["hillas_width"],
        used,
        chunk.pointing_alt,
        chunk.pointing_az,
        array,
        config.min_telescopes,
    )


def column_names(algorithm: str = names.HILLAS_INTERSECTION) -> list[str]:
    """The subarray columns of a geometry table with ``algorithm``'s prefix."""
    return [names.column(algorithm, name) for name, _ in GEOMETRY_COLUMNS]
