"""Hillas parameters of degenerate images: NaN and a validity flag, never an exception."""

from __future__ import annotations

import numpy as np
import pytest

from datapipe_ops.image import hillas as h
from datapipe_ops.image.parameters import image_parameters, parameters_table


def one_image(geometry, pixels, charges):
    image = np.zeros((1, geometry.n_pixels), np.float32)
    image[0, pixels] = charges
    mask = np.zeros_like(image, dtype=bool)
    mask[0, pixels] = True
    times = np.full_like(image, 20.0)
    times[0, pixels] = 20.0 + np.arange(len(pixels))
    return image, times, mask


def run(geometry, image, times, mask):
    return parameters_table(
        *image_parameters(image, times, mask, geometry, np.random.default_rng(0))
    )


def a_line(geometry, n):
    """n pixels on a straight line through the camera centre (same fov_lat)."""
    row = np.flatnonzero(np.isclose(geometry.fov_lat, geometry.fov_lat[0]))
    return row[np.argsort(geometry.fov_lon[row])][:n]


@pytest.mark.parametrize("n_pixels", [0, 1])
def test_too_few_pixels_give_nan_and_invalid(camera_of, n_pixels):
    _, geometry = camera_of("LSTCam")
    image, times, mask = one_image(geometry, list(range(n_pixels)), 50.0)
    table = run(geometry, image, times, mask)
    assert not table["is_valid"][0]
    for name in (
        "hillas_intensity",
        "hillas_length",
        "timing_slope",
        "leakage_pixels_width_1",
        "concentration_cog",
        "intensity_mean",
    ):
        assert np.isnan(table[name][0])
    assert table["morphology_n_pixels"][0] == -1  # ctapipe's default for unparameterised images


def test_zero_or_negative_charge_is_invalid_not_an_error(camera_of):
    _, geometry = camera_of("LSTCam")
    for charges in ([5.0, -5.0, 0.0], [-1.0, 3.0, 4.0], [np.nan, 3.0, 4.0], [0.0, 0.0, 0.0]):
        image, times, mask = one_image(geometry, [0, 1, 2], charges)
        table = run(geometry, image, times, mask)
        assert not table["is_valid"][0]
        assert np.isnan(table["hillas_intensity"][0])


@pytest.mark.parametrize("n_pixels", [2, 4])
@pytest.mark.requirement("DPPS-DP-R-043")
def test_pixels_on_a_line_agree_with_ctapipe_and_are_flagged(camera_of, reference_of, n_pixels):
    camera, geometry = camera_of("LSTCam")
    pixels = a_line(geometry, n_pixels)
    image, times, mask = one_image(geometry, pixels, np.linspace(20, 40, n_pixels))
    table = run(geometry, image, times, mask)
    expected = reference_of(camera).parameterize(1, image, mask, times, np.random.default_rng(0))
    assert not table["is_valid"][0]
    assert table["hillas_width"][0].value == 0.0 == expected["hillas_width"][0]
    assert np.isnan(table["hillas_width_uncertainty"][0]) and np.isnan(
        expected["hillas_width_uncertainty"][0]
    )
    for name in ("hillas_length", "hillas_fov_lon", "hillas_skewness", "concentration_cog"):
        assert np.isclose(
            np.float64(
                table[name][0].value
                if hasattr(table[name], "unit") and table[name].unit
                else table[name][0]
            ),
            expected[name][0],
            rtol=1e-5,
        ), name
    assert (
        abs(table["hillas_psi"][0].value) < 1e-6
        or abs(abs(table["hillas_psi"][0].value) - 180) < 1e-6
    )
    timing_nan = n_pixels == 2  # two points: the trimmed fit keeps one, no line
    assert np.isnan(table["timing_slope"][0]) == timing_nan == np.isnan(expected["timing_slope"][0])


@pytest.mark.requirement("DPPS-DP-R-043")
def test_symmetric_image_psi_as_ctapipe(camera_of, reference_of):
    """A pixel and its six neighbours, equal charges: isotropic, psi is ctapipe's 90 deg."""
    camera, geometry = camera_of("LSTCam")
    centre = int(np.argmin(geometry.fov_lon**2 + geometry.fov_lat**2))
    flower = [centre, *camera.geometry.neighbors_of(centre)]
    image, times, mask = one_image(geometry, flower, 30.0)
    table = run(geometry, image, times, mask)
    expected = reference_of(camera).parameterize(1, image, mask, times, np.random.default_rng(0))
    assert table["is_valid"][0]
    assert np.isclose(table["hillas_length"][0].value, expected["hillas_length"][0], rtol=1e-5)
    assert np.isclose(table["hillas_width"][0].value, expected["hillas_width"][0], rtol=1e-5)


def test_major_axis_angle_branches():
    assert h.major_axis_angle(2.0, 1.0, 0.0) == 0.0
    assert h.major_axis_angle(1.0, 2.0, 0.0) == pytest.approx(np.pi / 2)
    assert h.major_axis_angle(1.0, 1.0, 0.0) == pytest.approx(np.pi / 2)
    assert h.major_axis_angle(1.0, 2.0, -0.0) == pytest.approx(np.pi / 2)  # never -90 deg
    assert h.major_axis_angle(1.0, 1.0, 0.5) == pytest.approx(np.pi / 4)
    assert h.major_axis_angle(1.0, 1.0, -0.5) == pytest.approx(-np.pi / 4)


@pytest.mark.requirement("DPPS-DP-R-043")
def test_moments_of_a_known_ellipse():
    """Four points at (±2, 0) and (0, ±1) with equal weights: length 2/sqrt(2), width 1/sqrt(2)."""
    x = np.array([2.0, -2.0, 0.0, 0.0])
    y = np.array([0.0, 0.0, 1.0, -1.0])
    out = np.empty(h.N_HILLAS)
    h.hillas_moments(x, y, np.ones(4), np.ones(4), out)
    assert out[h.INTENSITY] == 4.0
    assert out[h.COG_LON] == 0.0 and out[h.COG_LAT] == 0.0
    assert out[h.LENGTH] == pytest.approx(np.sqrt(2.0))
    assert out[h.WIDTH] == pytest.approx(np.sqrt(0.5))
    assert out[h.PSI] == pytest.approx(0.0)
    assert out[h.SKEWNESS] == pytest.approx(0.0)
    assert out[h.KURTOSIS] == pytest.approx((2 * 16 / 4) / 4.0)  # m4 / length^4
