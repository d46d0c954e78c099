"""Reference pulse shapes."""

import numpy as np
import pytest

from datapipe_ops.instrument.pulse import lognormal_mu, measured_fwhm, reference_pulse


@pytest.mark.parametrize(
    ("shape", "fwhm", "skew"),
    [
        ("gaussian", 3.0, 0.0),
        ("lognormal", 2.8, 0.35),
        ("lognormal", 9.0, 0.3),
        ("lognormal", 4.0, 0.6),
    ],
)
@pytest.mark.parametrize("dt", [0.05, 0.1])
def test_unit_integral_and_fwhm(shape, fwhm, skew, dt):
    pulse = reference_pulse(shape, fwhm, dt, skew)
    assert pulse.sum() * dt == pytest.approx(1.0, rel=1e-12)
    assert np.all(pulse >= 0)
    assert abs(measured_fwhm(pulse, dt) - fwhm) < dt
    # the whole pulse is inside the window
    assert pulse[0] < 1e-3 * pulse.max() and pulse[-1] < 1e-3 * pulse.max()


def test_lognormal_is_skewed_towards_late_times():
    pulse = reference_pulse("lognormal", 3.0, 0.01, 0.4)
    t = np.arange(len(pulse)) * 0.01
    peak = t[np.argmax(pulse)]
    mean = (t * pulse).sum() * 0.01
    assert mean > peak + 0.1


def test_lognormal_mu_matches_a_numerical_fwhm():
    mu = lognormal_mu(3.0, 0.5)
    t = np.linspace(1e-4, 30, 300001)
    density = np.exp(-np.log(t) - 0.5 * ((np.log(t) - mu) / 0.5) ** 2)
    above = t[density >= density.max() / 2]
    assert above[-1] - above[0] == pytest.approx(3.0, abs=1e-3)


def test_bad_parameters():
    with pytest.raises(ValueError):
        reference_pulse("square", 3.0, 0.1)
    with pytest.raises(ValueError):
        reference_pulse("lognormal", 3.0, 0.1, skew=0.0)
    with pytest.raises(ValueError):
        reference_pulse("gaussian", -1.0, 0.1)
