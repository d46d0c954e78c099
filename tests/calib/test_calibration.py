"""Coefficient rows per event: validity chunks, invalid rows, uncovered times."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.table import vstack
from astropy.time import Time

from datapipe_ops.calib.calibration import CoefficientSeries
from datapipe_ops.errors import CalibrationError
from datapipe_ops.io import ProductWriter, open_product
from datapipe_ops.io.coefficients import coefficients_table, write_coefficients

pytestmark = pytest.mark.requirement("DPPS-DP-R-032")

T0 = Time("2025-01-01T00:00:00", scale="utc")


def write_file(path, n_pixels=5, valid=(True, False, True)):
    rows = []
    for k, flag in enumerate(valid):
        table = coefficients_table(
            Time(T0.mjd + k / 24, format="mjd", scale="utc"),
            factor=np.full((1, n_pixels), 0.1 * (k + 1)),
            pedestal_offset=np.full((1, n_pixels), 400.0 + k),
            time_shift_ns=np.zeros((1, n_pixels)),
        )
        table["is_valid"][0] = flag
        rows.append(table)
    with ProductWriter(path, "CALIBRATION", stage="test") as writer:
        write_coefficients(writer, 1, vstack(rows), Time(T0.mjd + len(valid) / 24, format="mjd"))
    return path


@pytest.mark.requirement("DPPS-DP-R-040")
def test_rows_follow_validity(tmp_path):
    path = write_file(tmp_path / "c.h5")
    with open_product(path, level="CALIBRATION") as h5:
        series = CoefficientSeries.read(h5, 1)
    assert series.pedestal_offset.shape == (3, 1, 5) and series.n_channels == 1
    hours = np.array([0.0, 0.5, 2.0, 2.99])
    rows = series.rows_for(T0.tai.mjd + hours / 24, obs_id=7)
    assert list(rows) == [0, 0, 2, 2]
    assert series.factor[rows[2], 0, 0] == pytest.approx(0.3)


@pytest.mark.parametrize("hours", [[-0.5], [1.5], [3.5], [0.2, 1.2]])
@pytest.mark.requirement("DPPS-DP-R-004")
def test_uncovered_events_name_obs_and_time_range(tmp_path, hours):
    path = write_file(tmp_path / "c.h5")
    with open_product(path, level="CALIBRATION") as h5:
        series = CoefficientSeries.read(h5, 1)
    with pytest.raises(CalibrationError) as info:
        series.rows_for(T0.tai.mjd + np.array(hours) / 24, obs_id=4242)
    message = str(info.value)
    assert "obs_id 4242" in message and "telescope 1" in message and str(path) in message
    assert "2025-01-01T" in message and "\n" not in message


def test_missing_telescope(tmp_path):
    path = write_file(tmp_path / "c.h5")
    with (
        open_product(path, level="CALIBRATION") as h5,
        pytest.raises(CalibrationError, match="telescope 2"),
    ):
        CoefficientSeries.read(h5, 2)
