"""Camera electronics: the per-pixel truth of a camera, the pulse template, the noise streams.

*Camera truth* (:func:`draw_camera_truth`): per pixel a pedestal [ADC per sample], a gain [sum of
samples in ADC per p.e.], a time offset [ns] and a dead flag, drawn from a generator seeded by
``(camera_seed, tel_id)`` only — every file of every production made with the same
``camera_seed`` sees the same camera, as data from a real camera would. These are what CalibPipe
would measure; :func:`coefficients_for` turns them into the CalibPipe coefficients that undo
them (``pedestal_offset`` = pedestal per sample, ``factor`` = 1 / gain, ``time_shift`` = offset).

*Pulse* (:class:`PulseTemplate`): the camera's reference pulse (unit integral in ns) as a
cumulative integral, so a sample ``[t_j, t_j + Δt)`` receives exactly the charge
``q · (C(t_j + Δt - t₀) - C(t_j - t₀))`` of a pulse peaking at ``t₀`` and the samples of a whole
pulse sum to ``q``.

*Noise streams* (:func:`noise_streams`): a long trace of night-sky-background photons (Poisson in
time at the pixel rate, single-p.e. amplitude spread, shaped by the pulse, AC coupled i.e. mean
subtracted) in p.e. units, and a trace of Gaussian electronic noise in ADC. Each pixel of each
event reads both at random offsets, so the waveform kernel never draws a random number per
sample: it is memory bound, which is what makes full waveforms affordable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from datapipe_ops.simulation.config import CameraSimulation

#: Length of the noise streams in samples (4 MiB of float32 each).
NOISE_STREAM_LENGTH = 1 << 20


@dataclass(frozen=True)
class CameraTruth:
    """The true per-pixel electronics of one telescope's camera."""

    tel_id: int
    pedestal_adc: np.ndarray
    gain_adc_per_pe: np.ndarray
    time_offset_ns: np.ndarray
    dead: np.ndarray


def camera_seed_sequence(camera_seed: int, tel_id: int) -> np.random.SeedSequence:
    """The seed sequence of one telescope's camera: depends on (camera_seed, tel_id) only."""
    return np.random.SeedSequence(entropy=int(camera_seed), spawn_key=(0xCA3E7A, int(tel_id)))


def draw_camera_truth(
    camera_seed: int, tel_id: int, n_pixels: int, settings: CameraSimulation
) -> CameraTruth:
    """Draw the per-pixel pedestals, gains, time offsets and dead pixels of one camera."""
    rng = np.random.default_rng(camera_seed_sequence(camera_seed, tel_id))
    pedestal = settings.pedestal_adc + settings.pedestal_spread_adc * rng.standard_normal(n_pixels)
    relative = np.clip(1.0 + settings.gain_spread * rng.standard_normal(n_pixels), 0.5, 1.5)
    offset = settings.time_offset_spread_ns * rng.standard_normal(n_pixels)
    dead = rng.random(n_pixels) < settings.dead_pixel_fraction
    return CameraTruth(
        tel_id=int(tel_id),
        pedestal_adc=np.maximum(pedestal, 1.0),
        gain_adc_per_pe=settings.gain_adc_per_pe * relative,
        time_offset_ns=offset,
        dead=dead,
    )


def coefficients_for(truth: CameraTruth, settings: CameraSimulation) -> dict[str, np.ndarray]:
    """The CalibPipe coefficients (n_channels = 1, n_pixels) that undo a camera's truth."""
    factor = np.where(truth.dead, 1.0 / settings.gain_adc_per_pe, 1.0 / truth.gain_adc_per_pe)
    return {
        "factor": factor[np.newaxis].astype(np.float32),
        "pedestal_offset": truth.pedestal_adc[np.newaxis].astype(np.float32),
        "time_shift_ns": truth.time_offset_ns[np.newaxis].astype(np.float32),
        "outlier_mask": truth.dead[np.newaxis].copy(),
    }


