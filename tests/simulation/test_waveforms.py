"""Camera electronics and waveforms: the CalibPipe coefficients undo them."""

from __future__ import annotations

import numpy as np
import pytest
from ctapipe.image.extractor import integration_correction

from datapipe_ops.instrument import load_camera
from datapipe_ops.simulation.config import CAMERA_DEFAULTS, CameraSimulation
from datapipe_ops.simulation.electronics import (
    PulseTemplate,
    add_pulse,
    coefficients_for,
    draw_camera_truth,
    noise_streams,
)
from datapipe_ops.simulation.waveforms import synthesize_waveforms

CAMERA = load_camera("LSTCam")
READOUT = CAMERA.readout
SETTINGS = CameraSimulation(**CAMERA_DEFAULTS["LSTCam"])
PULSE = PulseTemplate.from_reference(
    READOUT.reference_pulse_shape, READOUT.reference_pulse_sample_width_ns
)
N_PIX = CAMERA.n_pixels


@pytest.fixture(scope="module")
def streams():
    return noise_streams(np.random.SeedSequence(5), READOUT.sample_width_ns, 0.25, SETTINGS, PULSE)


def _synthesize(images, times, truth, streams, seed=3, settings=SETTINGS):
    return synthesize_waveforms(
        np.asarray(images, np.int32),
        np.asarray(times, np.float32),
        truth.pedestal_adc,
        truth.gain_adc_per_pe,
        truth.time_offset_ns,
        truth.dead,
        streams[0],
        streams[1],
        PULSE.cdf,
        PULSE.start_ns,
        PULSE.step_ns,
        READOUT.sample_width_ns,
        READOUT.n_samples,
        settings.window_offset_ns,
        settings.spe_resolution,
        settings.adc_max,
        seed,
    )


def test_camera_truth_depends_on_camera_seed_and_tel_id_only():
    a = draw_camera_truth(1, 3, N_PIX, SETTINGS)
    b = draw_camera_truth(1, 3, N_PIX, SETTINGS)
    c = draw_camera_truth(1, 4, N_PIX, SETTINGS)
    d = draw_camera_truth(2, 3, N_PIX, SETTINGS)
    np.testing.assert_array_equal(a.gain_adc_per_pe, b.gain_adc_per_pe)
    np.testing.assert_array_equal(a.time_offset_ns, b.time_offset_ns)
    assert not np.array_equal(a.gain_adc_per_pe, c.gain_adc_per_pe)
    assert not np.array_equal(a.pedestal_adc, d.pedestal_adc)
    assert np.mean(a.gain_adc_per_pe) == pytest.approx(SETTINGS.gain_adc_per_pe, rel=0.01)
    assert np.std(a.time_offset_ns) == pytest.approx(SETTINGS.time_offset_spread_ns, rel=0.1)


def test_a_pulse_puts_its_whole_charge_around_its_peak():
    trace = np.zeros(READOUT.n_samples)
    add_pulse(trace, 12.3, 100.0, READOUT.sample_width_ns, PULSE.cdf, PULSE.start_ns, PULSE.step_ns)
    assert trace.sum() == pytest.approx(100.0, rel=1e-9)
    assert int(np.argmax(trace)) == 12


def test_nsb_stream_is_ac_coupled_with_poisson_variance(streams):
    nsb, electronic = streams
    assert abs(nsb.mean()) < 1e-6
    window = 400
    sums = nsb[: (nsb.size // window) * window].reshape(-1, window).sum(axis=1)
    expected = 0.25 * window * READOUT.sample_width_ns * (1 + SETTINGS.spe_resolution**2)
    assert sums.var() == pytest.approx(expected, rel=0.1)
    assert electronic.std() == pytest.approx(SETTINGS.electronic_noise_adc, rel=0.01)


def test_coefficients_undo_pedestal_gain_and_time_offsets(streams):
    truth = draw_camera_truth(1, 1, N_PIX, SETTINGS)
    n_events, true_pe = 20, 80
    images = np.full((n_events, N_PIX), true_pe)
    waveforms = _synthesize(images, np.zeros((n_events, N_PIX)), truth, streams)
    coefficients = coefficients_for(truth, SETTINGS)
    # ctapipe 0.32's CameraCalibrator: per-sample pedestal, window sum with the integration
    # correction, times factor; peak time minus time_shift
    signal = waveforms - coefficients["pedestal_offset"][0][None, :, None]
    width, shift = 7, 3
    correction = integration_correction(
        READOUT.reference_pulse_shape,
        READOUT.reference_pulse_sample_width_ns,
        READOUT.sample_width_ns,
        width,
        shift,
    )[0]
    peak = signal.argmax(axis=-1)
    start = np.clip(peak - shift, 0, READOUT.n_samples - width)
    window = np.take_along_axis(signal, start[..., None] + np.arange(width), axis=-1)
    charge = window.sum(-1) * correction * coefficients["factor"][0]
    good = ~coefficients["outlier_mask"][0]
    ratio = charge[:, good] / true_pe
    assert np.median(ratio) == pytest.approx(1.0, abs=0.02)
    samples = start[..., None] + np.arange(width)
    peak_time = (window * samples).sum(-1) / window.sum(-1) * READOUT.sample_width_ns
    corrected = peak_time - coefficients["time_shift_ns"][0]
    raw_spread = peak_time[:, good].std(axis=1).mean()
    corrected_spread = corrected[:, good].std(axis=1).mean()
    assert raw_spread > 0.8 * SETTINGS.time_offset_spread_ns
    assert corrected_spread < 0.5 * raw_spread


def test_dead_pixels_and_pixels_without_light_show_only_noise(streams):
    settings = SETTINGS.model_copy(update={"dead_pixel_fraction": 0.05})
    truth = draw_camera_truth(1, 2, N_PIX, settings)
    assert truth.dead.sum() > 30
    images = np.zeros((5, N_PIX), np.int32)
    images[:, truth.dead] = 200
    waveforms = _synthesize(images, np.zeros((5, N_PIX)), truth, streams)
    signal = waveforms - truth.pedestal_adc[None, :, None]
    assert np.abs(signal[:, truth.dead].mean()) < 1.0
    assert signal[:, truth.dead].max() < 10 * SETTINGS.electronic_noise_adc
    assert np.abs(signal[:, ~truth.dead].mean()) < 1.0


def test_the_adc_saturates_and_stays_uint16(streams):
    truth = draw_camera_truth(1, 1, N_PIX, SETTINGS)
    images = np.zeros((2, N_PIX), np.int32)
    images[:, :10] = 100_000
    waveforms = _synthesize(images, np.zeros((2, N_PIX)), truth, streams)
    assert waveforms.dtype == np.uint16
    assert waveforms[:, :10].max() == SETTINGS.adc_max
    assert waveforms[:, 10:].max() < SETTINGS.adc_max


@pytest.mark.requirement("DPPS-DP-R-007")
def test_waveforms_are_reproducible_and_seed_dependent(streams):
    truth = draw_camera_truth(1, 1, N_PIX, SETTINGS)
    images = np.random.default_rng(1).poisson(3.0, (3, N_PIX))
    times = np.zeros((3, N_PIX))
    first = _synthesize(images, times, truth, streams, seed=8)
    np.testing.assert_array_equal(first, _synthesize(images, times, truth, streams, seed=8))
    assert not np.array_equal(first, _synthesize(images, times, truth, streams, seed=9))
