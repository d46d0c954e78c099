"""All image parameters of a chunk of cleaned images in one compiled call.

Columns and definitions are ctapipe 0.32's ``ImageProcessor`` in the telescope frame (its
default): ``hillas_*``, ``timing_*``, ``leakage_*``, ``concentration_*``, ``morphology_*``,
``intensity_*`` and ``peak_time_*``, plus ``is_valid``.

An image is parameterised when, as in ctapipe, at least 2 pixels survive cleaning and their
charge sum is positive (and, beyond ctapipe, which raises there, no surviving charge is
negative or non-finite); otherwise every float parameter is NaN and every morphology count -1
(ctapipe's defaults). ``is_valid`` is True when the Hillas ellipse is defined: the image was
parameterised and its length and width are both positive, i.e. at least 3 surviving pixels not
on one line. Degenerate images (2 pixels, all pixels on a line) keep ctapipe's values —
``hillas_width`` 0, NaN ``hillas_width_uncertainty``, NaN timing for 2 pixels — with
``is_valid`` False.
"""

from __future__ import annotations

import math

import numpy as np
from astropy import units as u
from astropy.table import QTable
from numba import njit

from datapipe_ops.image import hillas as h
from datapipe_ops.image.concentration import concentration
from datapipe_ops.image.geometry import ImageGeometry
from datapipe_ops.image.leakage import leakage
from datapipe_ops.image.masks import selected_pixels
from datapipe_ops.image.morphology import island_counts
from datapipe_ops.image.statistics import describe
from datapipe_ops.image.timing import lts_workspace, timing_fit_into

DEG = u.deg
#: float parameter columns in ctapipe's order, with their units
FLOAT_COLUMNS: tuple[tuple[str, u.UnitBase | None], ...] = (
    ("hillas_intensity", None),
    ("hillas_skewness", None),
    ("hillas_kurtosis", None),
    ("hillas_fov_lon", DEG),
    ("hillas_fov_lat", DEG),
    ("hillas_r", DEG),
    ("hillas_phi", DEG),
    ("hillas_length", DEG),
    ("hillas_length_uncertainty", DEG),
    ("hillas_width", DEG),
    ("hillas_width_uncertainty", DEG),
    ("hillas_psi", DEG),
    ("hillas_psi_uncertainty", DEG),
    ("hillas_transverse_cog_uncertainty", DEG),
    ("timing_intercept", u.ns),
    ("timing_deviation", u.ns),
    ("timing_slope", u.ns / DEG),
    ("leakage_pixels_width_1", None),
    ("leakage_pixels_width_2", None),
    ("leakage_intensity_width_1", None),
    ("leakage_intensity_width_2", None),
    ("concentration_cog", None),
    ("concentration_core", None),
    ("concentration_pixel", None),
    ("intensity_max", None),
    ("intensity_min", None),
    ("intensity_mean", None),
    ("intensity_std", None),
    ("intensity_skewness", None),
    ("intensity_kurtosis", None),
    ("peak_time_max", u.ns),
    ("peak_time_min", u.ns),
    ("peak_time_mean", u.ns),
    ("peak_time_std", u.ns),
    ("peak_time_skewness", None),
    ("peak_time_kurtosis", None),
)
#: integer (morphology) columns, after the float ones in the table
INT_COLUMNS: tuple[str, ...] = (
    "morphology_n_pixels",
    "morphology_n_islands",
    "morphology_n_small_islands",
    "morphology_n_medium_islands",
    "morphology_n_large_islands",
)
_INDEX = {name: i for i, (name, _) in enumerate(FLOAT_COLUMNS)}
F_INTENSITY = _INDEX["hillas_intensity"]
F_SKEWNESS = _INDEX["hillas_skewness"]
F_KURTOSIS = _INDEX["hillas_kurtosis"]
F_FOV_LON = _INDEX["hillas_fov_lon"]
F_FOV_LAT = _INDEX["hillas_fov_lat"]
F_R = _INDEX["hillas_r"]
F_PHI = _INDEX["hillas_phi"]
F_LENGTH = _INDEX["hillas_length"]
F_LENGTH_UNC = _INDEX["hillas_length_uncertainty"]
F_WIDTH = _INDEX["hillas_width"]
F_WIDTH_UNC = _INDEX["hillas_width_uncertainty"]
F_PSI = _INDEX["hillas_psi"]
F_PSI_UNC = _INDEX["hillas_psi_uncertainty"]
F_TRANSVERSE_UNC = _INDEX["hillas_transverse_cog_uncertainty"]
F_TIMING = _INDEX["timing_intercept"]
F_LEAKAGE = _INDEX["leakage_pixels_width_1"]
F_CONCENTRATION = _INDEX["concentration_cog"]
F_INTENSITY_STATS = _INDEX["intensity_max"]
F_PEAK_TIME_STATS = _INDEX["peak_time_max"]
N_FLOAT = len(FLOAT_COLUMNS)
N_INT = len(INT_COLUMNS)
RAD_TO_DEG = 180.0 / math.pi


