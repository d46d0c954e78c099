"""Tail-cuts cleaning and its time constraint against ctapipe 0.32: identical masks."""

from __future__ import annotations

import numpy as np
import pytest

from datapipe_ops.calib.cleaning import clean_images
from testkit.ctapipe_reference import ctapipe_geometry


def toy_images(camera, n_events: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Noise (some negative) plus a bright blob per event, float32 like extracted images."""
    rng = np.random.default_rng(seed)
    geometry = camera.geometry
    x, y = geometry.pix_x, geometry.pix_y
    scale = np.abs(x).max()
    images = rng.normal(0.5, 2.5, (n_events, geometry.n_pixels))
    times = rng.normal(20.0, 4.0, (n_events, geometry.n_pixels))
    for e in range(n_events):
        cx, cy = rng.uniform(-0.6, 0.6, 2) * scale
        blob = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * (0.08 * scale) ** 2))
        images[e] += rng.uniform(20, 300) * blob
        times[e] = np.where(blob > 0.05, 15.0 + 30 * (x - cx) / scale, times[e])
    return images.astype(np.float32), times.astype(np.float32)


def reference_masks(geometry, images, **kwargs):
    from ctapipe.image import tailcuts_clean

    return np.array([tailcuts_clean(geometry, image, **kwargs) for image in images])


@pytest.mark.parametrize("camera_name", ["LSTCam", "CHEC"])
@pytest.mark.parametrize(
    "settings",
    [
        {"picture_thresh": 10.0, "boundary_thresh": 5.0, "min_number_picture_neighbors": 2},
        {"picture_thresh": 8.5, "boundary_thresh": 4.25, "min_number_picture_neighbors": 0},
        {"picture_thresh": 7.3, "boundary_thresh": 3.1, "min_number_picture_neighbors": 1},
        {"picture_thresh": 6.0, "boundary_thresh": 3.0, "keep_isolated_pixels": True},
        {"picture_thresh": 6.0, "boundary_thresh": 6.0, "min_number_picture_neighbors": 3},
    ],
)
@pytest.mark.requirement("DPPS-DP-R-042")
def test_tailcuts_masks_identical_to_ctapipe(camera_name, settings):
    from datapipe_ops.instrument import load_camera

    camera = load_camera(camera_name)
    images, _ = toy_images(camera, 40, seed=len(camera_name))
    geometry = camera.geometry
    masks = clean_images(
        images,
        geometry.neighbor_offsets,
        geometry.neighbor_indices,
        picture_threshold=settings["picture_thresh"],
        boundary_threshold=settings["boundary_thresh"],
        min_picture_neighbors=settings.get("min_number_picture_neighbors", 0),
        keep_isolated_pixels=settings.get("keep_isolated_pixels", False),
    )
    expected = reference_masks(ctapipe_geometry(geometry), images, **settings)
    assert np.array_equal(masks, expected)
    assert 0 < masks.sum() < masks.size  # the test images do get cleaned


@pytest.mark.requirement("DPPS-DP-R-042")
def test_threshold_compared_in_float32(lstcam):
    """A pixel at float32(7.1) passes a threshold of 7.1, as numpy compares float32 arrays."""
    geometry = lstcam.geometry
    image = np.zeros((1, geometry.n_pixels), np.float32)
    pixel = 500
    image[0, pixel] = np.float32(7.1)  # slightly below 7.1 in float64
    image[0, geometry.neighbors_of(pixel)] = np.float32(7.1)
    assert np.float64(np.float32(7.1)) < 7.1
    masks = clean_images(
        image,
        geometry.neighbor_offsets,
        geometry.neighbor_indices,
        picture_threshold=7.1,
        boundary_threshold=5.0,
        min_picture_neighbors=2,
    )
    expected = reference_masks(
        ctapipe_geometry(geometry),
        image,
        picture_thresh=7.1,
        boundary_thresh=5.0,
        min_number_picture_neighbors=2,
    )
    assert masks[0, pixel] and np.array_equal(masks, expected)


@pytest.mark.parametrize(("time_limit", "min_neighbors"), [(2.0, 1), (5.0, 2), (0.5, 1)])
@pytest.mark.requirement("DPPS-DP-R-042")
def test_time_constraint_identical_to_ctapipe(lstcam, time_limit, min_neighbors):
    from ctapipe.image import apply_time_delta_cleaning, tailcuts_clean

    geometry = lstcam.geometry
    images, times = toy_images(lstcam, 30, seed=11)
    masks = clean_images(
        images,
        geometry.neighbor_offsets,
        geometry.neighbor_indices,
        picture_threshold=8.0,
        boundary_threshold=4.0,
        min_picture_neighbors=2,
        peak_times=times,
        time_limit_ns=time_limit,
        time_min_neighbors=min_neighbors,
    )
    reference = ctapipe_geometry(geometry)
    expected = np.array(
        [
            apply_time_delta_cleaning(
                reference,
                tailcuts_clean(reference, image, 8.0, 4.0, False, 2),
                time,
                min_neighbors,
                time_limit,
            )
            for image, time in zip(images, times, strict=True)
        ]
    )
    assert np.array_equal(masks, expected)
    without = clean_images(
        images,
        geometry.neighbor_offsets,
        geometry.neighbor_indices,
        picture_threshold=8.0,
        boundary_threshold=4.0,
        min_picture_neighbors=2,
    )
    assert masks.sum() < without.sum()  # the constraint removes pixels


def test_empty_and_bad_input(lstcam):
    geometry = lstcam.geometry
    args = (geometry.neighbor_offsets, geometry.neighbor_indices)
    empty = clean_images(
        np.zeros((0, geometry.n_pixels), np.float32),
        *args,
        picture_threshold=1,
        boundary_threshold=1,
    )
    assert empty.shape == (0, geometry.n_pixels)
    with pytest.raises(ValueError, match="needs peak_times"):
        clean_images(
            np.zeros((1, geometry.n_pixels), np.float32),
            *args,
            picture_threshold=1,
            boundary_threshold=1,
            time_limit_ns=1.0,
        )
