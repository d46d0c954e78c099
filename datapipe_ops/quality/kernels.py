"""numba kernels of the quality metrics, each over a whole chunk of telescope events."""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True)
def pedestal_window_stats(
    waveforms: np.ndarray,
    n_samples: int,
    pixel_mean_sum: np.ndarray,
    pixel_std_sum: np.ndarray,
    event_pedestal: np.ndarray,
    event_noise: np.ndarray,
) -> None:
    """Pedestal and noise of a chunk of waveforms ``(n_events, n_pixels, n_samples_total)``
    from their first ``n_samples`` samples.

    Adds each pixel's window mean and standard deviation to ``pixel_mean_sum`` /
    ``pixel_std_sum`` (per pixel, summed over the events) and writes each event's camera median
    of the window means (``event_pedestal``) and of the standard deviations (``event_noise``).
    """
    n_events, n_pixels, _ = waveforms.shape
    means = np.empty(n_pixels)
    stds = np.empty(n_pixels)
    for event in range(n_events):
        for pixel in range(n_pixels):
            total = 0.0
            squares = 0.0
            for sample in range(n_samples):
                value = float(waveforms[event, pixel, sample])
                total += value
                squares += value * value
            mean = total / n_samples
            variance = (squares / n_samples - mean * mean) * n_samples / (n_samples - 1)
            std = math.sqrt(variance) if variance > 0 else 0.0
            means[pixel] = mean
            stds[pixel] = std
            pixel_mean_sum[pixel] += mean
            pixel_std_sum[pixel] += std
        event_pedestal[event] = np.median(means)
        event_noise[event] = np.median(stds)


@njit(cache=True)
def clipped_charge_moments(
    images: np.ndarray, clip: float, pixel_sum: np.ndarray, pixel_squares: np.ndarray
) -> None:
    """Add each pixel's charge, clipped to ``[-clip, clip]`` p.e., and its square over a chunk
    of DL1 images ``(n_events, n_pixels)`` to ``pixel_sum`` / ``pixel_squares``: the moments of a
    noise measure that shower light barely moves."""
    n_events, n_pixels = images.shape
    for event in range(n_events):
        for pixel in range(n_pixels):
            value = min(max(float(images[event, pixel]), -clip), clip)
            pixel_sum[pixel] += value
            pixel_squares[pixel] += value * value
