"""CalibPipe camera calibration coefficients: the contract between CalibPipe and DataPipe.

One table per telescope at ``/dl1/monitoring/telescope/calibration/camera/coefficients/tel_NNN``
with one row per validity chunk and exactly the columns the real CalibPipe writes (ctapipe's
``DL1_CAMERA_COEFFICIENTS_GROUP``), applied as ctapipe 0.32's ``CameraCalibrator`` applies them:

``time``
    start of the chunk's validity (stored as MJD TAI).
``pedestal_offset`` (n_channels, n_pixels)
    pedestal per sample in ADC counts, subtracted from every waveform sample before extraction.
``factor`` (n_channels, n_pixels)
    photo-electrons per ADC count, multiplying the extracted charge.
``time_shift`` (n_channels, n_pixels) [ns]
    subtracted from the extracted peak time.
``outlier_mask`` (n_channels, n_pixels)
    True for broken or unusable pixels.
``is_valid``
    whether the chunk's coefficients may be used.

The end of validity of the last chunk is the table's ``valid_until`` attribute (MJD TAI); a
chunk ends where the next one starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
from astropy import units as u
from astropy.table import QTable
from astropy.time import Time

from datapipe_ops.errors import CalibrationError
from datapipe_ops.io.layout import COEFFICIENTS, tel_ids_in, tel_path
from datapipe_ops.io.product import ProductWriter, open_product
from datapipe_ops.io.tables import read_table

COLUMNS = ("time", "factor", "pedestal_offset", "time_shift", "outlier_mask", "is_valid")


@dataclass(frozen=True)
class CameraCoefficients:
    """The coefficients of one telescope valid at one time, as plain arrays (n_ch, n_pix)."""

    tel_id: int
    valid_start: Time
    valid_stop: Time
    factor: np.ndarray
    pedestal_offset: np.ndarray
    time_shift_ns: np.ndarray
    outlier_mask: np.ndarray


def coefficients_table(
    valid_start: Time,
    factor: np.ndarray,
    pedestal_offset: np.ndarray,
    time_shift_ns: np.ndarray,
    outlier_mask: np.ndarray | None = None,
) -> QTable:
    """One-row coefficients table from arrays shaped (n_channels, n_pixels)."""
    factor = np.atleast_2d(np.asarray(factor, dtype=np.float32))
    mask = np.zeros(factor.shape, bool) if outlier_mask is None else np.atleast_2d(outlier_mask)
    return QTable(
        {
            "time": Time([valid_start.tai.mjd], format="mjd", scale="tai"),
            "factor": factor[np.newaxis],
            "pedestal_offset": np.atleast_2d(np.asarray(pedestal_offset, np.float32))[np.newaxis],
            "time_shift": np.atleast_2d(np.asarray(time_shift_ns, np.float32))[np.newaxis] * u.ns,
            "outlier_mask": mask[np.newaxis],
            "is_valid": np.array([True]),
        }
    )


def write_coefficients(
    writer: ProductWriter, tel_id: int, table: QTable, valid_until: Time
) -> None:
    """Write a telescope's coefficients table with the end of validity of its last chunk."""
    path = tel_path(COEFFICIENTS, tel_id)
    writer.write_table(path, table)
    writer.h5[path].attrs["valid_until"] = float(valid_until.tai.mjd)


def read_coefficients(h5file: h5py.File, tel_id: int) -> tuple[QTable, Time]:
    """A telescope's coefficients table and the end of validity of its last chunk."""
    path = tel_path(COEFFICIENTS, tel_id)
    if path not in h5file:
        raise CalibrationError(f"no calibration coefficients for telescope {tel_id}",
                               path=h5file.filename)
    table = read_table(h5file, path)
    valid_until = Time(float(h5file[path].attrs["valid_until"]), format="mjd", scale="tai")
    return table, valid_until


def coefficients_at(
    h5file: h5py.File, tel_id: int, start: Time, stop: Time
) -> CameraCoefficients:
    """The coefficients chunk of ``tel_id`` whose validity covers ``[start, stop]``.

    Raises :class:`CalibrationError` naming the telescope and the time range when no single
    valid chunk covers it: DataPipe never processes data uncalibrated.
    """
    table, valid_until = read_coefficients(h5file, tel_id)
    starts = table["time"].tai.mjd
    stops = np.append(starts[1:], valid_until.tai.mjd)
    t0, t1 = start.tai.mjd, stop.tai.mjd
    covering = np.flatnonzero((starts <= t0) & (stops >= t1) & np.asarray(table["is_valid"]))
    if covering.size == 0:
        raise CalibrationError(
            f"no valid calibration coefficients for telescope {tel_id} covering "
            f"{start.utc.isot} – {stop.utc.isot} (coefficients valid "
            f"{Time(starts[0], format='mjd', scale='tai').utc.isot} – {valid_until.utc.isot})",
            path=h5file.filename,
        )
    row = table[covering[-1]]
    return CameraCoefficients(
        tel_id=tel_id,
        valid_start=Time(starts[covering[-1]], format="mjd", scale="tai"),
        valid_stop=Time(stops[covering[-1]], format="mjd", scale="tai"),
        factor=np.asarray(row["factor"], np.float32),
        pedestal_offset=np.asarray(row["pedestal_offset"], np.float32),
        time_shift_ns=np.asarray(row["time_shift"].to_value(u.ns), np.float32),
        outlier_mask=np.asarray(row["outlier_mask"], bool),
    )


def load_coefficients(
    path: str | Path, tel_ids: list[int], start: Time, stop: Time
) -> Mapping[int, CameraCoefficients]:
    """Coefficients covering ``[start, stop]`` for every telescope in ``tel_ids``, from a file."""
    with open_product(path, level="CALIBRATION") as h5file:
        available = set(tel_ids_in(h5file, COEFFICIENTS))
        missing = [t for t in tel_ids if t not in available]
        if missing:
            raise CalibrationError(
                f"no calibration coefficients for telescope(s) {missing}", path=path
            )
        return {t: coefficients_at(h5file, t, start, stop) for t in tel_ids}
