"""Fixtures of the image-parameter tests: cameras in the telescope frame, toy images, ctapipe."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from datapipe_ops.image.geometry import ImageGeometry
from datapipe_ops.instrument import CameraDescription, load_camera

FOCAL_LENGTH_M = {"LSTCam": 29.31, "NectarCam": 16.44, "FlashCam": 16.44, "CHEC": 2.15}


def toy_images(geometry: ImageGeometry, n_events: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """float32 images (one or two Gaussian blobs on noise) and peak times with a gradient."""
    rng = np.random.default_rng(seed)
    x, y = geometry.fov_lon, geometry.fov_lat
    fov = np.abs(x).max()
    images = rng.normal(0.3, 1.5, (n_events, geometry.n_pixels))
    times = rng.normal(18.0, 2.0, (n_events, geometry.n_pixels))
    for e in range(n_events):
        for _ in range(1 + (e % 3 == 0)):
            cx, cy = rng.uniform(-0.7, 0.7, 2) * fov
            length, width = rng.uniform(0.05, 0.2) * fov, rng.uniform(0.01, 0.05) * fov
            psi = rng.uniform(0, np.pi)
            dx, dy = x - cx, y - cy
            longi = dx * np.cos(psi) + dy * np.sin(psi)
            trans = -dx * np.sin(psi) + dy * np.cos(psi)
            blob = np.exp(-0.5 * (longi / length) ** 2 - 0.5 * (trans / width) ** 2)
            images[e] += 10 ** rng.uniform(1.0, 2.5) * blob
            times[e] += np.where(blob > 0.02, rng.uniform(-10, 10) * longi / fov, 0.0)
        images[e] += rng.normal(0, 0.1 * np.sqrt(np.abs(images[e])))
    return images.astype(np.float32), times.astype(np.float32)


@pytest.fixture(scope="session")
def camera_of() -> Callable[[str], tuple[CameraDescription, ImageGeometry]]:
    """``camera_of(name)``: the camera and its telescope-frame geometry."""

    def build(name: str) -> tuple[CameraDescription, ImageGeometry]:
        camera = load_camera(name)
        return camera, ImageGeometry.from_camera(camera.geometry, FOCAL_LENGTH_M[name])

    return build


@pytest.fixture(scope="session")
def make_images() -> Callable[..., tuple[np.ndarray, np.ndarray]]:
    """``make_images(geometry, n_events, seed)`` → images, peak times."""
    return toy_images


@pytest.fixture(scope="session")
def reference_of() -> Callable[[CameraDescription], object]:
    """``reference_of(camera)``: ctapipe's chain for that camera as telescope 1."""
    from testkit.ctapipe_reference import ReferenceChain, ctapipe_subarray

    def build(camera: CameraDescription) -> ReferenceChain:
        focal = FOCAL_LENGTH_M[camera.name]
        return ReferenceChain(ctapipe_subarray({1: (camera.geometry, camera.readout, focal)}))

    return build


@pytest.fixture(scope="session")
def focal_lengths() -> dict[str, float]:
    """Effective focal length [m] used for each camera in these tests."""
    return dict(FOCAL_LENGTH_M)
