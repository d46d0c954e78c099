"""Subarray layouts: content, selection, tables and their HDF5 round trip."""

import h5py
import numpy as np
import pytest
from astropy import units as u

from datapipe_ops.errors import InputFileError
from datapipe_ops.instrument import SubarrayDescription, load_camera, load_subarray
from datapipe_ops.instrument.subarray import LAYOUT_PATH, OPTICS_PATH, camera_geometry_path


def counts_by_type(subarray):
    types = [subarray.telescopes[int(t)].type for t in subarray.tel_ids]
    return {t: types.count(t) for t in sorted(set(types))}


def test_demo_is_small_and_compact():
    demo = load_subarray("demo")
    assert counts_by_type(demo) == {"LST": 1, "MST": 3}
    assert demo.camera_types == ["LSTCam", "NectarCam"]
    assert np.all(np.hypot(demo.positions[:, 0], demo.positions[:, 1]) <= 200.0)
    assert demo.site == "CTAO-North"


@pytest.mark.requirement("DPPS-DP-R-034")
def test_alpha_configurations():
    north = load_subarray("alpha_north")
    assert counts_by_type(north) == {"LST": 4, "MST": 9}
    assert north.camera_types == ["LSTCam", "NectarCam"]
    south = load_subarray("alpha_south")
    assert counts_by_type(south) == {"MST": 14, "SST": 37}
    assert south.camera_types == ["CHEC", "FlashCam"]
    assert south.site == "CTAO-South"
    for subarray, max_radius in ((north, 400.0), (south, 1100.0)):
        radius = np.hypot(subarray.positions[:, 0], subarray.positions[:, 1])
        assert radius.max() < max_radius
        # positions relative to the array centre: some telescope sits near it, heights are small
        assert radius.min() < 10.0
        assert np.all(np.abs(subarray.positions[:, 2]) < 60.0)
        # no two telescopes closer than 50 m
        d = np.hypot(*(subarray.positions[:, None, :2] - subarray.positions[None, :, :2]).T)
        assert d[~np.eye(subarray.n_tels, dtype=bool)].min() > 50.0


def test_lookups():
    north = load_subarray("alpha_north")
    assert north.n_tels == 13
    assert north.tel_index(int(north.tel_ids[5])) == 5
    with pytest.raises(KeyError):
        north.tel_index(999)
    lsts = north.tel_ids_with_camera("LSTCam")
    assert lsts.tolist() == [1, 2, 3, 4]
    assert all(north.telescopes[int(t)].camera.name == "LSTCam" for t in lsts)
    assert len(north.tel_ids_with_camera("CHEC")) == 0
    lookup = north.tel_index_array
    assert np.array_equal(lookup[north.tel_ids], np.arange(north.n_tels))
    assert north.telescopes[1].name == "LST_LST_LSTCam"
    assert north.telescopes[1].camera is load_camera("LSTCam")


def test_select_keeps_order_and_data():
    north = load_subarray("alpha_north")
    sub = north.select([7, 2, 5])
    assert sub.tel_ids.tolist() == [2, 5, 7]
    np.testing.assert_array_equal(sub.positions[1], north.positions[north.tel_index(5)])
    assert sub.camera_types == ["LSTCam", "NectarCam"]
    assert sub.select([5, 7]).camera_types == ["NectarCam"]
    with pytest.raises(KeyError, match="42"):
        north.select([1, 42])


def test_layout_table():
    north = load_subarray("alpha_north")
    table = north.layout_table()
    assert table.colnames[:4] == ["tel_id", "pos_x", "pos_y", "pos_z"]
    assert {"type", "camera", "optics"} <= set(table.colnames)
    assert table["pos_x"].unit == u.m
    assert table["tel_id"].tolist() == north.tel_ids.tolist()
    assert list(table["camera"][:4]) == ["LSTCam"] * 4
    assert table.meta["name"] == "alpha_north"


def test_tables_round_trip_in_memory():
    south = load_subarray("alpha_south")
    tables = south.to_tables()
    assert LAYOUT_PATH in tables and OPTICS_PATH in tables
    assert camera_geometry_path("CHEC") in tables
    assert SubarrayDescription.from_tables(tables) == south


@pytest.mark.requirement("DPPS-DP-R-034")
def test_tables_round_trip_through_hdf5(tmp_path):
    from datapipe_ops.io.tables import read_table, write_table

    demo = load_subarray("demo")
    path = tmp_path / "instrument.h5"
    with h5py.File(path, "w") as h5:
        for table_path, table in demo.to_tables().items():
            write_table(h5, table_path, table)
    with h5py.File(path, "r") as h5:
        names: list[str] = []
        h5.visit(names.append)
        tables = {
            name: read_table(h5, name)
            for name in names
            if isinstance(h5[name], h5py.Dataset) and not name.endswith("__")
        }
    back = SubarrayDescription.from_tables(tables)
    assert back == demo
    assert back.telescopes[2].camera.readout == demo.telescopes[2].camera.readout


def test_missing_tables_are_input_file_errors():
    tables = load_subarray("demo").to_tables()
    del tables[camera_geometry_path("NectarCam")]
    with pytest.raises(InputFileError, match="geometry"):
        SubarrayDescription.from_tables(tables)
    tables = load_subarray("demo").to_tables()
    tables[LAYOUT_PATH]["optics"][0] = "XST"
    with pytest.raises(InputFileError, match="unknown optics 'XST'"):
        SubarrayDescription.from_tables(tables)


def test_inconsistent_construction_is_refused():
    demo = load_subarray("demo")
    with pytest.raises(ValueError, match="positions"):
        SubarrayDescription("x", demo.tel_ids, demo.positions[:, :2], demo.telescopes)
    with pytest.raises(ValueError, match="unique"):
        SubarrayDescription("x", [1, 1, 2, 3], demo.positions, demo.telescopes)
