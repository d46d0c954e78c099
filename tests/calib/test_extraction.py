"""Charge and peak-time extraction against ctapipe 0.32's CameraCalibrator, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from datapipe_ops.calib.extraction import extract_images, integration_correction
from testkit.ctapipe_reference import ReferenceSettings

METHODS = ["neighbor_peak_window_sum", "local_peak_window_sum", "fixed_window_sum"]


def ours(toy, settings: ReferenceSettings, coefficients=None, rows=None):
    camera = toy.camera
    readout = camera.readout
    coefficients = toy.coefficients() if coefficients is None else coefficients
    correction = integration_correction(
        readout.reference_pulse_shape,
        readout.reference_pulse_sample_width_ns,
        readout.sample_width_ns,
        settings.window_width,
        settings.window_shift,
    )
    return extract_images(
        toy.waveforms,
        camera.geometry.neighbor_offsets,
        camera.geometry.neighbor_indices,
        readout.sampling_rate_ghz,
        method=settings.method,
        window_width=settings.window_width,
        window_shift=settings.window_shift,
        peak_index=settings.peak_index,
        local_weight=settings.local_weight,
        correction=correction if settings.apply_integration_correction else None,
        pedestal_offset=coefficients["pedestal_offset"],
        factor=coefficients["factor"],
        time_shift_ns=coefficients["time_shift"],
        outlier_mask=coefficients["outlier_mask"],
        rows=rows,
    )


def assert_identical_to_ctapipe(camera, toy, settings, reference_chain, coefficients=None):
    """Our images and peak times equal ctapipe's bit for bit (float32 both)."""
    coefficients = toy.coefficients() if coefficients is None else coefficients
    image, peak_time = ours(toy, settings, coefficients)
    ref_image, ref_time = reference_chain(camera, settings).calibrate(
        1, toy.waveforms, coefficients
    )
    assert image.dtype == np.float32 and peak_time.dtype == np.float32
    assert np.array_equal(image, ref_image)
    assert np.array_equal(peak_time, ref_time)


@pytest.mark.parametrize("camera_name", ["LSTCam", "NectarCam", "FlashCam", "CHEC"])
@pytest.mark.parametrize(("width", "shift"), [(7, 3), (4, 1), (12, 6), (3, 0)])
@pytest.mark.requirement("DPPS-DP-R-041")
def test_integration_correction_is_ctapipes(camera_name, width, shift):
    from ctapipe.image.extractor import integration_correction as reference

    from datapipe_ops.instrument import load_camera

    readout = load_camera(camera_name).readout
    shape = readout.reference_pulse_shape
    steps = (readout.reference_pulse_sample_width_ns, readout.sample_width_ns, width, shift)
    try:
        expected = reference(shape, *steps)
    except ValueError:
        # ctapipe's np.arange(0, n * step, step) has n + 1 elements for this pulse length and
        # np.histogram refuses; ours does not. Compare on one sample less, where both work.
        assert np.all(np.isfinite(integration_correction(shape, *steps)))
        shape = shape[:, :-1]
        expected = reference(shape, *steps)
    assert np.array_equal(integration_correction(shape, *steps), expected)
    assert np.all(expected > 1.0)  # some of the pulse always falls outside the window


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.requirement("DPPS-DP-R-041")
def test_images_identical_to_ctapipe(lstcam, make_toy, reference_chain, method):
    toy = make_toy(lstcam, 12, seed=1)
    settings = ReferenceSettings(method=method, peak_index=15)
    assert_identical_to_ctapipe(lstcam, toy, settings, reference_chain)


@pytest.mark.parametrize(
    "changes",
    [
        {"window_width": 5, "window_shift": 2, "local_weight": 1},
        {"window_width": 20, "window_shift": 10},  # window clipped at the readout edges
        {"apply_integration_correction": False},
    ],
)
@pytest.mark.requirement("DPPS-DP-R-041")
def test_window_options_identical_to_ctapipe(chec, make_toy, reference_chain, changes):
    toy = make_toy(chec, 6, seed=2)  # square pixels (4 neighbours), 128 samples
    assert_identical_to_ctapipe(chec, toy, ReferenceSettings(**changes), reference_chain)


@pytest.mark.requirement("DPPS-DP-R-041")
def test_flat_and_isolated_waveforms_identical_to_ctapipe(lstcam, make_toy, reference_chain):
    """Ties for the maximum and a pixel whose neighbours are all broken (sum of -0.0/+0.0)."""
    toy = make_toy(lstcam, 3, seed=3, n_broken=0)
    geometry = lstcam.geometry
    toy.waveforms[0] = 400  # every sample equal: the first maximum is sample 0
    toy.waveforms[1, :, ::2] = 405  # two-sample ties everywhere
    isolated = 100
    toy.broken[geometry.neighbors_of(isolated)] = True
    coefficients = toy.coefficients()
    coefficients["pedestal_offset"][0, isolated] = 400.5  # own waveform partly negative
    assert_identical_to_ctapipe(lstcam, toy, ReferenceSettings(), reference_chain, coefficients)


