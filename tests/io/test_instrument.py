"""The subarray description round-trips through a product."""

import h5py
import pytest

from datapipe_ops.errors import InputFileError
from datapipe_ops.instrument import load_subarray
from datapipe_ops.io import ProductWriter, layout, open_product
from datapipe_ops.io.instrument import read_subarray


@pytest.mark.parametrize("name", ["demo", "alpha_south"])
@pytest.mark.requirement("DPPS-DP-R-034")
def test_subarray_round_trip(tmp_path, name):
    subarray = load_subarray(name)
    path = tmp_path / "p.h5"
    with ProductWriter(path, "DL0", stage="test") as writer:
        writer.write_subarray(subarray)
    with open_product(path) as h5file:
        back = read_subarray(h5file)
    assert back == subarray
    assert back.site == subarray.site


@pytest.mark.requirement("DPPS-DP-R-011", "DPPS-DP-R-034")
def test_instrument_tables_are_where_the_data_model_says(tmp_path):
    path = tmp_path / "p.h5"
    with ProductWriter(path, "DL0", stage="test") as writer:
        writer.write_subarray(load_subarray("demo"))
    with h5py.File(path, "r") as h5file:
        for table in (layout.SUBARRAY_LAYOUT, layout.OPTICS, f"{layout.CAMERA_GROUP}/LSTCam"):
            assert table in h5file, table


@pytest.mark.requirement("DPPS-DP-R-001")
def test_missing_instrument_names_the_file(tmp_path):
    path = tmp_path / "p.h5"
    with ProductWriter(path, "DL0", stage="test"):
        pass
    with open_product(path) as h5file, pytest.raises(InputFileError) as info:
        read_subarray(h5file)
    assert str(path) in str(info.value)


@pytest.mark.requirement("DPPS-DP-R-001")
def test_damaged_instrument_names_the_file_and_table(tmp_path):
    path = tmp_path / "p.h5"
    with ProductWriter(path, "DL0", stage="test") as writer:
        writer.write_subarray(load_subarray("demo"))
    with h5py.File(path, "r+") as h5file:
        del h5file["/configuration/instrument/subarray/layout"]
    with open_product(path) as h5file, pytest.raises(InputFileError, match="layout") as info:
        read_subarray(h5file)
    assert str(path) in str(info.value)
