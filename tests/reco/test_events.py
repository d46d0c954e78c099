"""EventReader: chunks of subarray events aligned with the telescope, truth and pointing tables."""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest

from datapipe_ops.errors import InputFileError
from datapipe_ops.io import layout, open_product
from datapipe_ops.reco.events import EventReader, event_keys

pytestmark = pytest.mark.requirement("DPPS-DP-R-051")


def same_rows(a: np.ndarray, b: np.ndarray) -> bool:
    """Structured arrays equal field by field (NaN equal to NaN)."""
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    return all(
        np.array_equal(a[name], b[name], equal_nan=a[name].dtype.kind == "f")
        for name in a.dtype.names
    )


def _collect(path, chunk_size, **kwargs):
    with open_product(path) as h5:
        return list(EventReader(h5, chunk_size=chunk_size, **kwargs))


@pytest.mark.requirement("DPPS-DP-R-008")
def test_chunks_cover_the_trigger_table_in_order(dl1_runs):
    path = dl1_runs[0]["dl1"]
    chunks = _collect(path, 17)
    with h5py.File(path) as h5:
        trigger = h5[layout.TRIGGER][()]
        params = {t: h5[layout.tel_path(layout.DL1_PARAMETERS, t)][()] for t in (1, 2, 3, 4)}
    assert len(chunks) == -(-len(trigger) // 17)
    assert np.array_equal(np.concatenate([c.event_id for c in chunks]), trigger["event_id"])
    for j, tel_id in enumerate(chunks[0].tel_ids):
        rows = np.concatenate([c.telescopes[int(tel_id)].rows for c in chunks])
        assert same_rows(rows, params[int(tel_id)])
        for chunk in chunks:
            tel = chunk.telescopes[int(tel_id)]
            assert np.array_equal(chunk.event_id[tel.event_row], tel.rows["event_id"])
            present = chunk.tel_index[:, j] >= 0
            assert present.sum() == len(tel)
            dense = chunk.dense("hillas_intensity")[:, j]
            expected = tel.rows["hillas_intensity"][chunk.tel_index[present, j]]
            assert np.array_equal(dense[present], expected, equal_nan=True)
            assert np.all(np.isnan(dense[~present]))
            assert np.array_equal(chunk.has_image[:, j], chunk.tels_with_trigger[:, j])


@pytest.mark.requirement("DPPS-DP-R-008")
def test_chunk_size_does_not_change_the_content(dl1_runs):
    small, large = _collect(dl1_runs[0]["dl1"], 5), _collect(dl1_runs[0]["dl1"], 100000)
    assert len(large) == 1
    for name in ("hillas_psi", "morphology_n_pixels"):
        joined = np.concatenate([c.dense(name) for c in small])
        assert np.array_equal(joined, large[0].dense(name), equal_nan=True)


def test_truth_and_pointing(dl1_runs):
    (chunk,) = _collect(dl1_runs[0]["dl1"], 100000)
    assert np.array_equal(chunk.truth["event_id"], chunk.event_id)
    assert np.all(chunk.truth["true_energy"] > 0)
    assert np.allclose(chunk.pointing_alt, 70.0) and np.allclose(chunk.pointing_az, 0.0)


def test_extra_subarray_and_telescope_tables(dl2_run):
    from datapipe_ops.reco import names

    table = names.subarray_path(names.GEOMETRY, names.HILLAS_INTERSECTION)
    group = names.telescope_group(names.GEOMETRY, names.HILLAS_INTERSECTION)
    (chunk,) = _collect(dl2_run, 100000, subarray_tables=[table], telescope_groups=[group])
    assert chunk.subarray["HillasIntersection_is_valid"].dtype == bool
    impact = chunk.dense("HillasIntersection_tel_impact_distance")
    valid = chunk.subarray["HillasIntersection_is_valid"]
    assert np.all(np.isfinite(impact[valid][chunk.has_image[valid]]))


def test_a_telescope_row_outside_the_trigger_table_is_refused(dl1_runs, tmp_path):
    path = shutil.copy(dl1_runs[0]["dl1"], tmp_path / "bad.dl1.h5")
    with h5py.File(path, "r+") as h5:
        dset = h5[layout.tel_path(layout.DL1_PARAMETERS, 2)]
        row = dset[0]
        row["event_id"] = 10**9
        dset[0] = row
    with pytest.raises(InputFileError, match="not in the trigger table"):
        _collect(path, 50)


def test_event_keys_order_and_range():
    keys = event_keys(np.array([1, 1, 2]), np.array([5, 7, 1]))
    assert np.all(np.diff(keys) > 0)
    with pytest.raises(ValueError):
        event_keys(np.array([1]), np.array([2**41]))
