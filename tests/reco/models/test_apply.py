"""Applying a model set to DL1 events: the DL2 tables of the contract, and clean refusals."""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest
from numpy.lib import recfunctions

from datapipe_ops.errors import InputFileError
from datapipe_ops.io import layout
from datapipe_ops.io.product import open_product
from datapipe_ops.reco import names
from datapipe_ops.reco.config import GeometryConfig
from datapipe_ops.reco.events import EventReader
from datapipe_ops.reco.geometry import ArrayGeometry, reconstruct_chunk
from datapipe_ops.reco.models.apply import ModelApplication, check_compatible
from datapipe_ops.reco.models.features import ALWAYS, required_columns
from datapipe_ops.reco.models.model_set import ModelSet
from datapipe_ops.reco.models.reconstruct import angular_separation


def apply_all(path, model_set, chunk_size=400):
    """Every chunk's tables, concatenated by path (as numpy structured arrays)."""
    from astropy.table import vstack

    parts = {}
    with open_product(path, level="DL1") as h5:
        reader = EventReader(h5, chunk_size)
        application = ModelApplication.prepare(model_set, reader, path)
        array = ArrayGeometry.from_subarray(reader.subarray)
        for chunk in reader:
            geometry = reconstruct_chunk(chunk, array, GeometryConfig())
            for key, table in application.apply_chunk(chunk, geometry).items():
                parts.setdefault(key, []).append(table)
        truth = h5[layout.SHOWER][:]
    return application, {k: vstack(v) for k, v in parts.items()}, truth


@pytest.mark.requirement("DPPS-DP-R-070", "DPPS-DP-R-071")
def test_dl2_tables_follow_the_contract(trained, production):
    application, tables, truth = apply_all(production.gamma, trained.directory)
    energy = tables[names.subarray_path(names.ENERGY, names.ENERGY_ALGORITHM)]
    gammaness = tables[names.subarray_path(names.PARTICLE_TYPE, names.GAMMANESS_ALGORITHM)]
    stereo = tables[names.subarray_path(names.GEOMETRY, names.STEREO_DISP)]
    types = tables[names.subarray_path(names.EVENT_TYPE, names.EVENT_TYPE_ALGORITHM)]
    with h5py.File(production.gamma) as h5:
        trigger = h5[layout.TRIGGER][:]
    for table in (energy, gammaness, stereo, types):
        assert np.array_equal(table["obs_id"], trigger["obs_id"])
        assert np.array_equal(table["event_id"], trigger["event_id"])
    assert energy["DataPipeEnergy_energy"].unit == "TeV"
    assert stereo["StereoDisp_alt"].unit == "deg" and stereo["StereoDisp_core_x"].unit == "m"
    assert stereo["StereoDisp_telescopes"].shape == (len(trigger), 4)
    assert types["DataPipeEventType_event_type"].dtype == np.int16
    assert set(np.unique(types["DataPipeEventType_event_type"])) <= {-1, 0, 1, 2}
    valid = energy["DataPipeEnergy_is_valid"]
    assert valid.mean() > 0.7  # the others have no image passing the quality cuts
    ratio = energy["DataPipeEnergy_energy"].value[valid] / truth["true_energy"][valid]
    assert np.quantile(np.abs(np.log10(ratio)), 0.68) < 0.15  # training events: optimistic
    g = gammaness["DataPipeGammaness_prediction"][gammaness["DataPipeGammaness_is_valid"]]
    assert np.median(g) > 0.8 and ((g >= 0) & (g <= 1)).all()
    ok = stereo["StereoDisp_is_valid"]
    error = angular_separation(
        stereo["StereoDisp_az"].value[ok],
        stereo["StereoDisp_alt"].value[ok],
        truth["true_az"][ok],
        truth["true_alt"][ok],
    )
    assert np.quantile(error, 0.68) < 0.2
    # telescope-wise tables: one row per parameter row, in its order
    with h5py.File(production.gamma) as h5:
        for tel_id in layout.tel_ids_in(h5, layout.DL1_PARAMETERS):
            params = h5[layout.tel_path(layout.DL1_PARAMETERS, tel_id)][:]
            key = layout.tel_key(tel_id)
            for kind, algorithm, column in (
                (names.ENERGY, names.ENERGY_ALGORITHM, "energy"),
                (names.PARTICLE_TYPE, names.GAMMANESS_ALGORITHM, "prediction"),
                (names.GEOMETRY, names.STEREO_DISP, "disp"),
            ):
                table = tables[f"{names.telescope_group(kind, algorithm)}/{key}"]
                assert np.array_equal(table["event_id"], params["event_id"])
                assert names.tel_column(algorithm, column) in table.colnames
    models = application.models_table()
    assert len(models) == len(ModelSet(trained.directory).card["models"])
    assert set(models.colnames) == {"model_set_id", "kind", "telescope_type", "file", "sha256"}


