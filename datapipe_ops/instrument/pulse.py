"""Analytic reference pulse shapes, sampled finely and normalised to unit integral.

Two shapes: ``gaussian`` and ``lognormal`` (a photomultiplier-like pulse with a fast rise and a
longer tail; its ``skew`` parameter is the σ of the underlying normal distribution). Both are
parametrised by their full width at half maximum, so a camera recipe states the FWHM it wants.
"""

from __future__ import annotations

import numpy as np

#: The pulse window ends where the density has fallen below this fraction of its maximum.
TAIL_FRACTION = 1e-4
_HALF_WIDTH = np.sqrt(2.0 * np.log(2.0))  # x at which exp(-x²/2) = 1/2


def lognormal_mu(fwhm_ns: float, skew: float) -> float:
    """The log-normal ``μ`` (log of the median time [ns]) giving the FWHM ``fwhm_ns``.

    As a function of ``u = ln t`` the density ``exp(-u - (u - μ)² / 2σ²)`` is a gaussian of
    width σ centred on ``μ - σ²``; its half-maximum points are ``u = μ - σ² ± σ√(2 ln 2)``, so
    ``FWHM = 2 exp(μ - σ²) sinh(σ √(2 ln 2))``.
    """
    return float(np.log(fwhm_ns / (2.0 * np.sinh(skew * _HALF_WIDTH))) + skew**2)


def reference_pulse(
    shape: str, fwhm_ns: float, sample_width_ns: float, skew: float = 0.0
) -> np.ndarray:
    """The pulse sampled every ``sample_width_ns`` from t = 0, with ``sum · dt = 1``.

    Parameters
    ----------
    shape
        ``"gaussian"`` or ``"lognormal"``.
    fwhm_ns
        Full width at half maximum [ns].
    sample_width_ns
        Sampling step [ns].
    skew
        σ of the log-normal (ignored for the gaussian).
    """
    if fwhm_ns <= 0 or sample_width_ns <= 0:
        raise ValueError("fwhm and sample width must be positive")
    cut = np.sqrt(-2.0 * np.log(TAIL_FRACTION))  # gaussian x where the tail fraction is reached
    if shape == "gaussian":
        sigma = fwhm_ns / (2.0 * _HALF_WIDTH)
        peak = cut * sigma
        t = np.arange(int(np.ceil(2 * peak / sample_width_ns)) + 1) * sample_width_ns
        values = np.exp(-0.5 * ((t - peak) / sigma) ** 2)
    elif shape == "lognormal":
        if skew <= 0:
            raise ValueError("a lognormal pulse needs a positive skew")
        mu = lognormal_mu(fwhm_ns, skew)
        end = np.exp(mu - skew**2 + cut * skew)
        t = np.arange(int(np.ceil(end / sample_width_ns)) + 1) * sample_width_ns
        values = np.zeros_like(t)
        positive = t > 0
        log_t = np.log(t[positive])
        values[positive] = np.exp(-log_t - 0.5 * ((log_t - mu) / skew) ** 2)
    else:
        raise ValueError(f"unknown pulse shape {shape!r}")
    return values / (values.sum() * sample_width_ns)


def measured_fwhm(pulse: np.ndarray, sample_width_ns: float) -> float:
    """FWHM [ns] of a sampled single-peaked pulse, by linear interpolation at half maximum."""
    half = pulse.max() / 2.0
    above = np.flatnonzero(pulse >= half)
    first, last = above[0], above[-1]

    def crossing(i_below: int, i_above: int) -> float:
        y0, y1 = pulse[i_below], pulse[i_above]
        return i_below + (half - y0) / (y1 - y0) * (i_above - i_below)

    rise = crossing(first - 1, first) if first > 0 else 0.0
    fall = crossing(last + 1, last) if last + 1 < len(pulse) else float(last)
    return (fall - rise) * sample_width_ns