@njit(cache=True)
def _store_hillas(moments, row):
    row[F_INTENSITY] = moments[h.INTENSITY]
    row[F_SKEWNESS] = moments[h.SKEWNESS]
    row[F_KURTOSIS] = moments[h.KURTOSIS]
    row[F_FOV_LON] = moments[h.COG_LON]
    row[F_FOV_LAT] = moments[h.COG_LAT]
    row[F_R] = moments[h.R]
    row[F_PHI] = moments[h.PHI] * RAD_TO_DEG
    row[F_LENGTH] = moments[h.LENGTH]
    row[F_LENGTH_UNC] = moments[h.LENGTH_UNC]
    row[F_WIDTH] = moments[h.WIDTH]
    row[F_WIDTH_UNC] = moments[h.WIDTH_UNC]
    row[F_PSI] = moments[h.PSI] * RAD_TO_DEG
    row[F_PSI_UNC] = moments[h.PSI_UNC] * RAD_TO_DEG
    row[F_TRANSVERSE_UNC] = moments[h.TRANSVERSE_COG_UNC]


@njit(cache=True)
def _parameterize_chunk(
    images,
    peak_times,
    masks,
    fov_lon,
    fov_lat,
    pix_area,
    pixel_width,
    border_1,
    border_2,
    offsets,
    indices,
    rng,
    floats,
    ints,
    valid,
):
    n_events, n_pixels = images.shape
    pixels = np.empty(n_pixels, dtype=np.int64)
    x = np.empty(n_pixels, dtype=np.float64)
    y = np.empty(n_pixels, dtype=np.float64)
    area = np.empty(n_pixels, dtype=np.float64)
    width_px = np.empty(n_pixels, dtype=np.float64)
    charge = np.empty(n_pixels, dtype=np.float64)
    time = np.empty(n_pixels, dtype=np.float64)
    longi = np.empty(n_pixels, dtype=np.float64)
    seen = np.zeros(n_pixels, dtype=np.bool_)
    stack = np.empty(n_pixels, dtype=np.int32)
    island_classes = np.empty(3, dtype=np.int32)
    moments = np.empty(h.N_HILLAS, dtype=np.float64)
    lts_work, lts_indices = lts_workspace(n_pixels)
    for e in range(n_events):
        row = floats[e]
        row[:] = np.nan
        ints[e, :] = -1
        valid[e] = False
        n = selected_pixels(masks[e], pixels)
        total = 0.0
        usable = True
        for k in range(n):
            p = pixels[k]
            value = np.float64(images[e, p])
            usable = usable and math.isfinite(value) and value >= 0.0
            total += value
            charge[k] = value
            time[k] = np.float64(peak_times[e, p])
            x[k] = fov_lon[p]
            y[k] = fov_lat[p]
            area[k] = pix_area[p]
            width_px[k] = pixel_width[p]
        if n < 2 or not total > 0.0 or not usable:
            continue

        h.hillas_moments(x[:n], y[:n], area[:n], charge[:n], moments)
        _store_hillas(moments, row)
        intensity = moments[h.INTENSITY]
        cog_x = moments[h.COG_LON]
        cog_y = moments[h.COG_LAT]
        psi = moments[h.PSI]
        length = moments[h.LENGTH]
        width = moments[h.WIDTH]

        cos_psi = math.cos(psi)
        sin_psi = math.sin(psi)
        for k in range(n):
            longi[k] = (x[k] - cog_x) * cos_psi + (y[k] - cog_y) * sin_psi
        slope, intercept, deviation = timing_fit_into(
            longi[:n], time[:n], rng, lts_work, lts_indices
        )
        row[F_TIMING] = intercept
        row[F_TIMING + 1] = deviation
        row[F_TIMING + 2] = slope

        leak = leakage(pixels[:n], charge[:n], border_1, border_2)
        for j in range(4):
            row[F_LEAKAGE + j] = leak[j]

        conc = concentration(
            x[:n], y[:n], width_px[:n], charge[:n], cog_x, cog_y, psi, length, width, intensity
        )
        for j in range(3):
            row[F_CONCENTRATION + j] = conc[j]

        describe(charge[:n], row[F_INTENSITY_STATS : F_INTENSITY_STATS + 6])
        describe(time[:n], row[F_PEAK_TIME_STATS : F_PEAK_TIME_STATS + 6])

        n_islands = island_counts(
            pixels[:n], masks[e], offsets, indices, seen, stack, island_classes
        )
        ints[e, 0] = n
        ints[e, 1] = n_islands
        for j in range(3):
            ints[e, 2 + j] = island_classes[j]
        valid[e] = length > 0.0 and width > 0.0


