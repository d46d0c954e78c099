"""Round trips of every table kind through the HDF5 data model."""

import h5py
import numpy as np
import pytest
from astropy import units as u
from astropy.table import QTable, Table
from astropy.time import Time

from datapipe_ops.io import ProductWriter, iter_table_chunks, open_product, read_table
from datapipe_ops.io.tables import iter_chunks


def make_table(n: int, offset: int = 0) -> QTable:
    rng = np.random.default_rng(offset)
    return QTable(
        {
            "obs_id": np.full(n, 7, dtype=np.int32),
            "event_id": np.arange(offset, offset + n, dtype=np.int64),
            "true_energy": rng.uniform(0.01, 100, n) * u.TeV,
            "true_alt": rng.uniform(60, 70, n).astype(np.float32) * u.deg,
            "image": rng.normal(size=(n, 5)).astype(np.float32) * u.Unit("1"),
            "image_mask": rng.random((n, 5)) > 0.5,
            "camera": np.array(["LSTCam"] * n),
            "time": Time(60000.0 + np.arange(n) / 86400, format="mjd", scale="tai"),
        }
    )


def test_table_round_trip_keeps_values_units_and_times(tmp_path):
    path = tmp_path / "t.dl1.h5"
    original = make_table(20)
    with ProductWriter(path, "DL1", stage="test") as writer:
        writer.write_table("/dl1/event/telescope/parameters/tel_001", original)
    with open_product(path, level="DL1") as h5file:
        table = read_table(h5file, "/dl1/event/telescope/parameters/tel_001")
    assert table["true_energy"].unit == u.TeV
    assert table["true_alt"].unit == u.deg
    np.testing.assert_array_equal(table["event_id"], original["event_id"])
    np.testing.assert_array_equal(table["true_energy"], original["true_energy"])
    np.testing.assert_array_equal(table["image_mask"], original["image_mask"])
    assert table["image"].shape == (20, 5)
    assert isinstance(table["time"], Time)
    assert np.max(np.abs((table["time"] - original["time"]).to_value(u.s))) < 1e-5
    assert list(table["camera"].astype(str)) == ["LSTCam"] * 20


@pytest.mark.requirement("DPPS-DP-R-011")
def test_tables_open_with_astropy_table_read(tmp_path):
    path = tmp_path / "t.h5"
    with ProductWriter(path, "DL1", stage="test") as writer:
        writer.write_table("/simulation/event/subarray/shower", make_table(4))
    table = Table.read(path, path="/simulation/event/subarray/shower")
    assert table["true_energy"].unit == u.TeV
    assert len(table) == 4


def test_units_are_also_plain_attributes(tmp_path):
    path = tmp_path / "t.h5"
    with ProductWriter(path, "DL1", stage="test") as writer:
        writer.write_table("/x/tab", make_table(3))
    with h5py.File(path) as h5file:
        assert h5file["/x/tab"].attrs["true_energy_UNIT"] == "TeV"
        assert h5file["/x/tab"].compression == "gzip"
        assert h5file["/x/tab"].chunks is not None


@pytest.mark.requirement("DPPS-DP-R-008")
def test_append_streams_chunks_and_converts_units(tmp_path):
    path = tmp_path / "t.h5"
    with ProductWriter(path, "DL1", stage="test") as writer:
        writer.append_table("/x/tab", make_table(10, 0))
        second = make_table(5, 10)
        second["true_energy"] = second["true_energy"].to(u.GeV)
        writer.append_table("/x/tab", second)
    with open_product(path) as h5file:
        chunks = list(iter_table_chunks(h5file, "/x/tab", chunk_size=4))
        table = read_table(h5file, "/x/tab")
    assert [len(c) for c in chunks] == [4, 4, 4, 3]
    np.testing.assert_array_equal(table["event_id"], np.arange(15))
    np.testing.assert_allclose(table["true_energy"][10:], make_table(5, 10)["true_energy"])


def test_append_with_missing_column_is_refused(tmp_path):
    with (
        pytest.raises(ValueError, match="column 'true_energy' missing"),
        ProductWriter(tmp_path / "t.h5", "DL1", stage="test") as writer,
    ):
        writer.append_table("/x/tab", make_table(3))
        writer.append_table("/x/tab", make_table(3)[["obs_id", "event_id"]])
    assert not (tmp_path / "t.h5").exists()


def test_array_append_round_trip(tmp_path):
    path = tmp_path / "w.h5"
    rng = np.random.default_rng(1)
    parts = [rng.integers(0, 4096, (n, 30, 16), dtype=np.uint16) for n in (3, 8, 1)]
    with ProductWriter(path, "DL0", stage="test") as writer:
        for part in parts:
            writer.append_array("/dl0/event/telescope/waveforms/tel_001", part)
    with open_product(path, level="DL0") as h5file:
        dset = h5file["/dl0/event/telescope/waveforms/tel_001"]
        assert dset.dtype == np.uint16
        np.testing.assert_array_equal(dset[:], np.concatenate(parts))


