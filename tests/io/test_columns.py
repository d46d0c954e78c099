"""The fast column reader gives what h5py gives, for every layout it meets."""

import h5py
import numpy as np
import pytest

from datapipe_ops.io.columns import _raw_readable, read_columns
from datapipe_ops.io.tables import TABLE_COMPRESSION

ROWS = np.dtype(
    [
        ("obs_id", "<i4"),
        ("event_id", "<i8"),
        ("energy", "<f8"),
        ("alt", "<f4"),
        ("is_valid", "?"),
        ("telescopes", "?", (4,)),
        ("n_pixels", "<u2"),
        ("name", "S6"),
    ]
)
NAMES = ["obs_id", "event_id", "energy", "alt", "is_valid", "telescopes", "n_pixels"]
FILTERS = {
    "gzip+shuffle": TABLE_COMPRESSION,
    "gzip": {"compression": "gzip", "compression_opts": 1},
    "lzf": {"compression": "lzf", "shuffle": True},
    "none": {},
}


def rows(n: int) -> np.ndarray:
    rng = np.random.default_rng(3)
    out = np.zeros(n, ROWS)
    out["obs_id"] = 5
    out["event_id"] = np.arange(n) * 3 + 1
    out["energy"] = rng.lognormal(size=n)
    out["alt"] = rng.uniform(60, 80, n)
    out["is_valid"] = rng.random(n) > 0.2
    out["telescopes"] = rng.random((n, 4)) > 0.5
    out["n_pixels"] = rng.integers(0, 2000, n)
    out["name"] = b"LST"
    return out


@pytest.fixture
def table(tmp_path, request):
    path = tmp_path / "t.h5"
    with h5py.File(path, "w") as h5:
        h5.create_dataset("t", data=rows(1003), chunks=(100,), maxshape=(None,), **request.param)
    with h5py.File(path) as h5:
        yield h5["t"]


@pytest.mark.parametrize("table", FILTERS.values(), ids=FILTERS.keys(), indirect=True)
@pytest.mark.parametrize(
    ("start", "stop"),
    [(None, None), (0, 0), (5, 7), (95, 205), (100, 200), (990, None), (0, 5000), (1003, 1003)],
)
def test_columns_equal_what_h5py_reads(table, start, stop):
    got = read_columns(table, NAMES, start, stop)
    expected = table.fields(NAMES)[start:stop]
    assert list(got) == NAMES
    for name in NAMES:
        assert got[name].dtype == expected[name].dtype
        assert got[name].shape == expected[name].shape
        np.testing.assert_array_equal(got[name], expected[name])


@pytest.mark.parametrize(
    ("table", "raw"),
    [(FILTERS["gzip+shuffle"], True), (FILTERS["gzip"], True), (FILTERS["lzf"], False)],
    indirect=["table"],
)
def test_only_shuffle_and_deflate_are_decoded_here(table, raw):
    assert _raw_readable(table, NAMES) is raw
    assert not _raw_readable(table, ["name"])  # strings go through h5py


def test_big_endian_columns_go_through_h5py(tmp_path):
    source = rows(50)
    big = np.dtype([(n, ">f8" if n == "energy" else ROWS.fields[n][0]) for n in NAMES])
    data = np.zeros(50, big)
    for name in NAMES:
        data[name] = source[name]
    with h5py.File(tmp_path / "t.h5", "w") as h5:
        dset = h5.create_dataset("t", data=data, chunks=(16,), **TABLE_COMPRESSION)
        assert not _raw_readable(dset, ["energy"])
        assert _raw_readable(dset, ["event_id"])
        np.testing.assert_array_equal(read_columns(dset, ["energy"])["energy"], data["energy"])


def test_a_chunk_that_was_never_written_reads_as_h5py_fills_it(tmp_path):
    with h5py.File(tmp_path / "t.h5", "w") as h5:
        dset = h5.create_dataset("t", shape=(300,), dtype=ROWS, chunks=(100,), **TABLE_COMPRESSION)
        dset[:100] = rows(100)
        dset[200:] = rows(100)
        got = read_columns(dset, NAMES)
        expected = dset.fields(NAMES)[:]
        for name in NAMES:
            np.testing.assert_array_equal(got[name], expected[name])
