"""A simulated observation block: DL0 without truth, a truth side file, real rates."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from astropy.table import QTable, Table

from datapipe_ops.bdms.manifest import read_manifest, verify_dataset
from datapipe_ops.errors import DataPipeError
from datapipe_ops.io import layout, open_product, read_table
from datapipe_ops.io.coefficients import load_coefficients
from datapipe_ops.io.layout import GTI
from datapipe_ops.simulation.config import ObservationConfig
from datapipe_ops.simulation.observation import (
    observation_species,
    pointing_position,
    simulate_observation,
)

pytestmark = pytest.mark.requirement("DPPS-DP-R-033")

DURATION = 1.0


def _config():
    return ObservationConfig.model_validate(
        {
            "name": "crab_test",
            "obs_id": 42,
            "seed": 3,
            "time_slice_s": 0.25,
            "pointing_interval_s": 0.5,
            "duration_s": 60.0,
            "gtis": [[0.0, 0.5], [0.75, 60.0]],
            # a bright source and a thin background keep the test fast
            "target": {"spectrum": "power_law", "power_law_normalization_per_tev_cm2_s": 3e-9},
            "background": [
                {
                    "particle": "proton",
                    "spectrum": "IRFDOC_PROTON_SPECTRUM",
                    "energy": {"min_tev": 0.3, "max_tev": 100.0},
                    "viewcone_max_deg": 3.0,
                    "max_scatter_range_m": 400.0,
                }
            ],
        }
    )


@pytest.fixture(scope="module")
def observation(tmp_path_factory):
    directory = tmp_path_factory.mktemp("obs")
    return simulate_observation(_config(), directory, duration_s=DURATION, show_progress=False)


def test_species_rates_are_flux_times_area(observation):
    config = _config()
    species = observation_species(config)
    assert [s.label for s in species] == ["Crab_gamma", "proton"]
    gamma = species[0]
    assert gamma.rate_hz == pytest.approx(gamma.spectrum.integral * np.pi * (600e2) ** 2)
    livetime = 0.75
    for s in species:
        thrown = observation.thrown[s.label]
        assert abs(thrown - s.rate_hz * livetime) < 5 * np.sqrt(s.rate_hz * livetime)
    assert observation.triggered["Crab_gamma"] > 10 and observation.triggered["proton"] > 10


def test_dl0_holds_no_truth_and_events_are_time_ordered_inside_gtis(observation):
    with open_product(observation.path, level="DL0") as h5:
        assert "simulation" not in h5
        assert layout.SIMULATION_RUN not in h5
        trigger = read_table(h5, layout.TRIGGER)
        gti = read_table(h5, GTI)
        block = read_table(h5, layout.OBSERVATION)
        pointing = read_table(h5, layout.POINTING)
        assert len(trigger) == observation.n_events
        np.testing.assert_array_equal(trigger["event_id"], np.arange(1, len(trigger) + 1))
        seconds = (trigger["time"] - block["start"][0]).to_value("s")
        assert np.all(np.diff(seconds) >= 0)
        in_gti = np.zeros(len(seconds), bool)
        for start, stop in zip(gti["start"], gti["stop"], strict=True):
            in_gti |= (trigger["time"] >= start) & (trigger["time"] <= stop)
        assert in_gti.all()
        assert not np.any((seconds > 0.5) & (seconds < 0.75))
        assert block["obs_id"][0] == 42
        assert block["livetime"][0].to_value("s") == pytest.approx(0.75)
        assert 0 < block["zenith"][0].to_value("deg") < 20
        position = pointing_position(_config())
        np.testing.assert_allclose(pointing["array_ra"].to_value("deg"), position.ra.deg)
        assert len(pointing) == 3


def test_truth_file_matches_the_dl0_events(observation):
    truth = Table.read(observation.truth_path, path=layout.SHOWER)
    trigger = Table.read(observation.path, path=layout.TRIGGER)
    np.testing.assert_array_equal(truth["event_id"], trigger["event_id"])
    primaries = np.asarray(truth["true_shower_primary_id"])
    assert np.count_nonzero(primaries == 0) == observation.triggered["Crab_gamma"]
    assert np.count_nonzero(primaries == 101) == observation.triggered["proton"]
    with h5py.File(observation.truth_path) as h5:
        assert h5.attrs["data_level"] == "TRUTH"
        thrown = Table.read(h5, path=layout.SIMULATION_RUN)
    assert list(thrown["n_showers"]) == list(observation.thrown.values())


def test_source_photons_come_from_the_target(observation):
    truth = QTable.read(observation.truth_path, path=layout.SHOWER)
    block = QTable.read(observation.path, path=layout.OBSERVATION)
    gammas = truth[np.asarray(truth["true_shower_primary_id"]) == 0]
    protons = truth[np.asarray(truth["true_shower_primary_id"]) == 101]
    # all photons from one point (the target), protons spread over the view cone
    assert np.std(gammas["true_alt"].to_value("deg")) < 0.01
    assert np.std(protons["true_az"].to_value("deg")) > 0.5
    zenith = 90 - np.mean(gammas["true_alt"].to_value("deg"))
    assert abs(zenith - block["zenith"][0].to_value("deg")) < 0.6


def test_manifest_lists_dl0_and_coefficients_but_not_the_truth(observation):
    manifest = read_manifest(observation.path.parent)
    assert manifest.kind == "observation" and manifest.complete
    assert sorted(f.level for f in manifest.files) == ["CALIBRATION", "DL0"]
    assert verify_dataset(observation.path.parent) == []
    assert observation.truth_path.name not in [f.name for f in manifest.files]
    with open_product(observation.path) as h5:
        times = read_table(h5, layout.TRIGGER)["time"]
    load_coefficients(observation.coefficients_path, [1, 2, 3, 4], times.min(), times.max())


def _science(path):
    with h5py.File(path) as h5:
        names = [layout.TRIGGER, layout.POINTING] + [
            layout.tel_path(layout.WAVEFORMS, t) for t in (1, 2, 3, 4)
        ]
        return {name: h5[name][()].tobytes() for name in names}


@pytest.mark.requirement("DPPS-DP-R-007")
def test_same_seed_same_observation_rerun_is_a_no_op_other_seed_refused(tmp_path, observation):
    again = simulate_observation(_config(), tmp_path, duration_s=DURATION, show_progress=False)
    assert _science(again.path) == _science(observation.path)
    assert again.triggered == observation.triggered
    mtime = again.path.stat().st_mtime_ns
    rerun = simulate_observation(_config(), tmp_path, duration_s=DURATION, show_progress=False)
    assert rerun.path.stat().st_mtime_ns == mtime
    assert rerun.thrown == observation.thrown and rerun.triggered == observation.triggered
    with pytest.raises(DataPipeError, match="another configuration, seed or duration"):
        simulate_observation(_config(), tmp_path, seed=4, duration_s=DURATION, show_progress=False)