@pytest.mark.requirement("DPPS-DP-R-008")
def test_iter_chunks_covers_every_row_once():
    assert list(iter_chunks(10, 4)) == [(0, 4), (4, 8), (8, 10)]
    assert list(iter_chunks(0, 4)) == []
    with pytest.raises(ValueError):
        list(iter_chunks(5, 0))


def rows_of(table: QTable) -> tuple[np.ndarray, dict]:
    plain = table[["obs_id", "event_id", "true_energy", "true_alt", "image_mask"]]
    rows = np.empty(len(plain), dtype=plain.as_array().dtype)
    for name in plain.colnames:
        rows[name] = getattr(plain[name], "value", plain[name])
    return rows, {"true_energy": u.TeV, "true_alt": u.deg}


def test_append_rows_writes_what_append_table_writes(tmp_path):
    tables = [make_table(6, 0), make_table(4, 6)]
    columns = ["obs_id", "event_id", "true_energy", "true_alt", "image_mask"]
    with ProductWriter(tmp_path / "a.h5", "DL1", stage="test") as writer:
        for table in tables:
            writer.append_table("/x/tab", table[columns])
    with ProductWriter(tmp_path / "b.h5", "DL1", stage="test") as writer:
        for table in tables:
            writer.append_rows("/x/tab", *rows_of(table))
    with h5py.File(tmp_path / "a.h5") as a, h5py.File(tmp_path / "b.h5") as b:
        assert a["/x/tab"].dtype == b["/x/tab"].dtype
        assert np.array_equal(a["/x/tab"][()], b["/x/tab"][()])
        assert np.array_equal(
            a["/x/tab.__table_column_meta__"][()], b["/x/tab.__table_column_meta__"][()]
        )
    table = Table.read(tmp_path / "b.h5", path="/x/tab")
    assert table["true_energy"].unit == u.TeV
    np.testing.assert_array_equal(table["event_id"], np.arange(10))


def test_append_rows_refuses_other_dtype_or_unit(tmp_path):
    rows, units = rows_of(make_table(3))
    with ProductWriter(tmp_path / "t.h5", "DL1", stage="test") as writer:
        writer.append_rows("/x/tab", rows, units)
        with pytest.raises(ValueError, match="not GeV"):
            writer.append_rows("/x/tab", rows, {**units, "true_energy": u.GeV})
        with pytest.raises(ValueError, match="cannot be appended"):
            writer.append_rows("/x/tab", rows[["obs_id", "event_id"]], units)


def test_read_table_from_json_header_equals_yaml_header(tmp_path):
    from datapipe_ops.io.tables import HEADER_ATTR

    path = tmp_path / "t.h5"
    table = make_table(4)
    table["true_energy"].info.description = "true energy"
    table.meta["origin"] = {"site": "CTAO-North", "runs": [1, 2]}
    with ProductWriter(path, "DL1", stage="test") as writer:
        writer.write_table("/x/tab", table)
    with h5py.File(path) as h5file:
        assert HEADER_ATTR in h5file["/x/tab"].attrs
        fast = read_table(h5file, "/x/tab")
    with h5py.File(path, "r+") as h5file:
        del h5file["/x/tab"].attrs[HEADER_ATTR]
        slow = read_table(h5file, "/x/tab")
    assert fast.meta == slow.meta and fast.meta["origin"]["runs"] == [1, 2]
    for name in slow.colnames:
        assert type(fast[name]) is type(slow[name]), name
        assert getattr(fast[name], "unit", None) == getattr(slow[name], "unit", None), name
        assert fast[name].info.description == slow[name].info.description, name
        assert np.array_equal(
            np.asarray(fast[name].value if name == "time" else fast[name]),
            np.asarray(slow[name].value if name == "time" else slow[name]),
        )
    assert fast["time"].scale == "tai"


def test_small_tables_get_small_chunks_and_big_ones_1_mib(tmp_path):
    path = tmp_path / "t.h5"
    big = QTable({"x": np.arange(200_000, dtype=np.float64)})
    with ProductWriter(path, "DL1", stage="test") as writer:
        writer.write_table("/x/small", make_table(3))
        writer.write_table("/x/big", big)
        writer.append_table("/x/streamed", big[:10])
        writer.append_table("/x/streamed", big[10:100_000])
    with h5py.File(path) as h5file:
        small = h5file["/x/small"]
        assert small.chunks[0] * small.dtype.itemsize <= 1 << 16
        assert h5file["/x/big"].chunks == (65536,)  # capped: 65536 rows of 8 bytes
        assert h5file["/x/streamed"].chunks == (8192,)  # 64 kB floor, not 10 rows
        np.testing.assert_array_equal(h5file["/x/streamed"]["x"], np.arange(100_000))
