"""Waveform synthesis: true p.e. images → uint16 ADC samples, one telescope at a time (numba).

Per pixel and event::

    w_j = P_i + G_i · (nsb_j + q · ΔC_j(t₀)) + e_j,   then rounded and clipped to [0, ADC_max]

with ``P_i`` the pixel's pedestal [ADC per sample], ``G_i`` its gain [ADC sum per p.e.],
``nsb_j`` the AC-coupled night-sky background and ``e_j`` the electronic noise (both read from
the noise streams at a random offset), ``q`` the pixel's charge — its true p.e. count smeared
by the single-p.e. resolution, ``q ~ N(n, σ_spe² n)`` — and ``ΔC_j(t₀)`` the fraction of the
reference pulse falling in sample ``j`` for a pulse peaking at
``t₀ = t_window + t_jitter + t_pixel + δ_i``: the window offset of the camera, a trigger jitter
uniform within one sample, the pixel's arrival time in the image and its time offset. Dead
pixels show the pedestal and electronic noise only.

An event reads one contiguous block of each noise stream from a random start (pixel ``i`` gets
samples ``start + i · n_samples …``): the pixels of an event never share noise, and the reads
are sequential, so the kernel runs at memory bandwidth instead of memory latency (random
per-pixel offsets made it four times slower).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from datapipe_ops.simulation.electronics import add_pulse


@njit(cache=True, inline="always")
def _adc(value: float, adc_max: int) -> np.uint16:
    """Digitise ``value`` (already offset by +0.5): floor, clip to [0, adc_max]."""
    if value <= 0.0:
        return np.uint16(0)
    if value >= adc_max:
        return np.uint16(adc_max)
    return np.uint16(value)


@njit(cache=True)
def synthesize_waveforms(
    images: np.ndarray,
    times: np.ndarray,
    pedestal: np.ndarray,
    gain: np.ndarray,
    time_offset: np.ndarray,
    dead: np.ndarray,
    nsb_stream: np.ndarray,
    noise_stream: np.ndarray,
    cdf: np.ndarray,
    cdf_start: float,
    cdf_step: float,
    sample_ns: float,
    n_samples: int,
    window_offset_ns: float,
    spe_resolution: float,
    adc_max: int,
    seed: int,
) -> np.ndarray:
    """Waveforms (n_events, n_pixels, n_samples) uint16 of one telescope's triggered events."""
    np.random.seed(seed)
    n_events, n_pix = images.shape
    out = np.empty((n_events, n_pix, n_samples), dtype=np.uint16)
    trace = np.empty(n_samples)
    block = n_pix * n_samples
    span_nsb = nsb_stream.size - block
    span_noise = noise_stream.size - block
    for event in range(n_events):
        jitter = np.random.random() * sample_ns
        # each event reads one contiguous block of each stream from a random start: pixels of
        # an event get disjoint noise segments and the reads stay sequential (cache friendly)
        o_nsb = np.random.randint(0, span_nsb)
        o_noise = np.random.randint(0, span_noise)
        for p in range(n_pix):
            g = gain[p]
            ped = pedestal[p] + 0.5  # + 0.5: floor() below rounds to nearest
            base_nsb = o_nsb + p * n_samples
            base_noise = o_noise + p * n_samples
            row = out[event, p]
            n = images[event, p]
            if dead[p]:
                for s in range(n_samples):
                    row[s] = _adc(ped + noise_stream[base_noise + s], adc_max)
            elif n <= 0:
                for s in range(n_samples):
                    value = ped + g * nsb_stream[base_nsb + s] + noise_stream[base_noise + s]
                    row[s] = _adc(value, adc_max)
            else:
                for s in range(n_samples):
                    trace[s] = ped + g * nsb_stream[base_nsb + s] + noise_stream[base_noise + s]
                charge = n + spe_resolution * math.sqrt(n) * np.random.standard_normal()
                if charge > 0.0:
                    t_peak = window_offset_ns + jitter + times[event, p] + time_offset[p]
                    add_pulse(trace, t_peak, g * charge, sample_ns, cdf, cdf_start, cdf_step)
                for s in range(n_samples):
                    row[s] = _adc(trace[s], adc_max)
    return out