@pytest.mark.parametrize("pedestal", [1.25, 0.0])
@pytest.mark.requirement("DPPS-DP-R-041")
def test_small_or_zero_pedestals_identical_to_ctapipe(lstcam, make_toy, reference_chain, pedestal):
    """Pedestals below 4 ADC take the sample-by-sample window sums, 0 the vector ones."""
    toy = make_toy(lstcam, 4, seed=9)
    coefficients = toy.coefficients()
    coefficients["pedestal_offset"][:] = pedestal
    assert_identical_to_ctapipe(lstcam, toy, ReferenceSettings(), reference_chain, coefficients)


@pytest.mark.requirement("DPPS-DP-R-040", "DPPS-DP-R-032")
def test_each_event_uses_its_coefficient_row(lstcam, make_toy, reference_chain):
    toy = make_toy(lstcam, 6, seed=4)
    first = toy.coefficients()
    second = {k: v.copy() for k, v in first.items()}
    second["pedestal_offset"] += 3.5
    second["factor"] *= 1.2
    second["time_shift"] -= 1.0
    second["outlier_mask"][:] = False
    stacked = {k: np.concatenate([first[k], second[k]])[:, np.newaxis] for k in first}
    rows = np.array([0, 1, 1, 0, 1, 0])
    image, peak_time = ours(toy, ReferenceSettings(), stacked, rows)
    chain = reference_chain(lstcam)
    for row, coefficients in enumerate((first, second)):
        ref_image, ref_time = chain.calibrate(1, toy.waveforms[rows == row], coefficients)
        assert np.array_equal(image[rows == row], ref_image)
        assert np.array_equal(peak_time[rows == row], ref_time)


@pytest.mark.requirement("DPPS-DP-R-040")
def test_calibration_undoes_gain_and_pedestal(lstcam, make_toy):
    toy = make_toy(lstcam, 20, seed=5, n_broken=0)
    image, _ = ours(toy, ReferenceSettings())
    bright = toy.true_pe > 100
    ratio = image[bright] / toy.true_pe[bright]
    assert abs(np.median(ratio) - 1.0) < 0.02
    pull = (image[bright] - toy.true_pe[bright]) / np.sqrt(toy.true_pe[bright])
    assert np.std(pull) < 1.5  # photo-statistics plus a little electronic noise
    # without the calibration the same charges are off by the gain and the pedestal
    raw, _ = ours(
        toy,
        ReferenceSettings(),
        {
            "pedestal_offset": np.zeros((1, lstcam.geometry.n_pixels), np.float32),
            "factor": np.ones((1, lstcam.geometry.n_pixels), np.float32),
            "time_shift": np.zeros((1, lstcam.geometry.n_pixels), np.float32),
            "outlier_mask": np.zeros((1, lstcam.geometry.n_pixels), bool),
        },
    )
    assert np.median(raw[bright] / toy.true_pe[bright]) > 5


@pytest.mark.requirement("DPPS-DP-R-040")
def test_peak_time_corrected_for_time_offsets(lstcam, make_toy):
    toy = make_toy(lstcam, 10, seed=6, n_broken=0)
    bright = toy.true_pe > 200
    corrected = ours(toy, ReferenceSettings())[1]
    coefficients = toy.coefficients()
    coefficients["time_shift"][:] = 0.0
    uncorrected = ours(toy, ReferenceSettings(), coefficients)[1]
    offsets = np.broadcast_to(toy.time_offset, corrected.shape)[bright]
    # the difference is exactly the time shift (float32 rounding aside)
    assert np.allclose(uncorrected[bright] - corrected[bright], offsets, atol=1e-5)


@pytest.mark.requirement("DPPS-DP-R-040")
def test_broken_pixels_are_neighbour_averages(lstcam, make_toy):
    toy = make_toy(lstcam, 4, seed=7, n_broken=5)
    image, peak_time = ours(toy, ReferenceSettings())
    geometry = lstcam.geometry
    for pixel in np.flatnonzero(toy.broken):
        neighbors = [n for n in geometry.neighbors_of(pixel) if not toy.broken[n]]
        assert np.allclose(image[:, pixel], image[:, neighbors].mean(axis=1), rtol=1e-6)
        assert np.allclose(peak_time[:, pixel], peak_time[:, neighbors].mean(axis=1), rtol=1e-6)


def test_bad_input_is_refused(lstcam, make_toy):
    toy = make_toy(lstcam, 2, seed=8)
    geometry = lstcam.geometry
    args = (geometry.neighbor_offsets, geometry.neighbor_indices, 1.0)
    with pytest.raises(ValueError, match="ADC counts"):
        extract_images(toy.waveforms.astype(np.float32), *args)
    with pytest.raises(ValueError, match="unknown extraction method"):
        extract_images(toy.waveforms, *args, method="sliding_window")
    with pytest.raises(ValueError, match="coefficient row"):
        extract_images(toy.waveforms, *args, rows=np.array([0, 1]))
    with pytest.raises(ValueError, match="do not fit"):
        extract_images(toy.waveforms, *args, factor=np.ones(10, np.float32))
    n_pixels = toy.waveforms.shape[1]
    with pytest.raises(ValueError, match="do not match"):  # 2 rows of factors, 3 of pedestals
        extract_images(
            toy.waveforms,
            *args,
            factor=np.ones((2, 1, n_pixels), np.float32),
            pedestal_offset=np.zeros((3, 1, n_pixels), np.float32),
        )
    with pytest.raises(ValueError, match="gain_channel"):
        extract_images(toy.waveforms, *args, gain_channel=np.ones((2, n_pixels), np.int64))
