"""Reading DL2 products into pyirf event tables, simulation info and weights."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import toy_dl2
from astropy import units as u

from datapipe_ops.errors import InputFileError
from datapipe_ops.io import layout
from datapipe_ops.irf.config import DL2Algorithms, IRFConfig
from datapipe_ops.irf.events import add_weights, read_events, read_particle, simulation_info

PYIRF_COLUMNS = (
    "true_energy",
    "reco_energy",
    "gh_score",
    "reco_alt",
    "reco_az",
    "true_alt",
    "true_az",
    "pointing_alt",
    "pointing_az",
    "theta",
    "true_source_fov_offset",
    "reco_source_fov_offset",
    "event_type",
    "multiplicity",
)


@pytest.fixture(scope="module")
def gamma_run(tmp_path_factory):
    path = tmp_path_factory.mktemp("events") / "gamma.dl2.h5"
    return toy_dl2.write_run(path, toy_dl2.Run("gamma", 5000, zenith_deg=30.0))


@pytest.mark.requirement("DPPS-DP-R-091")
def test_simulated_run_gives_pyirf_columns_with_units(gamma_run):
    data = read_events(gamma_run, chunk_size=700)  # several chunks
    events = data.events
    for column in PYIRF_COLUMNS:
        assert column in events.colnames, column
    assert events["true_energy"].unit == u.TeV and events["theta"].unit == u.deg
    assert np.allclose(events["pointing_alt"].to_value(u.deg), 60.0)
    assert np.allclose(
        events["true_source_fov_offset"].to_value(u.deg), toy_dl2.SOURCE_OFFSET_DEG, atol=1e-3
    )
    assert set(np.unique(events["event_type"])) == {0, 1, 2}
    assert data.particle == "gamma" and data.model_set_id == "toyset-1"
    ratio = (events["reco_energy"] / events["true_energy"]).to_value(u.one)
    assert np.median(ratio) == pytest.approx(1 + toy_dl2.BIAS, abs=0.02)


@pytest.mark.requirement("DPPS-DP-R-091")
def test_simulation_info_sums_runs_and_weights_to_crab(tmp_path):
    paths = [
        toy_dl2.write_run(tmp_path / f"g{i}.h5", toy_dl2.Run("gamma", 2000, obs_id=i))
        for i in (1, 2)
    ]
    data = read_particle(paths, "gamma")
    info, diffuse = simulation_info(data)
    assert info.n_showers == 4000 and not diffuse
    assert info.viewcone_max.to_value(u.deg) == pytest.approx(toy_dl2.SOURCE_OFFSET_DEG)
    add_weights(data, IRFConfig().spectra, 50 * u.h)
    weights = np.asarray(data.events["weight"])
    assert np.all(weights > 0)
    # E^-2 simulated, Crab ~E^-2.6: low energies weigh more
    order = np.argsort(data.events["true_energy"])
    assert weights[order[0]] > weights[order[-1]]


@pytest.mark.requirement("DPPS-DP-R-091")
def test_histogram_disagreeing_with_run_table_is_refused(tmp_path):
    path = toy_dl2.write_run(tmp_path / "g.h5", toy_dl2.Run("gamma", 1000))
    with h5py.File(path, "r+") as h5:
        rows = h5[layout.SHOWER_DISTRIBUTION][:]
        rows["n_entries"] = 999
        h5[layout.SHOWER_DISTRIBUTION][:] = rows
    data = read_particle([path], "gamma")
    with pytest.raises(InputFileError, match="counts 999 thrown showers"):
        simulation_info(data)


def test_missing_column_and_other_algorithm_names(tmp_path):
    path = toy_dl2.write_run(tmp_path / "g.h5", toy_dl2.Run("gamma", 500))
    with pytest.raises(InputFileError, match=r"has no DL2 table .*HillasIntersection"):
        read_events(path, DL2Algorithms(geometry="HillasIntersection"))
    without_types = read_events(path, DL2Algorithms(event_type=None)).events
    assert np.all(without_types["event_type"] == 0)
    with h5py.File(path, "r+") as h5:
        table = h5[layout.dl2_path("particle_type", toy_dl2.GAMMANESS)]
        rows = table[:]
        del h5[table.name]
        names = [n for n in rows.dtype.names if n != f"{toy_dl2.GAMMANESS}_prediction"]
        h5[layout.dl2_path("particle_type", toy_dl2.GAMMANESS)] = rows[names]
    with pytest.raises(InputFileError, match="no column DataPipeGammaness_prediction"):
        read_events(path)


@pytest.mark.requirement("DPPS-DP-R-091")
def test_particle_mismatch_is_refused(tmp_path):
    path = toy_dl2.write_run(tmp_path / "p.h5", toy_dl2.Run("proton", 500, viewcone_deg=5.0))
    with pytest.raises(InputFileError, match="holds runs of proton, expected gamma"):
        read_particle([path], "gamma")


def test_angular_separation_kernel_matches_astropy():
    from astropy.coordinates import angular_separation

    from datapipe_ops.irf.events import angular_separation_deg

    rng = np.random.default_rng(3)
    lon1, lon2 = rng.uniform(0, 360, (2, 1000))
    lat1, lat2 = rng.uniform(-89, 89, (2, 1000))
    expected = angular_separation(lon1 * u.deg, lat1 * u.deg, lon2 * u.deg, lat2 * u.deg)
    np.testing.assert_allclose(
        angular_separation_deg(lon1, lat1, lon2, lat2),
        expected.to_value(u.deg),
        rtol=1e-12,
        atol=1e-12,
    )


def test_offsets_and_theta_in_one_pass_equal_three_separations():
    from datapipe_ops.irf.events import _offsets_and_theta, angular_separation_deg

    rng = np.random.default_rng(4)
    reco_az, true_az, pointing_az = rng.uniform(0, 360, (3, 1000))
    reco_alt, true_alt, pointing_alt = rng.uniform(20, 89, (3, 1000))
    reco_offset, true_offset, theta = _offsets_and_theta(
        reco_az, reco_alt, true_az, true_alt, pointing_az, pointing_alt
    )
    # bit for bit: the IRFs must not change with the kernel
    np.testing.assert_array_equal(
        reco_offset, angular_separation_deg(reco_az, reco_alt, pointing_az, pointing_alt)
    )
    np.testing.assert_array_equal(
        true_offset, angular_separation_deg(true_az, true_alt, pointing_az, pointing_alt)
    )
    np.testing.assert_array_equal(
        theta, angular_separation_deg(reco_az, reco_alt, true_az, true_alt)
    )


def test_shuffled_truth_table_is_joined_by_event(gamma_run, tmp_path):
    path = tmp_path / "shuffled.dl2.h5"
    path.write_bytes(gamma_run.read_bytes())
    with h5py.File(path, "r+") as h5:
        shower = h5[layout.SHOWER]
        rows = shower[:]
        shower[:] = rows[np.random.default_rng(1).permutation(rows.size)]
    ordered = read_events(gamma_run).events
    shuffled = read_events(path).events
    for column in ("true_energy", "true_alt", "true_az", "theta", "true_source_fov_offset"):
        np.testing.assert_array_equal(shuffled[column], ordered[column])