@pytest.mark.requirement("DPPS-DP-R-070", "DPPS-DP-R-008")
def test_apply_is_independent_of_chunking(trained, production):
    _, small, _ = apply_all(production.proton, trained.directory, chunk_size=97)
    _, large, _ = apply_all(production.proton, trained.directory, chunk_size=100000)
    assert small.keys() == large.keys()
    for key in small:
        for column in small[key].colnames:
            assert np.array_equal(
                np.asarray(small[key][column]), np.asarray(large[key][column]), equal_nan=True
            ), (key, column)


@pytest.mark.requirement("DPPS-DP-R-062", "DPPS-DP-R-070")
def test_stereo_disp_beats_intersection_on_unseen_events(trained, tmp_path):
    """Fresh gammas (another seed): StereoDisp 68% containment below the intersection's."""
    from datapipe_ops.calib.stage import dl0_to_dl1
    from datapipe_ops.config import load_config
    from datapipe_ops.resources import include_dir
    from datapipe_ops.simulation.config import SimulationConfig
    from datapipe_ops.simulation.production import file_seed, simulate_run

    config = load_config(include_dir() / "config/simulation/demo.yaml", SimulationConfig)
    component = config.component("gamma_diffuse")
    dl0 = tmp_path / "fresh.dl0.h5"
    simulate_run(
        config,
        component,
        dl0,
        file_seed(99, component.name, 1),
        4321,
        n_showers=12000,
        show_progress=False,
    )
    dl1 = tmp_path / "fresh.dl1.h5"
    dl0_to_dl1(dl0, dl1, tmp_path / "fresh.coefficients.h5", register=False)
    _, tables, truth = apply_all(dl1, trained.directory)
    stereo = tables[names.subarray_path(names.GEOMETRY, names.STEREO_DISP)]
    ok = stereo["StereoDisp_is_valid"] & np.isfinite(stereo["StereoDisp_core_x"].value)
    assert ok.sum() > 200
    disp_error = angular_separation(
        stereo["StereoDisp_az"].value[ok],
        stereo["StereoDisp_alt"].value[ok],
        truth["true_az"][ok],
        truth["true_alt"][ok],
    )
    with open_product(dl1) as h5:
        reader = EventReader(h5, 100000)
        chunk = next(iter(reader))
        geometry = reconstruct_chunk(
            chunk, ArrayGeometry.from_subarray(reader.subarray), GeometryConfig()
        )
    inter_error = angular_separation(
        geometry.columns["az"][ok],
        geometry.columns["alt"][ok],
        truth["true_az"][ok],
        truth["true_alt"][ok],
    )
    assert np.quantile(disp_error, 0.68) < 0.9 * np.quantile(inter_error, 0.68)


def _without_column(source, target, column):
    shutil.copy(source, target)
    with h5py.File(target, "r+") as h5:
        for tel_id in layout.tel_ids_in(h5, layout.DL1_PARAMETERS):
            path = layout.tel_path(layout.DL1_PARAMETERS, tel_id)
            rows = recfunctions.drop_fields(h5[path][:], column, usemask=False)
            del h5[path]
            h5.create_dataset(path, data=rows, maxshape=(None,), chunks=True)


@pytest.mark.requirement("DPPS-DP-R-004", "DPPS-DP-R-070")
def test_missing_feature_column_refused(trained, production, tmp_path):
    dl1 = tmp_path / "no_timing.dl1.h5"
    _without_column(production.gamma, dl1, "timing_slope")
    with open_product(dl1) as h5, pytest.raises(InputFileError) as info:
        ModelApplication.prepare(trained.directory, EventReader(h5), dl1)
    message = str(info.value)
    assert message.startswith(str(dl1)) and "timing_slope" in message and "\n" not in message


@pytest.mark.requirement("DPPS-DP-R-004", "DPPS-DP-R-070")
def test_other_telescope_types_refused(trained):
    model_set = ModelSet(trained.directory)
    columns = {"hillas_intensity"}  # enough for nothing: features are checked first
    with pytest.raises(InputFileError, match="needs column"):
        check_compatible(model_set, columns, {"LST_LST_LSTCam"}, "in.h5")
    all_columns = set(ALWAYS)
    for kind in model_set.kinds:
        if kind != "event_type":
            all_columns |= required_columns(model_set.features(kind))
    with pytest.raises(InputFileError) as info:
        check_compatible(model_set, all_columns, {"SST_ASTRI_CHEC", "LST_LST_LSTCam"}, "in.h5")
    assert "SST_ASTRI_CHEC" in str(info.value) and "trained for" in str(info.value)
    check_compatible(model_set, all_columns, {"LST_LST_LSTCam", "MST_MST_NectarCam"}, "in.h5")