@dataclass(frozen=True)
class PulseTemplate:
    """Cumulative reference pulse: ``cdf[i]`` = integral up to ``start + i · step`` [ns]."""

    cdf: np.ndarray
    start_ns: float
    step_ns: float

    @classmethod
    def from_reference(cls, pulse: np.ndarray, sample_width_ns: float) -> PulseTemplate:
        """From a reference pulse sampled every ``sample_width_ns``; t = 0 at its peak."""
        pulse = np.asarray(pulse, dtype=np.float64)
        if pulse.ndim == 2:
            pulse = pulse[0]
        integral = np.concatenate([[0.0], np.cumsum(pulse) * sample_width_ns])
        integral /= integral[-1]
        peak = float(np.argmax(pulse)) * sample_width_ns
        return cls(cdf=integral, start_ns=-peak - 0.5 * sample_width_ns, step_ns=sample_width_ns)

    @property
    def length_ns(self) -> float:
        """Time span of the template [ns]."""
        return (self.cdf.size - 1) * self.step_ns


@njit(cache=True)
def _cdf_at(t: float, cdf: np.ndarray, start: float, step: float) -> float:
    x = (t - start) / step
    if x <= 0.0:
        return 0.0
    i = int(x)
    if i >= cdf.size - 1:
        return 1.0
    frac = x - i
    return cdf[i] * (1.0 - frac) + cdf[i + 1] * frac


@njit(cache=True)
def add_pulse(
    trace: np.ndarray,
    t_peak: float,
    charge: float,
    sample_ns: float,
    cdf: np.ndarray,
    start: float,
    step: float,
) -> None:
    """Add ``charge`` (in trace units) as a pulse peaking at ``t_peak`` [ns] to ``trace``."""
    n = trace.size
    first = int(np.floor((t_peak + start) / sample_ns))
    last = int(np.ceil((t_peak + start + (cdf.size - 1) * step) / sample_ns))
    first = max(first, 0)
    last = min(last, n - 1)
    if last < first:
        return
    below = _cdf_at(first * sample_ns - t_peak, cdf, start, step)
    for j in range(first, last + 1):
        above = _cdf_at((j + 1) * sample_ns - t_peak, cdf, start, step)
        trace[j] += charge * (above - below)
        below = above


@njit(cache=True)
def _nsb_trace(
    n: int,
    sample_ns: float,
    rate_ghz: float,
    spe_resolution: float,
    cdf: np.ndarray,
    start: float,
    step: float,
    seed: int,
) -> np.ndarray:
    np.random.seed(seed)
    trace = np.zeros(n)
    if rate_ghz <= 0.0:
        return trace
    t = -(cdf.size - 1) * step
    end = n * sample_ns
    mean_gap = 1.0 / rate_ghz
    while True:
        t += np.random.exponential(mean_gap)
        if t >= end:
            break
        amplitude = 1.0 + spe_resolution * np.random.standard_normal()
        if amplitude > 0.0:
            add_pulse(trace, t, amplitude, sample_ns, cdf, start, step)
    return trace


def noise_streams(
    seed: np.random.SeedSequence,
    sample_ns: float,
    nsb_rate_ghz: float,
    settings: CameraSimulation,
    pulse: PulseTemplate,
    length: int = NOISE_STREAM_LENGTH,
) -> tuple[np.ndarray, np.ndarray]:
    """NSB stream [p.e. per sample, mean 0] and electronic-noise stream [ADC] (float32)."""
    rng = np.random.default_rng(seed)
    nsb_seed = int(rng.integers(0, 2**31 - 1))
    nsb = _nsb_trace(
        length,
        sample_ns,
        nsb_rate_ghz,
        settings.spe_resolution,
        pulse.cdf,
        pulse.start_ns,
        pulse.step_ns,
        nsb_seed,
    )
    nsb -= nsb.mean()
    electronic = settings.electronic_noise_adc * rng.standard_normal(length)
    return nsb.astype(np.float32), electronic.astype(np.float32)
