"""The CalibPipe coefficients contract."""

import numpy as np
import pytest
from astropy import units as u
from astropy.table import Table, vstack
from astropy.time import Time

from datapipe_ops.errors import CalibrationError
from datapipe_ops.io import ProductWriter
from datapipe_ops.io.coefficients import (
    coefficients_table,
    load_coefficients,
    write_coefficients,
)
from datapipe_ops.io.layout import COEFFICIENTS, tel_path

pytestmark = pytest.mark.requirement("DPPS-DP-R-032")

T0 = Time("2026-11-20T20:00:00", scale="utc")


def write_file(path, n_pix=8):
    rng = np.random.default_rng(3)
    with ProductWriter(path, "CALIBRATION", stage="test") as writer:
        for tel_id in (1, 2):
            first = coefficients_table(
                T0,
                rng.uniform(0.5, 1, (1, n_pix)),
                np.full((1, n_pix), 400.0),
                rng.normal(0, 1, (1, n_pix)),
            )
            second = coefficients_table(
                T0 + 3600 * u.s,
                rng.uniform(0.5, 1, (1, n_pix)),
                np.full((1, n_pix), 410.0),
                np.zeros((1, n_pix)),
            )
            write_coefficients(writer, tel_id, vstack([first, second]), T0 + 7200 * u.s)


def test_coefficients_are_picked_by_validity(tmp_path):
    path = tmp_path / "c.h5"
    write_file(path)
    early = load_coefficients(path, [1, 2], T0 + 10 * u.s, T0 + 20 * u.s)
    late = load_coefficients(path, [1, 2], T0 + 4000 * u.s, T0 + 5000 * u.s)
    assert early[1].pedestal_offset.shape == (1, 8)
    assert np.all(early[1].pedestal_offset == 400)
    assert np.all(late[2].pedestal_offset == 410)


def test_out_of_validity_is_a_clear_error(tmp_path):
    path = tmp_path / "c.h5"
    write_file(path)
    with pytest.raises(CalibrationError, match="telescope 1 covering"):
        load_coefficients(path, [1], T0 + 7000 * u.s, T0 + 8000 * u.s)
    with pytest.raises(CalibrationError, match=r"telescope\(s\) \[3\]"):
        load_coefficients(path, [1, 3], T0, T0 + 1 * u.s)


def test_coefficients_table_has_the_calibpipe_columns(tmp_path):
    path = tmp_path / "c.h5"
    write_file(path)
    table = Table.read(path, path=tel_path(COEFFICIENTS, 1))
    assert table.colnames == [
        "time",
        "factor",
        "pedestal_offset",
        "time_shift",
        "outlier_mask",
        "is_valid",
    ]
    assert table["factor"].shape == (2, 1, 8)
    assert str(table["time_shift"].unit) == "ns"
