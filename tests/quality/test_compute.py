"""The metrics measured on small simulated products, and on products spoiled on purpose."""

import h5py
import hdf5plugin  # noqa: F401  (the products' compression filters)
import numpy as np
import pytest

from datapipe_ops.catalog import QualityFlag
from datapipe_ops.io import layout
from datapipe_ops.quality.compute import gti_exposure, measure
from datapipe_ops.quality.config import QualityConfig
from testkit.quality import squeeze_times, write_dl3

pytestmark = pytest.mark.slow


def by_name(measurement):
    return {m.name: m for m in measurement.metrics}


def test_dl0_pedestal_noise_and_pixels_of_a_clean_run(dl1_runs):
    run = dl1_runs[0]
    metrics = by_name(measure(run["dl0"], "DL0", QualityConfig()))
    with h5py.File(run["coefficients"]) as h5file:
        table = h5file[layout.tel_path(layout.COEFFICIENTS, 1)][:]
    # the pedestal measured on the waveforms is the one CalibPipe delivered
    pedestal = float(np.mean(table["pedestal_offset"]))
    assert metrics["pedestal_mean.tel_001"].value == pytest.approx(pedestal, abs=0.5)
    assert metrics["pedestal_mean.tel_001"].unit == "adu"
    assert 0.5 < metrics["noise_rms.tel_001"].value < 10
    for name in ("dead_pixel_fraction", "hot_pixel_fraction", "pedestal_drift"):
        assert metrics[name].flag is QualityFlag.GOOD, metrics[name]
    with h5py.File(run["dl0"]) as h5file:
        n_tel = len(layout.tel_ids_in(h5file, layout.WAVEFORMS))
    assert len([n for n in metrics if n.startswith("dead_pixel_fraction.tel_")]) == n_tel
    assert metrics["trigger_rate.tel_001"].value > 0


@pytest.mark.requirement("DPPS-DP-R-101")
def test_dead_and_hot_pixels_are_found(run_copy):
    dl0 = run_copy["dl0"]
    with h5py.File(dl0, "r+") as h5file:
        waves = h5file[layout.tel_path(layout.WAVEFORMS, 1)]
        data = waves[...]
        n_pixels = data.shape[1]
        dead = np.arange(0, n_pixels, 7)  # one pixel in 7: 14 %
        data[:, dead, :] = 400
        waves[...] = data
        waves = h5file[layout.tel_path(layout.WAVEFORMS, 2)]
        data = waves[...].astype(np.float64)
        hot = np.arange(0, n_pixels, 50)  # 2 %
        noise = np.random.default_rng(0).normal(0, 20, (data.shape[0], hot.size, data.shape[2]))
        data[:, hot, :] += noise
        waves[...] = np.clip(data, 0, 65535).astype(np.uint16)
    metrics = by_name(measure(dl0, "DL0", QualityConfig()))
    assert metrics["dead_pixel_fraction.tel_001"].value == pytest.approx(dead.size / n_pixels)
    assert metrics["dead_pixel_fraction.tel_001"].flag is QualityFlag.BAD
    assert metrics["hot_pixel_fraction.tel_002"].value == pytest.approx(hot.size / n_pixels)
    assert metrics["hot_pixel_fraction.tel_002"].flag is QualityFlag.WARNING
    assert metrics["dead_pixel_fraction.tel_002"].value == 0
    assert metrics["dead_pixel_fraction"].value == metrics["dead_pixel_fraction.tel_001"].value


def test_dl1_images_rates_and_intensity(dl1_runs):
    metrics = by_name(measure(dl1_runs[0]["dl1"], "DL1", QualityConfig()))
    with h5py.File(dl1_runs[0]["dl1"]) as h5file:
        rows = h5file[layout.tel_path(layout.DL1_PARAMETERS, 1)][:]
        n_events = h5file[layout.TRIGGER].shape[0]
    valid = rows["is_valid"]
    assert metrics["valid_image_fraction.tel_001"].value == pytest.approx(valid.mean())
    assert metrics["mean_intensity.tel_001"].value == pytest.approx(
        rows["hillas_intensity"][valid].mean()
    )
    assert metrics["n_events"].value == n_events
    bright = valid & (rows["hillas_intensity"] > 50)
    assert metrics["cosmic_rate.tel_001"].value == pytest.approx(
        bright.sum() / bright.size * metrics["trigger_rate.tel_001"].value
    )
    for name in ("trigger_rate_variability", "cosmic_rate_variability", "intensity_variability"):
        assert metrics[name].flag is QualityFlag.GOOD, metrics[name]


@pytest.mark.requirement("DPPS-DP-R-101")
def test_a_rate_that_jumps_is_unstable(run_copy):
    # half of the events in the first tenth of the run: the rate drops ninefold after it
    squeeze_times(run_copy["dl1"], 0.5, 0.1)
    metrics = by_name(measure(run_copy["dl1"], "DL1", QualityConfig()))
    assert metrics["trigger_rate_variability"].value > 0.5
    assert metrics["trigger_rate_variability"].flag is QualityFlag.BAD
    assert metrics["event_rate_variability"].flag is QualityFlag.BAD


