"""Shower sampling: spectra, view cones, cores, frames and shower maxima."""

from __future__ import annotations

import numpy as np
import pytest

from datapipe_ops.instrument import frames
from datapipe_ops.simulation.config import Atmosphere, ShowerPhysics
from datapipe_ops.simulation.images import directions_to_frame
from datapipe_ops.simulation.showers import (
    altaz_to_vector,
    emission_lines,
    emitters,
    offset_directions,
    pointing_basis,
    reference_pool_scale,
    sample_cone,
    sample_power_law,
    sample_showers,
    vector_to_altaz,
)

PHYSICS = ShowerPhysics()
ATMOSPHERE = Atmosphere()


@pytest.mark.parametrize("index", [-2.0, -2.7, -1.0])
def test_power_law_slope_and_range(index):
    rng = np.random.default_rng(1)
    energy = sample_power_law(rng, 200_000, 0.03, 100.0, index)
    assert energy.min() >= 0.03 and energy.max() <= 100.0
    edges = np.geomspace(0.03, 100.0, 15)
    counts, _ = np.histogram(energy, edges)
    density = counts / np.diff(edges)
    centres = np.sqrt(edges[1:] * edges[:-1])
    slope = np.polyfit(np.log(centres[:10]), np.log(density[:10]), 1)[0]
    assert slope == pytest.approx(index, abs=0.03)


def test_view_cone_is_uniform_in_solid_angle():
    rng = np.random.default_rng(2)
    offset, angle = sample_cone(rng, 100_000, np.deg2rad(1.0), np.deg2rad(5.0))
    assert np.rad2deg(offset).min() >= 1.0 and np.rad2deg(offset).max() <= 5.0
    # uniform in cos(offset): the mean of cos is the midpoint
    mid = 0.5 * (np.cos(np.deg2rad(1.0)) + np.cos(np.deg2rad(5.0)))
    assert np.mean(np.cos(offset)) == pytest.approx(mid, abs=2e-5)
    assert np.mean(angle) == pytest.approx(np.pi, rel=0.02)


@pytest.mark.parametrize(("alt", "az"), [(70.0, 0.0), (40.0, 123.0), (89.0, 270.0)])
def test_offsets_agree_with_the_instrument_frames(alt, az):
    basis = pointing_basis(np.deg2rad(alt), np.deg2rad(az))
    rng = np.random.default_rng(3)
    offset = np.deg2rad(rng.uniform(0, 4, 50))
    angle = rng.uniform(0, 2 * np.pi, 50)
    vectors = offset_directions(basis, offset, angle)
    d_alt, d_az = vector_to_altaz(vectors)
    lon, lat = frames.horizontal_to_telescope(np.rad2deg(d_alt), np.rad2deg(d_az), alt, az)
    # position angle from +fov_lat towards +fov_lon, offset = angular distance
    np.testing.assert_allclose(np.hypot(lon, lat), np.rad2deg(offset), atol=5e-3)
    expected_lon = np.rad2deg(np.arctan(np.tan(offset) * np.sin(angle)))
    np.testing.assert_allclose(lon, expected_lon, atol=1e-6)
    kernel_lon, kernel_lat = directions_to_frame(vectors, basis)
    np.testing.assert_allclose(np.rad2deg(kernel_lon), lon, atol=1e-9)
    np.testing.assert_allclose(np.rad2deg(kernel_lat), lat, atol=1e-9)


def test_altaz_vectors_round_trip():
    alt = np.deg2rad([10.0, 45.0, 89.0])
    az = np.deg2rad([0.0, 200.0, 359.0])
    back_alt, back_az = vector_to_altaz(altaz_to_vector(alt, az))
    np.testing.assert_allclose(back_alt, alt)
    np.testing.assert_allclose(back_az, az)
    # ctapipe's ground frame: x north, y west -> az 90 deg (east) is -y
    np.testing.assert_allclose(altaz_to_vector(0.0, np.pi / 2), [0.0, -1.0, 0.0], atol=1e-15)


