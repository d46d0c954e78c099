"""Runs and productions on disk: layout, histograms, determinism, manifest, resumption."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from astropy.table import Table

from datapipe_ops.bdms.manifest import read_manifest, verify_dataset
from datapipe_ops.errors import DataPipeError
from datapipe_ops.io import layout, open_product, read_table
from datapipe_ops.io.coefficients import load_coefficients
from datapipe_ops.simulation.production import (
    file_seed,
    production_files,
    simulate_production,
    simulate_run,
)

from .conftest import small_config

SCIENCE = [
    layout.TRIGGER,
    layout.SHOWER,
    layout.SHOWER_DISTRIBUTION,
    *(
        layout.tel_path(group, t)
        for group in (layout.WAVEFORMS, layout.DL0_TEL_INDEX, layout.TRUE_IMAGES)
        for t in (1, 2, 3, 4)
    ),
]


@pytest.fixture(scope="module")
def run(tmp_path_factory, config):
    path = tmp_path_factory.mktemp("run") / "gamma.dl0.h5"
    component = config.particles[0]
    summary = simulate_run(
        config, component, path, file_seed(7, component.name, 0), 11, show_progress=False
    )
    return summary


@pytest.mark.requirement("DPPS-DP-R-033")
def test_a_run_writes_every_path_of_the_data_model(run, config):
    with open_product(run.path, level="DL0") as h5:
        for path in [*SCIENCE, layout.SUBARRAY_LAYOUT, layout.SIMULATION_RUN]:
            assert path in h5, path
        trigger = read_table(h5, layout.TRIGGER)
        showers = read_table(h5, layout.SHOWER)
        assert run.n_events == len(trigger) == len(showers) > 20
        np.testing.assert_array_equal(trigger["event_id"], showers["event_id"])
        assert np.all(np.diff(trigger["event_id"]) > 0)
        assert trigger["tels_with_trigger"].shape == (len(trigger), 4)
        np.testing.assert_array_equal(h5[layout.TRIGGER].attrs["tel_ids"], [1, 2, 3, 4])
        for index, tel_id in enumerate((1, 2, 3, 4)):
            waves = h5[layout.tel_path(layout.WAVEFORMS, tel_id)]
            ids = read_table(h5, layout.tel_path(layout.DL0_TEL_INDEX, tel_id))["event_id"]
            true = read_table(h5, layout.tel_path(layout.TRUE_IMAGES, tel_id))
            assert waves.dtype == np.uint16
            assert waves.shape[0] == len(ids) == len(true)
            assert waves.shape[2] == waves.attrs["n_samples"]
            np.testing.assert_array_equal(true["event_id"], ids)
            has = np.isin(trigger["event_id"], ids)
            np.testing.assert_array_equal(has, trigger["tels_with_trigger"][:, index])
        assert np.all(showers["true_energy"].to_value("TeV") >= 0.1)
        assert showers["true_x_max"].unit == "g / cm2"
    run_table = Table.read(run.path, path=layout.SIMULATION_RUN)
    assert run_table["n_showers"][0] == config.particles[0].n_showers
    assert run_table["max_viewcone_radius"].quantity[0].to_value("deg") == 1.0


@pytest.mark.requirement("DPPS-DP-R-033")
def test_histogram_counts_every_thrown_shower(run, config):
    with open_product(run.path) as h5:
        histogram = read_table(h5, layout.SHOWER_DISTRIBUTION)
    assert histogram["n_entries"][0] == config.particles[0].n_showers
    assert histogram["histogram"][0].sum() == config.particles[0].n_showers
    assert histogram["histogram"][0].shape == (
        len(histogram["bins_energy"][0]) - 1,
        len(histogram["bins_core_dist"][0]) - 1,
        len(histogram["bins_viewcone"][0]) - 1,
    )
    assert histogram["bins_core_dist"][0][-1].to_value("m") == 250.0


@pytest.mark.requirement("DPPS-DP-R-033")
def test_coefficients_file_covers_the_run(run):
    with open_product(run.path) as h5:
        times = read_table(h5, layout.TRIGGER)["time"]
    coefficients = load_coefficients(run.coefficients_path, [1, 2, 3, 4], times.min(), times.max())
    assert coefficients[1].factor.shape == (1, 1855)
    with h5py.File(run.coefficients_path) as h5:
        attrs = h5[layout.tel_path(layout.COEFFICIENTS, 1)].attrs
        assert attrs["extraction_window_samples"] == 7
        assert h5.attrs["data_level"] == "CALIBRATION"


def _science(path):
    with h5py.File(path) as h5:
        return {name: h5[name][()] for name in SCIENCE}


@pytest.mark.requirement("DPPS-DP-R-007")
def test_same_seed_same_science_bytes_other_seed_differs(tmp_path, run, config):
    component = config.particles[0]
    again = simulate_run(
        config,
        component,
        tmp_path / "again.dl0.h5",
        file_seed(7, component.name, 0),
        11,
        show_progress=False,
    )
    other = simulate_run(
        config,
        component,
        tmp_path / "other.dl0.h5",
        file_seed(8, component.name, 0),
        11,
        show_progress=False,
    )
    first, second = _science(run.path), _science(again.path)
    for name in SCIENCE:
        assert first[name].tobytes() == second[name].tobytes(), name
    third = _science(other.path)
    assert first[layout.SHOWER].tobytes() != third[layout.SHOWER].tobytes()


@pytest.mark.requirement("DPPS-DP-R-033")
def test_production_writes_a_complete_verified_dataset_and_resumes(tmp_path):
    config = small_config(
        particles=[
            {**p, "n_showers": 100, "n_files": 1} for p in small_config().model_dump()["particles"]
        ]
    )
    plan = production_files(config, n_files=2)
    assert [p[2] for p in plan] == [11, 12, 21, 22]
    manifest = simulate_production(config, tmp_path, n_files=2, show_progress=False)
    assert manifest.complete and manifest.n_files_expected == 8
    assert verify_dataset(tmp_path) == []
    dl0 = [f for f in manifest.files if f.level == "DL0"]
    assert [f.name for f in dl0] == [
        "gamma_run000011.dl0.h5",
        "gamma_run000012.dl0.h5",
        "proton_run000021.dl0.h5",
        "proton_run000022.dl0.h5",
    ]
    assert all(f.meta["coefficients"].endswith(".coefficients.h5") for f in dl0)
    assert {f.level for f in manifest.files} == {"DL0", "CALIBRATION"}
    # rerunning keeps the intact files (same bytes, same manifest)
    mtimes = {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("*.h5")}
    simulate_production(config, tmp_path, n_files=2, show_progress=False)
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("*.h5")} == mtimes
    # a different seed into the same directory is refused
    with pytest.raises(DataPipeError, match="another configuration"):
        simulate_production(config, tmp_path, n_files=2, seed=99, show_progress=False)
    assert read_manifest(tmp_path).complete


@pytest.mark.requirement("DPPS-DP-R-033")
def test_a_production_file_equals_the_single_run(tmp_path):
    config = small_config(
        particles=[{**small_config().model_dump()["particles"][1], "n_showers": 100}]
    )
    simulate_production(config, tmp_path / "prod", n_files=2, show_progress=False)
    component = config.particles[0]
    simulate_run(
        config,
        component,
        tmp_path / "single.dl0.h5",
        file_seed(config.seed, component.name, 1),
        22,
        run_index=1,
        show_progress=False,
    )
    a = _science(tmp_path / "prod" / "proton_run000022.dl0.h5")
    b = _science(tmp_path / "single.dl0.h5")
    for name in SCIENCE:
        assert a[name].tobytes() == b[name].tobytes(), name


def filter_ids(dataset: h5py.Dataset) -> list[int]:
    plist = dataset.id.get_create_plist()
    return [plist.get_filter(i)[0] for i in range(plist.get_nfilters())]


@pytest.mark.parametrize("compression", ["blosc-lz4", "szip", "none"])
def test_waveform_compression_changes_the_file_not_the_data(tmp_path, compression):
    config = small_config(chunk_size=50)
    component = config.particles[0].model_copy(update={"n_showers": 100})
    paths = {}
    for name in ("lzf", compression):
        settings = config.model_copy(update={"waveform_compression": name})
        paths[name] = tmp_path / f"{name}.dl0.h5"
        simulate_run(
            settings, component, paths[name], file_seed(1, "gamma", 0), 11, show_progress=False
        )
    reference, other = _science(paths["lzf"]), _science(paths[compression])
    for name in SCIENCE:
        assert reference[name].tobytes() == other[name].tobytes(), name
    with h5py.File(paths[compression]) as h5:
        dataset = h5[layout.tel_path(layout.WAVEFORMS, 1)]
        expected = {"blosc-lz4": [32001], "szip": [4], "none": []}[compression]
        assert filter_ids(dataset) == expected
