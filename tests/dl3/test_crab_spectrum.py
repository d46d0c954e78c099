"""The DL3 of a simulated observation gives back the injected source spectrum (gammapy fit).

The same analysis as ``benchmarks/dl3_crab_spectrum.py`` on a short, bright observation (the
session's ``dl3_chain``): wobble OFF regions, RAD_MAX from the IRFs, a power law fitted with
WStat, compared with the spectrum the simulation injected.
"""

from __future__ import annotations

import pytest

from testkit import dl3_chain as chain_kit
from testkit import spectrum


@pytest.mark.requirement("DPPS-DP-R-123")
def test_fitted_spectrum_matches_the_injected_one(dl3_chain, tmp_path):
    config = dl3_chain["observation"]
    truth = chain_kit.injected_power_law(config)
    fit = spectrum.fit_spectrum(
        dl3_chain["products"]["dl3"].parent,
        config.target.ra_deg,
        config.target.dec_deg,
        truth.reference_tev,
    )
    assert fit.significance_lima > 5 and fit.significance_wstat > 5
    assert fit.excess > 20 and fit.n_on > fit.alpha * fit.n_off
    d_index, d_amplitude = fit.sigma_from(truth.index, truth.amplitude_per_tev_cm2_s)
    assert d_index < 3, (fit.index, fit.index_error, truth.index)
    assert d_amplitude < 3, (fit.amplitude, fit.amplitude_error, truth.amplitude_per_tev_cm2_s)
    # the errors are statistical errors of a few dozen events, not a fit that floats freely
    assert fit.index_error < 0.6 and fit.amplitude_error < fit.amplitude
    plot = tmp_path / "spectrum.png"
    spectrum.plot_spectrum(
        fit, truth.index, truth.amplitude_per_tev_cm2_s, truth.reference_tev, plot, "test"
    )
    assert plot.stat().st_size > 10_000


def test_the_fit_does_not_hang_on_the_number_of_off_regions(dl3_chain):
    """1 to 4 wobble OFF regions: the background of 10 s after cuts is ~0, so some give no OFF
    event at all (WStat with n_off = 0) and some one; the fit converges with every one of them
    and the source, not the OFF estimate, sets the spectrum."""
    config = dl3_chain["observation"]
    fits = [
        spectrum.fit_spectrum(
            dl3_chain["products"]["dl3"].parent,
            config.target.ra_deg,
            config.target.dec_deg,
            n_off_regions=n,
        )
        for n in (1, 2, 3, 4)
    ]
    assert [f.alpha for f in fits] == pytest.approx([1, 1 / 2, 1 / 3, 1 / 4])
    indices = [f.index for f in fits]
    assert max(indices) - min(indices) < 0.2 * fits[0].index_error, indices
    assert all(f.significance_wstat > 5 for f in fits)


def test_injected_spectrum_is_read_from_the_configuration():
    crab = chain_kit.injected_power_law(chain_kit.observation_config())
    assert (crab.index, crab.amplitude_per_tev_cm2_s, crab.reference_tev) == pytest.approx(
        (2.62, 2.83e-11, 1.0)
    )
    bright = chain_kit.injected_power_law(chain_kit.bright_small_observation(brightness=4.0))
    assert bright.index == pytest.approx(2.62)
    assert bright.amplitude_per_tev_cm2_s == pytest.approx(4 * 2.83e-11)
