"""The per-event combination kernels on events with a known answer."""

from __future__ import annotations

import numpy as np
import pytest

from datapipe_ops.reco.models.combine import stereo_disp, weighted_mean

pytestmark = pytest.mark.requirement("DPPS-DP-R-070")


def test_weighted_mean_matches_numpy():
    rng = np.random.default_rng(3)
    event_index = rng.integers(0, 50, 400)
    values = rng.normal(size=400)
    values[::13] = np.nan
    weights = rng.uniform(0.1, 2.0, 400)
    mean, std, count = weighted_mean(event_index, values, weights, 52)
    for i in range(52):
        rows = (event_index == i) & np.isfinite(values)
        assert count[i] == rows.sum()
        if rows.any():
            expected = np.average(values[rows], weights=weights[rows])
            spread = np.sqrt(np.average((values[rows] - expected) ** 2, weights=weights[rows]))
            assert np.isclose(mean[i], expected) and np.isclose(std[i], spread)
        else:
            assert np.isnan(mean[i]) and np.isnan(std[i])


def _images(source, cogs):
    """Axis angles and |disp| of images whose axes point exactly at ``source``."""
    d = source[np.newaxis, :] - cogs
    psi = np.rad2deg(np.arctan2(d[:, 1], d[:, 0]))
    # put psi in (-90, 90] as the Hillas parameters do: the source is then on either side
    flip = psi <= -90
    psi = np.where(flip, psi + 180, np.where(psi > 90, psi - 180, psi))
    sign = np.where(
        np.cos(np.deg2rad(psi)) * d[:, 0] + np.sin(np.deg2rad(psi)) * d[:, 1] > 0, 1, -1
    )
    return psi, np.hypot(d[:, 0], d[:, 1]), sign


@pytest.mark.requirement("DPPS-DP-R-062")
def test_head_tail_choice_recovers_the_source_against_a_wrong_classifier():
    source = np.array([0.7, -0.4])
    cogs = np.array([[1.5, 0.2], [-0.3, -1.1], [0.9, -1.6]])
    psi, disp, sign = _images(source, cogs)
    p_plus = np.where(sign > 0, 0.8, 0.2)
    p_plus[0] = 1 - p_plus[0]  # one classifier is confidently wrong-ish
    n = len(cogs)
    result = stereo_disp(
        np.zeros(n, np.int64),
        1,
        cogs[:, 0],
        cogs[:, 1],
        psi,
        disp,
        p_plus,
        np.full(n, 0.05),
        np.array([np.nan]),
        np.array([np.nan]),
        np.array([np.nan]),
    )
    assert np.isclose(result["lon"][0], source[0]) and np.isclose(result["lat"][0], source[1])
    assert result["spread"][0] < 1e-9 and result["n_telescopes"][0] == 3


def test_single_telescope_follows_its_classifier_and_intersection_pulls():
    source = np.array([0.3, 0.2])
    cogs = np.array([[1.0, 1.0]])
    psi, disp, sign = _images(source, cogs)
    p_plus = np.where(sign > 0, 0.9, 0.1)
    one = np.zeros(1, np.int64)
    nan = np.array([np.nan])
    alone = stereo_disp(
        one, 1, cogs[:, 0], cogs[:, 1], psi, disp, p_plus, np.array([0.1]), nan, nan, nan
    )
    assert np.allclose([alone["lon"][0], alone["lat"][0]], source)
    assert np.isclose(alone["uncert"][0], 0.1)
    # an intersection point of equal weight 0.2 deg away moves the result halfway
    pulled = stereo_disp(
        one,
        1,
        cogs[:, 0],
        cogs[:, 1],
        psi,
        disp,
        p_plus,
        np.array([0.1]),
        np.array([0.5]),
        np.array([0.2]),
        np.array([0.1]),
    )
    assert np.allclose([pulled["lon"][0], pulled["lat"][0]], [0.4, 0.2])


def test_events_without_disp_are_invalid():
    result = stereo_disp(
        np.array([1, 1]),
        3,
        np.zeros(2),
        np.zeros(2),
        np.zeros(2),
        np.array([np.nan, 0.5]),
        np.array([0.5, np.nan]),
        np.ones(2),
        np.full(3, np.nan),
        np.full(3, np.nan),
        np.full(3, np.nan),
    )
    assert (result["n_telescopes"] == 0).all() and np.isnan(result["lon"]).all()
