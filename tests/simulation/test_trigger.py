"""Telescope (next-neighbour) and array triggers."""

from __future__ import annotations

import numpy as np
import pytest

from datapipe_ops.instrument import load_camera
from datapipe_ops.simulation.pipeline import simulate_batch
from datapipe_ops.simulation.showers import sample_showers
from datapipe_ops.simulation.trigger import array_trigger, telescope_trigger

from .conftest import small_config

GEOMETRY = load_camera("LSTCam").geometry


def _trigger(images, multiplicity=3, threshold=6.0, nsb=0.0):
    return telescope_trigger(
        np.asarray(images, dtype=np.int32),
        nsb,
        threshold,
        multiplicity,
        GEOMETRY.neighbor_offsets,
        GEOMETRY.neighbor_indices,
        1,
    )


def test_three_neighbouring_pixels_trigger_three_scattered_ones_do_not():
    centre = 100
    neighbours = GEOMETRY.neighbors_of(centre)
    compact = np.zeros((1, GEOMETRY.n_pixels))
    compact[0, [centre, neighbours[0], neighbours[1]]] = 10
    far = [p for p in range(GEOMETRY.n_pixels) if p not in neighbours and p != centre]
    scattered = np.zeros((1, GEOMETRY.n_pixels))
    scattered[0, [centre, far[500], far[1000]]] = 10
    weak = compact.copy()
    weak[0, neighbours[1]] = 5
    result = _trigger(np.vstack([compact, scattered, weak]))
    assert result.tolist() == [True, False, False]
    assert _trigger(weak, multiplicity=2).tolist() == [True]
    assert _trigger(scattered, multiplicity=1).tolist() == [True]


def test_nsb_fluctuations_can_lift_a_pixel_over_threshold():
    centre = 200
    near = GEOMETRY.neighbors_of(centre)[:2]
    images = np.zeros((20000, GEOMETRY.n_pixels))
    images[:, [centre, *near]] = 5  # one p.e. short of the threshold
    quiet = _trigger(images, nsb=0.0)
    noisy = _trigger(images, nsb=1.0)
    assert not quiet.any()
    # AC-coupled NSB adds Poisson(1) - 1: each pixel needs Poisson(1) >= 2, all three of them
    expected = (1.0 - 2.0 * np.exp(-1.0)) ** 3
    assert noisy.mean() == pytest.approx(expected, rel=0.15)


def test_array_trigger_counts_telescopes():
    mask = np.array([[True, False, False], [True, True, False], [True, True, True]])
    assert array_trigger(mask, 2).tolist() == [False, True, True]
    assert array_trigger(mask, 3).tolist() == [False, False, True]


def test_trigger_efficiency_rises_with_energy(array, basis):
    config = small_config()
    rng = np.random.default_rng(21)
    showers = sample_showers(
        rng,
        6000,
        "gamma",
        (0.01, 10.0, -1.0),
        400.0,
        basis,
        config.physics,
        viewcone_deg=(0.0, 1.0),
    )
    events = simulate_batch(rng, showers, array, config, basis)
    kept = np.zeros(len(showers), bool)
    kept[events.shower_index] = True
    edges = np.geomspace(0.01, 10.0, 7)
    which = np.digitize(showers.energy_tev, edges) - 1
    efficiency = np.array([kept[which == i].mean() for i in range(6)])
    assert efficiency[0] < 0.05
    assert np.all(np.diff(efficiency) > 0)
    assert efficiency[-1] > 0.3
    # every kept event has at least two triggered telescopes, and only those have images
    assert np.all(events.tels_with_trigger.sum(axis=1) >= 2)
    for index, tel_id in enumerate(array.tel_ids):
        tel = events.telescopes[int(tel_id)]
        assert np.all(events.tels_with_trigger[tel.event_row, index])
        assert tel.true_image.shape[0] == np.count_nonzero(events.tels_with_trigger[:, index])
