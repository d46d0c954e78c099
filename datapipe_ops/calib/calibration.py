"""CalibPipe coefficients as arrays, and the coefficient row valid for each event.

A telescope's coefficients table (:mod:`datapipe_ops.io.coefficients`) has one row per validity
chunk: a row is valid from its ``time`` to the next row's ``time`` (the last one to the table's
``valid_until``), and only if its ``is_valid`` flag is set. :class:`CoefficientSeries` holds the
rows as ``(n_rows, n_channels, n_pixels)`` arrays ready for the extraction kernel, and
:meth:`CoefficientSeries.rows_for` picks each event's row — or refuses, naming the observation
and the uncovered time range: DataPipe never processes data uncalibrated.
"""

from __future__ import annotations

from dataclasses import dataclass

import h5py
import numpy as np
from astropy import units as u
from astropy.time import Time

from datapipe_ops.errors import CalibrationError
from datapipe_ops.io.coefficients import read_coefficients


def _isot(mjd_tai: float) -> str:
    return Time(mjd_tai, format="mjd", scale="tai").utc.isot


@dataclass(frozen=True)
class CoefficientSeries:
    """All coefficient rows of one telescope; times are MJD (TAI)."""

    tel_id: int
    start_mjd: np.ndarray
    stop_mjd: np.ndarray
    is_valid: np.ndarray
    pedestal_offset: np.ndarray
    factor: np.ndarray
    time_shift_ns: np.ndarray
    outlier_mask: np.ndarray
    source: str = ""

    @property
    def n_channels(self) -> int:
        """Number of gain channels of the coefficients."""
        return int(self.factor.shape[1])

    @property
    def n_pixels(self) -> int:
        """Number of pixels of the coefficients."""
        return int(self.factor.shape[2])

    @classmethod
    def read(cls, h5file: h5py.File, tel_id: int) -> CoefficientSeries:
        """The coefficients of ``tel_id`` from an open CALIBRATION product.

        Raises :class:`CalibrationError` when the telescope has none or the table is empty.
        """
        table, valid_until = read_coefficients(h5file, tel_id)
        if len(table) == 0:
            raise CalibrationError(
                f"the calibration coefficients of telescope {tel_id} have no rows",
                path=h5file.filename,
            )
        start = np.asarray(table["time"].tai.mjd, dtype=np.float64)
        stop = np.append(start[1:], valid_until.tai.mjd)
        return cls(
            tel_id=int(tel_id),
            start_mjd=start,
            stop_mjd=stop,
            is_valid=np.asarray(table["is_valid"], dtype=bool),
            pedestal_offset=np.ascontiguousarray(table["pedestal_offset"], dtype=np.float32),
            factor=np.ascontiguousarray(table["factor"], dtype=np.float32),
            time_shift_ns=np.ascontiguousarray(
                u.Quantity(table["time_shift"], u.ns).to_value(u.ns), dtype=np.float32
            ),
            outlier_mask=np.ascontiguousarray(table["outlier_mask"], dtype=bool),
            source=str(h5file.filename),
        )

    def rows_for(self, time_mjd: np.ndarray, obs_id: int) -> np.ndarray:
        """The coefficient row valid at each event time (int64).

        Raises
        ------
        CalibrationError
            If any event is not covered by a valid row; the message names the observation, the
            telescope, the uncovered time range and the coefficients' validity.
        """
        time_mjd = np.asarray(time_mjd, dtype=np.float64)
        rows = np.searchsorted(self.start_mjd, time_mjd, side="right") - 1
        inside = rows >= 0
        safe = np.clip(rows, 0, len(self.start_mjd) - 1)
        covered = inside & (time_mjd <= self.stop_mjd[safe]) & self.is_valid[safe]
        if not covered.all():
            missing = time_mjd[~covered]
            valid = (
                f"{_isot(self.start_mjd[0])} – {_isot(self.stop_mjd[-1])}"
                if self.is_valid.any()
                else "none flagged valid"
            )
            raise CalibrationError(
                f"no valid calibration coefficients for obs_id {obs_id} telescope {self.tel_id}"
                f" covering {_isot(missing.min())} – {_isot(missing.max())}"
                f" ({missing.size} event(s); coefficients valid {valid})",
                path=self.source,
            )
        return safe.astype(np.int64)
