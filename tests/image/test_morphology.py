"""Island labelling and size classes against ctapipe 0.32."""

from __future__ import annotations

import numpy as np
import pytest

from datapipe_ops.image.morphology import island_counts, island_size_classes, label_islands


def random_masks(n_pixels: int, n_events: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    density = rng.uniform(0.001, 0.2, (n_events, 1))
    return rng.random((n_events, n_pixels)) < density


@pytest.mark.requirement("DPPS-DP-R-043")
def test_labels_identical_to_ctapipe(camera_of):
    from ctapipe.image.morphology import number_of_island_sizes, number_of_islands

    from testkit.ctapipe_reference import ctapipe_geometry

    camera, geometry = camera_of("LSTCam")
    masks = random_masks(geometry.n_pixels, 50, seed=1)
    masks[0] = False  # an empty mask
    masks[1] = True  # one island of the whole camera
    n_islands, labels = label_islands(masks, geometry.neighbor_offsets, geometry.neighbor_indices)
    reference = ctapipe_geometry(camera.geometry)
    sizes = np.empty(geometry.n_pixels + 1, np.int32)
    for mask, n, label in zip(masks, n_islands, labels, strict=True):
        expected_n, expected_labels = number_of_islands(reference, mask)
        assert n == expected_n
        assert np.array_equal(label, expected_labels)
        assert island_size_classes(label, n, sizes) == number_of_island_sizes(expected_labels)
    assert n_islands[0] == 0 and n_islands[1] == 1
    assert n_islands.max() > 10


def test_size_classes_boundaries():
    labels = np.repeat(np.arange(1, 6, dtype=np.int32), [1, 2, 3, 50, 51])
    sizes = np.empty(labels.size + 1, np.int32)
    assert island_size_classes(labels, 5, sizes) == (2, 2, 1)


def test_island_counts_on_the_surviving_pixels_match_the_labelling(camera_of):
    _, geometry = camera_of("NectarCam")
    offsets, indices = geometry.neighbor_offsets, geometry.neighbor_indices
    masks = random_masks(geometry.n_pixels, 60, seed=3)
    masks[0] = False
    masks[1] = True
    n_islands, labels = label_islands(masks, offsets, indices)
    seen = np.zeros(geometry.n_pixels, np.bool_)
    stack = np.empty(geometry.n_pixels, np.int32)
    sizes = np.empty(geometry.n_pixels + 1, np.int32)
    counts = np.empty(3, np.int32)
    for mask, n, label in zip(masks, n_islands, labels, strict=True):
        pixels = np.flatnonzero(mask)
        assert island_counts(pixels, mask, offsets, indices, seen, stack, counts) == n
        assert tuple(counts) == island_size_classes(label, n, sizes)
        assert not seen.any()
