"""The Cherenkov image model: amount ∝ energy, geometry, widths, timing, normalisation."""

from __future__ import annotations

import numpy as np
import pytest

from datapipe_ops.simulation.images import directions_to_frame, render_images
from datapipe_ops.simulation.pipeline import simulate_batch
from datapipe_ops.simulation.showers import sample_showers

from .conftest import small_config

MONO = small_config(trigger={"min_telescopes": 1})


def _simulate(
    array,
    basis,
    particle,
    n,
    seed,
    energy=(0.05, 20.0, -1.5),
    scatter=300.0,
    cone=(0.0, 0.0),
    offset=0.0,
    angle=0.0,
):
    rng = np.random.default_rng(seed)
    showers = sample_showers(
        rng,
        n,
        particle,
        energy,
        scatter,
        basis,
        MONO.physics,
        viewcone_deg=cone,
        offset_deg=offset,
        offset_angle_deg=angle,
    )
    return showers, simulate_batch(rng, showers, array, MONO, basis)


def _telescope_images(array, showers, events, tel_id):
    """(energy, impact, image, times, pixel lon, pixel lat, source lon, source lat) per event."""
    model = next(m for m in array.models if tel_id in m.tel_ids)
    tel = events.telescopes[tel_id]
    shower = events.shower_index[tel.event_row]
    return showers.energy_tev[shower], tel.impact_m, tel.true_image, tel.peak_time, model, shower


def hillas(image, lon, lat, threshold=5.0):
    """Size, centroid, length, width, orientation (rad) of the pixels above ``threshold``."""
    w = np.where(image >= threshold, image, 0.0).astype(float)
    size = w.sum()
    if size <= 0 or np.count_nonzero(w) < 4:
        return None
    cx, cy = (w * lon).sum() / size, (w * lat).sum() / size
    dx, dy = lon - cx, lat - cy
    cov = (
        np.array(
            [[(w * dx * dx).sum(), (w * dx * dy).sum()], [(w * dx * dy).sum(), (w * dy * dy).sum()]]
        )
        / size
    )
    values, vectors = np.linalg.eigh(cov)
    major = vectors[:, 1]
    return size, cx, cy, np.sqrt(values[1]), np.sqrt(max(values[0], 0.0)), major


@pytest.fixture(scope="module")
def point_gammas(array, basis):
    return _simulate(array, basis, "gamma", 3000, 11, offset=0.5, angle=1.0)


@pytest.fixture(scope="module")
def protons(array, basis):
    return _simulate(array, basis, "proton", 6000, 12, energy=(0.1, 30.0, -1.5), cone=(0.0, 2.0))


def test_image_amount_is_proportional_to_energy(array, point_gammas):
    showers, events = point_gammas
    energy, impact, images, _, _model, _ = _telescope_images(array, showers, events, 1)
    inside = impact < 100.0  # on the light-pool plateau
    size = images[inside].sum(axis=1)
    correlation = np.corrcoef(np.log(energy[inside]), np.log(size))[0, 1]
    assert correlation > 0.9
    # slope of log(size) vs log(E): 1 for the yield, + ~0.1 because deeper (higher-energy)
    # maxima are closer, their light pool smaller and denser
    slope = np.polyfit(np.log(energy[inside]), np.log(size), 1)[0]
    assert 0.95 < slope < 1.2
    # normalisation: ~100 photons/m²/TeV x 387 m² x 10 % at zenith 20 deg and 2147 m a.s.l.
    per_tev = np.median(size / energy[inside])
    assert 2500 < per_tev < 5000


def test_major_axis_points_at_the_source(array, basis, point_gammas):
    showers, events = point_gammas
    misses = []
    for tel_id in (1, 2, 3, 4):
        _, _, images, _, model, shower = _telescope_images(array, showers, events, tel_id)
        src_lon, src_lat = directions_to_frame(showers.direction[shower], basis)
        for k, image in enumerate(images):
            h = hillas(image, model.pix_lon, model.pix_lat)
            if h is None or h[0] < 100:
                continue
            _, cx, cy, _, _, major = h
            rel = np.array([src_lon[k] - cx, src_lat[k] - cy])
            misses.append(abs(rel[0] * major[1] - rel[1] * major[0]))
    assert len(misses) > 200
    assert np.rad2deg(np.median(misses)) < 0.1


def test_centroid_displacement_follows_impact_over_distance(array, basis, point_gammas):
    showers, events = point_gammas
    _, impact, images, _, model, shower = _telescope_images(array, showers, events, 1)
    src_lon, src_lat = directions_to_frame(showers.direction[shower], basis)
    ratio, impacts = [], []
    for k, image in enumerate(images):
        h = hillas(image, model.pix_lon, model.pix_lat)
        if h is None or h[0] < 100 or impact[k] < 40:
            continue
        ratio.append(np.hypot(h[1] - src_lon[k], h[2] - src_lat[k]) / impact[k])
        impacts.append(impact[k])
    # displacement / impact = 1 / distance to the shower maximum: 5-12 km at zenith 20 deg
    assert 1 / 12_000 < np.median(ratio) < 1 / 5_000


def test_protons_are_wider_than_photons_at_equal_amount(array, point_gammas, protons):
    def widths(sample):
        showers, events = sample
        out = []
        for tel_id in (1, 2, 3, 4):
            _, _, images, _, model, _ = _telescope_images(array, showers, events, tel_id)
            for image in images:
                h = hillas(image, model.pix_lon, model.pix_lat)
                if h is not None and 150 <= h[0] < 1500:
                    out.append(np.rad2deg(h[4]))
        return np.array(out)

    gamma, proton = widths(point_gammas), widths(protons)
    assert len(gamma) > 100 and len(proton) > 50
    assert np.median(proton) > 1.3 * np.median(gamma)


def test_time_gradient_grows_with_impact(array, point_gammas):
    showers, events = point_gammas
    _, impact, images, times, model, _ = _telescope_images(array, showers, events, 1)
    near, far = [], []
    for k, image in enumerate(images):
        h = hillas(image, model.pix_lon, model.pix_lat)
        if h is None or h[0] < 200:
            continue
        mask = image >= 5
        along = (model.pix_lon[mask] - h[1]) * h[5][0] + (model.pix_lat[mask] - h[2]) * h[5][1]
        gradient = abs(np.polyfit(np.rad2deg(along), times[k][mask], 1)[0])  # ns/deg
        (near if impact[k] < 60 else far if impact[k] > 150 else []).append(gradient)
    assert len(near) > 10 and len(far) > 10
    assert np.median(far) > 2 * np.median(near)
    assert 1.0 < np.median(far) < 30.0


def test_rendering_conserves_the_light_of_a_component(array):
    model = array.models[0]
    components = np.zeros((1, 1, 1, 9))
    # amount, lon, lat, sigma_long, sigma_lat, cos psi, sin psi, time, gradient
    components[0, 0, 0] = [1e6, 0.002, -0.004, 0.003, 0.001, 0.6, 0.8, 5.0, 0.0]
    images, times = render_images(
        np.zeros(1, np.int64),
        np.zeros(1, np.int64),
        np.array([0, 1]),
        components,
        model.pix_lon,
        model.pix_lat,
        model.solid_angle,
        model.grid,
        model.cell_offsets,
        model.cell_pixels,
        model.extra_sigma2,
        1,
    )
    assert images.sum() == pytest.approx(1e6, rel=0.02)
    lit = images[0] > 0
    np.testing.assert_allclose(times[0][lit], 0.0, atol=1e-4)
