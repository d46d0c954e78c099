"""DL1 and DL2 products open with ctapipe 0.32's SubarrayDescription.from_hdf and TableLoader."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from datapipe_ops.io import open_product
from datapipe_ops.io.instrument import read_subarray

pytestmark = pytest.mark.requirement("DPPS-DP-R-011")


@pytest.fixture(scope="module")
def products(dl1_runs, tmp_path_factory):
    from datapipe_ops.reco.stage import dl1_to_dl2

    dl1 = dl1_runs[0]["dl1"]
    dl2 = tmp_path_factory.mktemp("interop") / "run.dl2.h5"
    dl1_to_dl2(dl1, dl2, register=False)
    return {"DL1": dl1, "DL2": dl2}


@pytest.mark.parametrize("level", ["DL1", "DL2"])
def test_subarray_from_hdf(products, level):
    from ctapipe.instrument import SubarrayDescription

    path = products[level]
    with open_product(path) as h5:
        ours = read_subarray(h5)
    theirs = SubarrayDescription.from_hdf(path)
    assert theirs.name == ours.name
    assert sorted(theirs.tel) == sorted(int(t) for t in ours.tel_ids)
    for j, tel_id in enumerate(ours.tel_ids):
        mine, other = ours.telescopes[int(tel_id)], theirs.tel[int(tel_id)]
        assert other.name == mine.name
        assert other.camera.name == mine.camera.name
        assert other.camera.geometry.n_pixels == len(mine.camera.geometry.pix_id)
        assert np.isclose(
            other.optics.effective_focal_length.to_value("m"), mine.optics.effective_focal_length_m
        )
        assert np.allclose(theirs.positions[int(tel_id)].to_value("m"), ours.positions[j])
    assert np.isclose(theirs.reference_location.geodetic.height.to_value("m"), 2147.0)


@pytest.mark.parametrize("level", ["DL1", "DL2"])
def test_table_loader(products, level):
    from ctapipe.io import TableLoader

    path = products[level]
    with open_product(path) as h5:
        n_events = h5["/dl0/event/subarray/trigger"].shape[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyTables on boolean root attributes
        with TableLoader(path) as loader:
            assert len(loader) == n_events
            events = loader.read_subarray_events(dl2=True, simulated=True)
    assert len(events) == n_events
    assert "true_energy" in events.colnames
    if level == "DL2":
        assert events["HillasIntersection_alt"].unit == "deg"
        valid = events["HillasIntersection_is_valid"]
        assert 0 < valid.sum() < n_events