def image_parameters(
    images: np.ndarray,
    peak_times: np.ndarray,
    masks: np.ndarray,
    geometry: ImageGeometry,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Image parameters of a chunk of cleaned images of one camera.

    Parameters
    ----------
    images, peak_times
        ``(n_events, n_pixels)`` charge [p.e.] and peak time [ns].
    masks
        bool ``(n_events, n_pixels)`` cleaning masks.
    geometry
        The camera in the telescope frame.
    rng
        Generator for the timing fit's random starts (advanced by the call).

    Returns
    -------
    floats, ints, is_valid
        float64 ``(n_events, N_FLOAT)`` in the order of :data:`FLOAT_COLUMNS`, int32
        ``(n_events, N_INT)`` in the order of :data:`INT_COLUMNS`, bool ``(n_events,)``.
    """
    images = np.ascontiguousarray(images)
    if images.ndim != 2 or images.shape[1] != geometry.n_pixels:
        raise ValueError(
            f"images of shape {images.shape} do not fit {geometry.n_pixels} pixels of "
            f"{geometry.name}"
        )
    if peak_times.shape != images.shape or masks.shape != images.shape:
        raise ValueError("images, peak_times and masks must have the same shape")
    n_events = images.shape[0]
    floats = np.empty((n_events, N_FLOAT), dtype=np.float64)
    ints = np.empty((n_events, N_INT), dtype=np.int32)
    valid = np.empty(n_events, dtype=np.bool_)
    _parameterize_chunk(
        images,
        np.ascontiguousarray(peak_times),
        np.ascontiguousarray(masks, dtype=np.bool_).view(np.uint8),
        geometry.fov_lon,
        geometry.fov_lat,
        geometry.pix_area,
        geometry.pixel_width,
        geometry.border_1,
        geometry.border_2,
        geometry.neighbor_offsets,
        geometry.neighbor_indices,
        rng,
        floats,
        ints,
        valid,
    )
    return floats, ints, valid


def _row_layout() -> tuple[tuple[str, str, int, u.UnitBase | None], ...]:
    """(name, source, column, unit) of every parameter column, in :func:`parameters_table` order.

    ``source`` is ``"f"`` (a column of ``floats``), ``"i"`` (of ``ints``) or ``"v"`` (is_valid).
    """
    rows = [(n, "f", j, unit) for j, (n, unit) in enumerate(FLOAT_COLUMNS[:F_INTENSITY_STATS])]
    rows += [(n, "i", j, None) for j, n in enumerate(INT_COLUMNS)]
    rows += [
        (n, "f", j, unit)
        for j, (n, unit) in enumerate(FLOAT_COLUMNS[F_INTENSITY_STATS:], F_INTENSITY_STATS)
    ]
    rows.append(("is_valid", "v", 0, None))
    return tuple(rows)


ROW_LAYOUT = _row_layout()
#: unit of every parameter column (None: a plain number), in table order
PARAMETER_UNITS: dict[str, u.UnitBase | None] = {name: unit for name, _, _, unit in ROW_LAYOUT}
_SOURCE_DTYPES = {"f": np.float64, "i": np.int32, "v": np.bool_}


def parameters_rows(
    floats: np.ndarray, ints: np.ndarray, valid: np.ndarray, leading: np.ndarray | None = None
) -> np.ndarray:
    """The parameter columns as one structured array, without building an astropy table.

    Same names, dtypes and order as :func:`parameters_table` (values in the units of
    :data:`PARAMETER_UNITS`), after the fields of the structured array ``leading`` if given
    (e.g. the event ids). Appending one such array per chunk costs a fraction of a table.
    """
    fields = [] if leading is None else [(n, leading.dtype[n]) for n in leading.dtype.names]
    fields += [(name, _SOURCE_DTYPES[source]) for name, source, _, _ in ROW_LAYOUT]
    rows = np.empty(len(valid), dtype=np.dtype(fields))
    if leading is not None:
        for name in leading.dtype.names:
            rows[name] = leading[name]
    for name, source, j, _ in ROW_LAYOUT:
        rows[name] = floats[:, j] if source == "f" else ints[:, j] if source == "i" else valid
    return rows


def parameters_table(floats: np.ndarray, ints: np.ndarray, valid: np.ndarray) -> QTable:
    """The parameter columns as a QTable with units (ctapipe's names and order)."""
    table = QTable()
    for j, (name, unit) in enumerate(FLOAT_COLUMNS[:F_LEAKAGE]):
        table[name] = floats[:, j] if unit is None else floats[:, j] * unit
    for j, (name, unit) in enumerate(FLOAT_COLUMNS[F_LEAKAGE:F_INTENSITY_STATS], F_LEAKAGE):
        table[name] = floats[:, j] if unit is None else floats[:, j] * unit
    for j, name in enumerate(INT_COLUMNS):
        table[name] = ints[:, j]
    for j, (name, unit) in enumerate(FLOAT_COLUMNS[F_INTENSITY_STATS:], F_INTENSITY_STATS):
        table[name] = floats[:, j] if unit is None else floats[:, j] * unit
    table["is_valid"] = valid
    return table
