"""The DL1→DL2 stage: what it writes, what it passes through, what it registers."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from astropy.table import Table

from datapipe_ops.io import layout, read_provenance, read_table
from datapipe_ops.reco import names
from datapipe_ops.reco.stage import IMPACT_COLUMN, dl1_to_dl2

GEOMETRY = names.subarray_path(names.GEOMETRY, names.HILLAS_INTERSECTION)
IMPACT = names.telescope_group(names.GEOMETRY, names.HILLAS_INTERSECTION)


def same_rows(a: np.ndarray, b: np.ndarray) -> bool:
    """Structured arrays equal field by field (NaN equal to NaN)."""
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    return all(
        np.array_equal(a[name], b[name], equal_nan=a[name].dtype.kind == "f")
        for name in a.dtype.names
    )


@pytest.mark.requirement("DPPS-DP-R-051")
def test_geometry_tables_and_pass_through(dl1_runs, dl2_run):
    dl1 = dl1_runs[0]["dl1"]
    with h5py.File(dl1) as src, h5py.File(dl2_run) as out:
        assert out.attrs["data_level"] == "DL2"
        trigger = src[layout.TRIGGER][()]
        rows = out[GEOMETRY][()]
        assert np.array_equal(rows["event_id"], trigger["event_id"])
        assert np.array_equal(rows["obs_id"], trigger["obs_id"])
        assert rows["HillasIntersection_telescopes"].shape == (len(trigger), 4)
        for path in (
            layout.TRIGGER,
            layout.SHOWER,
            layout.SHOWER_DISTRIBUTION,
            layout.SIMULATION_RUN,
            layout.tel_path(layout.DL1_PARAMETERS, 3),
        ):
            assert same_rows(out[path][()], src[path][()]), path
        for tel_id in (1, 2, 3, 4):
            params = src[layout.tel_path(layout.DL1_PARAMETERS, tel_id)][()]
            impact = out[layout.tel_path(IMPACT, tel_id)][()]
            assert np.array_equal(impact["event_id"], params["event_id"])
            assert np.all(impact["tel_id"] == tel_id)
        assert layout.DL1_IMAGES not in out and layout.DL2_MODELS not in out
        provenance = read_provenance(out)
        assert provenance["stage"] == "dl1_to_dl2"
        assert provenance["inputs"][0]["path"] == str(dl1.absolute())
    table = read_table(h5py.File(dl2_run), GEOMETRY)
    assert str(table["HillasIntersection_alt"].unit) == "deg"
    assert str(table["HillasIntersection_core_x"].unit) == "m"
    astropy = Table.read(dl2_run, path=layout.tel_path(IMPACT, 1))
    assert str(astropy[IMPACT_COLUMN].unit) == "m"


@pytest.mark.requirement("DPPS-DP-R-021", "DPPS-DP-R-051")
def test_registers_the_product_with_lineage(dl1_runs, tmp_path):
    from datapipe_ops.catalog import Catalog

    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    summary = dl1_to_dl2(dl1_runs[1]["dl1"], tmp_path / "run.dl2.h5", catalog_url=url)
    assert summary.n_events > 0 and 0 < summary.n_valid < summary.n_events
    with Catalog(url) as catalog:
        product = catalog.get_product(summary.product_id)
        assert product.level == "DL2" and product.n_events == summary.n_events
        tree = catalog.lineage(summary.product_id, depth=1)
        assert [str(n.product.path) for n in tree.inputs] == [str(dl1_runs[1]["dl1"].absolute())]
        assert tree.inputs[0].product.level == "DL1"


@pytest.mark.requirement("DPPS-DP-R-070", "DPPS-DP-R-071")
def test_applies_a_model_set_with_lineage(dl1_runs, tmp_path):
    from datapipe_ops.catalog import Catalog
    from datapipe_ops.reco.models.config import ModelTrainingConfig
    from datapipe_ops.reco.models.training import train_model_set

    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    fast = ModelTrainingConfig.model_validate(
        {
            "n_folds": 2,
            "lightgbm": {"num_leaves": 7, "num_boost_round": 30, "early_stopping_rounds": 5},
        }
    )
    trained = train_model_set(
        [dl1_runs[1]["dl1"]], ["energy"], fast, tmp_path / "models", catalog_url=url
    )
    output = tmp_path / "run.dl2.h5"
    summary = dl1_to_dl2(dl1_runs[0]["dl1"], output, model_set=trained.directory, catalog_url=url)
    energy = names.subarray_path(names.ENERGY, names.ENERGY_ALGORITHM)
    with h5py.File(output) as h5:
        assert h5.attrs["model_set_id"] == summary.model_set_id
        assert h5[layout.DL2_MODELS].attrs["model_set_id"] == summary.model_set_id
        models = h5[layout.DL2_MODELS][()]
        assert {m.decode() for m in models["kind"]} == {"energy"}
        rows = h5[energy][()]
        assert np.array_equal(rows["event_id"], h5[layout.TRIGGER]["event_id"])
        assert np.any(rows["DataPipeEnergy_is_valid"])
    with Catalog(url) as catalog:
        tree = catalog.lineage(summary.product_id, depth=1)
        assert {str(n.product.level) for n in tree.inputs} == {"DL1", "MODEL"}