@pytest.mark.requirement("DPPS-DP-R-101")
def test_dl2_fraction_of_valid_reconstructions(dl1_runs, tmp_path):
    from datapipe_ops.reco.stage import dl1_to_dl2

    dl2 = tmp_path / "run.dl2.h5"
    dl1_to_dl2(dl1_runs[0]["dl1"], dl2, register=False)
    metrics = by_name(measure(dl2, "DL2", QualityConfig()))
    with h5py.File(dl2) as h5file:
        group = h5file[f"{layout.DL2_SUBARRAY}/geometry"]
        (algorithm,) = [n for n in group if "__" not in n]
        valid = group[algorithm][f"{algorithm}_is_valid"]
    name = f"valid_reconstruction_fraction.geometry_{algorithm}"
    assert metrics[name].value == pytest.approx(valid.mean())
    assert metrics["valid_reconstruction_fraction"].value == metrics[name].value
    assert metrics["reconstructed_rate"].value == pytest.approx(
        valid.sum() / valid.size * metrics["event_rate"].value
    )


def test_dl3_steady_excess_is_stable(tmp_path):
    path = write_dl3(tmp_path / "obs.fits", 1, start_s=8.0e8)
    measured = measure(path, "DL3", QualityConfig())
    metrics = by_name(measured)
    assert metrics["event_rate"].value == pytest.approx(2.5, rel=0.06)
    assert metrics["excess_rate"].value == pytest.approx(0.5, rel=0.15)
    assert metrics["excess_rate_variability"].flag is QualityFlag.GOOD
    assert metrics["event_rate_variability"].flag is QualityFlag.GOOD
    assert measured.obs_id == 1
    assert (measured.time_stop - measured.time_start).total_seconds() == pytest.approx(1200)


@pytest.mark.requirement("DPPS-DP-R-101")
def test_dl3_source_that_vanishes_is_flagged(tmp_path):
    path = write_dl3(tmp_path / "obs.fits", 2, start_s=8.0e8, source_hz=(1.0, 0.0))
    metrics = by_name(measure(path, "DL3", QualityConfig()))
    assert metrics["excess_rate_variability"].value > 0.6
    assert metrics["excess_rate_variability"].flag is QualityFlag.BAD


def test_good_time_per_bin():
    edges = np.array([0.0, 10.0, 20.0, 30.0])
    exposure = gti_exposure(edges, np.array([0.0, 15.0]), np.array([5.0, 30.0]))
    assert exposure.tolist() == [5.0, 5.0, 10.0]


def test_pedestal_against_calibpipe(dl1_runs, run_copy):
    coefficients = dl1_runs[0]["coefficients"]
    metrics = by_name(measure(dl1_runs[0]["dl0"], "DL0", QualityConfig(), coefficients))
    assert metrics["pedestal_offset_deviation"].value < 0.5
    assert metrics["pedestal_offset_deviation"].flag is QualityFlag.GOOD
    with h5py.File(coefficients) as h5file:
        mask = h5file[layout.tel_path(layout.COEFFICIENTS, 3)][:]["outlier_mask"][0, 0]
    assert metrics["calibration_outlier_fraction.tel_003"].value == pytest.approx(mask.mean())
    # the camera's baseline moved by 5 counts since CalibPipe measured it
    with h5py.File(run_copy["dl0"], "r+") as h5file:
        waves = h5file[layout.tel_path(layout.WAVEFORMS, 1)]
        waves[...] = waves[...] + np.uint16(5)
    metrics = by_name(measure(run_copy["dl0"], "DL0", QualityConfig(), coefficients))
    assert metrics["pedestal_offset_deviation.tel_001"].value == pytest.approx(5, abs=0.5)
    assert metrics["pedestal_offset_deviation"].flag is QualityFlag.BAD
    assert metrics["pedestal_offset_deviation.tel_002"].flag is QualityFlag.GOOD


def test_dl1_images_show_the_dead_pixels_of_their_dl0(dl1_runs, run_copy, tmp_path):
    from datapipe_ops.calib.config import DL0ToDL1Config
    from datapipe_ops.calib.stage import dl0_to_dl1

    with h5py.File(dl1_runs[0]["coefficients"]) as h5file:
        pedestal = h5file[layout.tel_path(layout.COEFFICIENTS, 2)][0]["pedestal_offset"][0]
    with h5py.File(run_copy["dl0"], "r+") as h5file:
        waves = h5file[layout.tel_path(layout.WAVEFORMS, 2)]
        data = waves[...]
        dead = np.arange(3, data.shape[1], 10)  # 10 %: no signal, no noise, just the baseline
        data[:, dead, :] = np.round(pedestal[dead]).astype(np.uint16)[np.newaxis, :, np.newaxis]
        waves[...] = data
    dl1 = tmp_path / "images.dl1.h5"
    config = DL0ToDL1Config(write_images=True)
    dl0_to_dl1(run_copy["dl0"], dl1, dl1_runs[0]["coefficients"], config, register=False)
    metrics = by_name(measure(dl1, "DL1", QualityConfig()))
    assert metrics["dead_pixel_fraction.tel_002"].value == pytest.approx(0.1, abs=0.01)
    assert metrics["dead_pixel_fraction.tel_002"].flag is QualityFlag.WARNING
    assert metrics["hot_pixel_fraction.tel_002"].value == 0