def test_cores_fill_the_disc_perpendicular_to_the_axis():
    basis = pointing_basis(np.deg2rad(50.0), 0.3)
    rng = np.random.default_rng(4)
    showers = sample_showers(rng, 50_000, "gamma", (0.1, 10, -2), 400.0, basis, PHYSICS)
    # distance of the array centre from each axis is the sampled radius
    along = np.einsum("nc,nc->n", -showers.core, showers.direction)
    perp = -showers.core - along[:, None] * showers.direction
    np.testing.assert_allclose(np.linalg.norm(perp, axis=1), showers.core_distance_m, atol=1e-6)
    np.testing.assert_allclose(showers.core[:, 2], 0.0, atol=1e-9)
    # uniform in area: r^2 uniform
    assert np.mean((showers.core_distance_m / 400.0) ** 2) == pytest.approx(0.5, abs=0.01)


def test_x_max_grows_by_one_radiation_length_per_e_folding():
    rng = np.random.default_rng(5)
    basis = pointing_basis(np.pi / 2, 0.0)
    means = []
    for energy in (0.1, 1.0, 10.0):
        showers = sample_showers(
            rng, 20_000, "gamma", (energy, energy * 1.0001, -2), 10.0, basis, PHYSICS
        )
        means.append(showers.x_max.mean())
    elongation = np.diff(means) / np.log(10.0)
    np.testing.assert_allclose(elongation, PHYSICS.radiation_length_g_cm2, rtol=0.05)
    # Heitler/Greisen: X0 (ln(E/Ec) - 0.5) at 1 TeV ~ 325 g/cm2
    x0, e_c = PHYSICS.radiation_length_g_cm2, PHYSICS.critical_energy_mev
    assert means[1] == pytest.approx(x0 * (np.log(1e6 / e_c) - 0.5), rel=0.03)
    assert 300 < means[1] < 340


def test_light_pool_radius_is_the_literature_value_for_the_reference_shower():
    basis = pointing_basis(np.pi / 2, 0.0)
    rng = np.random.default_rng(6)
    showers = sample_showers(rng, 5000, "gamma", (1.0, 1.0001, -2), 10.0, basis, PHYSICS)
    lines = emission_lines(rng, showers, PHYSICS, ATMOSPHERE, 2000.0)
    emit = emitters(lines, PHYSICS, ATMOSPHERE, 2000.0)
    assert np.median(emit.pool_radius) == pytest.approx(120.0, rel=0.05)
    assert np.median(emit.plateau_density) == pytest.approx(100.0, rel=0.1)
    # farther (inclined) showers: wider, dimmer pools
    inclined = sample_showers(
        rng, 5000, "gamma", (1.0, 1.0001, -2), 10.0, pointing_basis(np.deg2rad(30.0), 0.0), PHYSICS
    )
    emit60 = emitters(
        emission_lines(rng, inclined, PHYSICS, ATMOSPHERE, 2000.0), PHYSICS, ATMOSPHERE, 2000.0
    )
    assert np.median(emit60.pool_radius) > 1.6 * np.median(emit.pool_radius)
    assert np.median(emit60.plateau_density) < 0.4 * np.median(emit.plateau_density)
    assert reference_pool_scale(PHYSICS, ATMOSPHERE) > 0


def test_protons_are_several_tilted_sub_showers_with_less_light():
    rng = np.random.default_rng(7)
    basis = pointing_basis(np.pi / 2, 0.0)
    showers = sample_showers(rng, 2000, "proton", (1.0, 1.0001, -2), 10.0, basis, PHYSICS)
    lines = emission_lines(rng, showers, PHYSICS, ATMOSPHERE, 2000.0)
    per_shower = np.diff(lines.offsets)
    assert per_shower.min() >= 1 and per_shower.mean() > 2.0
    owner = np.repeat(np.arange(len(showers)), per_shower)
    np.testing.assert_allclose(np.bincount(owner, lines.energy_tev), showers.energy_tev, rtol=1e-12)
    tilt = np.arccos(
        np.clip(np.einsum("lc,lc->l", lines.direction, showers.direction[owner]), -1, 1)
    )
    assert np.rad2deg(np.median(tilt)) > 0.05
    assert np.all(lines.light_fraction == PHYSICS.hadron_light_fraction)
