"""Physical spectra: integrals, rates and energy draws."""

from __future__ import annotations

import numpy as np
import pytest
from astropy import units as u

from datapipe_ops.errors import ConfigError
from datapipe_ops.simulation.spectra import TabulatedSpectrum, named_spectrum, power_law


def test_crab_integral_and_rate_match_the_analytic_power_law():
    table = TabulatedSpectrum.from_spectrum(named_spectrum("CRAB_HEGRA"), 0.1, 10.0)
    gamma = -2.62 + 1.0
    analytic = 2.83e-11 / gamma * (10.0**gamma - 0.1**gamma)  # cm^-2 s^-1
    assert table.integral == pytest.approx(analytic, rel=1e-4)
    assert not table.diffuse
    assert table.rate_hz(100.0) == pytest.approx(analytic * np.pi * 1e8, rel=1e-4)


def test_energies_follow_the_spectrum():
    table = TabulatedSpectrum.from_spectrum(power_law(1e-11, -2.62), 0.05, 50.0)
    energy = table.sample(np.random.default_rng(1), 200_000)
    assert energy.min() >= 0.05 and energy.max() <= 50.0
    edges = np.geomspace(0.05, 5.0, 11)
    counts, _ = np.histogram(energy, edges)
    centres = np.sqrt(edges[1:] * edges[:-1])
    slope = np.polyfit(np.log(centres), np.log(counts / np.diff(edges)), 1)[0]
    assert slope == pytest.approx(-2.62, abs=0.03)


def test_diffuse_rates_scale_with_the_view_cone():
    table = TabulatedSpectrum.from_spectrum(named_spectrum("IRFDOC_PROTON_SPECTRUM"), 0.1, 100)
    assert table.diffuse
    ratio = table.rate_hz(500.0, 4.0) / table.rate_hz(500.0, 2.0)
    assert ratio == pytest.approx((1 - np.cos(np.deg2rad(4))) / (1 - np.cos(np.deg2rad(2))))
    electron = named_spectrum("IRFDOC_ELECTRON_SPECTRUM")(1 * u.TeV)
    proton = named_spectrum("IRFDOC_PROTON_SPECTRUM")(1 * u.TeV)
    assert 1e-4 < (electron / proton).to_value(u.one) < 1e-2


def test_unknown_spectrum_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown spectrum 'CRAB_WHIPPLE'"):
        named_spectrum("CRAB_WHIPPLE", "obs.yaml")
