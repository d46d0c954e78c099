"""Fixtures of the DL0→DL1 tests: toy waveforms, ctapipe references, a small simulated run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from datapipe_ops.instrument import CameraDescription, load_camera

FOCAL_LENGTH_M = {"LSTCam": 29.31, "NectarCam": 16.44, "FlashCam": 16.44, "CHEC": 2.15}


@dataclass
class ToyEvents:
    """Toy DL0 of one camera with the camera truth that made it."""

    camera: CameraDescription
    waveforms: np.ndarray
    true_pe: np.ndarray
    pedestal: np.ndarray
    gain: np.ndarray
    time_offset: np.ndarray
    broken: np.ndarray

    def coefficients(self) -> dict[str, np.ndarray]:
        """The coefficients undoing the truth, as ctapipe's container fields (1 channel)."""
        return {
            "pedestal_offset": self.pedestal[np.newaxis].astype(np.float32),
            "factor": (1.0 / self.gain)[np.newaxis].astype(np.float32),
            "time_shift": self.time_offset[np.newaxis].astype(np.float32),
            "outlier_mask": self.broken[np.newaxis].copy(),
        }


def toy_events(camera: CameraDescription, n_events: int, seed: int, n_broken: int = 3) -> ToyEvents:
    """Gaussian-ellipse showers with a time gradient, Poisson light, noise, 12-bit ADC."""
    rng = np.random.default_rng(seed)
    geometry, readout = camera.geometry, camera.readout
    focal = FOCAL_LENGTH_M[camera.name]
    n_pix, n_samples, dt = geometry.n_pixels, readout.n_samples, readout.sample_width_ns
    lon, lat = np.rad2deg(geometry.pix_y / focal), np.rad2deg(geometry.pix_x / focal)
    area = geometry.pix_area * np.rad2deg(1.0 / focal) ** 2
    pedestal = rng.normal(400.0, 20.0, n_pix)
    gain = rng.normal(12.0, 1.0, n_pix)  # ADC summed over the pulse per p.e.
    time_offset = rng.normal(0.0, 0.7, n_pix)
    broken = np.zeros(n_pix, dtype=bool)
    broken[rng.choice(n_pix, n_broken, replace=False)] = True
    shape = readout.reference_pulse_shape[0]
    step = readout.reference_pulse_sample_width_ns
    cumulative = np.concatenate([[0.0], np.cumsum(shape) * step])
    t_cumulative = np.arange(cumulative.size) * step
    peak = np.argmax(shape) * step
    edges = np.arange(n_samples + 1) * dt
    fov = np.abs(lon).max()
    waveforms = np.empty((n_events, n_pix, n_samples), dtype=np.uint16)
    true_pe = np.empty((n_events, n_pix))
    for e in range(n_events):
        cog = rng.uniform(-0.6, 0.6, 2) * fov
        length, width = rng.uniform(0.06, 0.25) * fov / 2, rng.uniform(0.02, 0.05) * fov / 2
        psi = rng.uniform(0.0, np.pi)
        intensity = 10 ** rng.uniform(1.7, 3.7)
        dx, dy = lon - cog[0], lat - cog[1]
        longi = dx * np.cos(psi) + dy * np.sin(psi)
        trans = -dx * np.sin(psi) + dy * np.cos(psi)
        density = np.exp(-0.5 * (longi / length) ** 2 - 0.5 * (trans / width) ** 2)
        mean = intensity * area * density / (2 * np.pi * length * width)
        q = rng.poisson(mean + 0.3).astype(np.float64)
        true_pe[e] = q
        t0 = 0.45 * n_samples * dt + rng.uniform(-15, 15) * longi + rng.normal(0, 0.3, n_pix)
        t0 += time_offset
        start = edges[np.newaxis, :-1] - t0[:, np.newaxis] + peak
        stop = edges[np.newaxis, 1:] - t0[:, np.newaxis] + peak
        fraction = np.interp(stop, t_cumulative, cumulative, left=0.0, right=1.0) - np.interp(
            start, t_cumulative, cumulative, left=0.0, right=1.0
        )
        signal = pedestal[:, np.newaxis] + (gain * q)[:, np.newaxis] * fraction
        signal += rng.normal(0.0, 3.0, signal.shape)
        waveforms[e] = np.clip(np.round(signal), 0, 4095).astype(np.uint16)
    return ToyEvents(camera, waveforms, true_pe, pedestal, gain, time_offset, broken)


@pytest.fixture(scope="session")
def lstcam() -> CameraDescription:
    return load_camera("LSTCam")


@pytest.fixture(scope="session")
def chec() -> CameraDescription:
    return load_camera("CHEC")


@pytest.fixture(scope="session")
def make_toy() -> Callable[..., ToyEvents]:
    """The toy-event generator ``make_toy(camera, n_events, seed, n_broken=3)``."""
    return toy_events


@pytest.fixture(scope="session")
def reference_chain() -> Callable[..., object]:
    """``reference_chain(camera, settings=None)``: ctapipe's chain for one telescope (id 1)."""
    from testkit.ctapipe_reference import ReferenceChain, ctapipe_subarray

    def build(camera: CameraDescription, settings=None) -> ReferenceChain:
        focal = FOCAL_LENGTH_M[camera.name]
        subarray = ctapipe_subarray({1: (camera.geometry, camera.readout, focal)})
        return ReferenceChain(subarray, settings)

    return build


@pytest.fixture(scope="session")
def simulated_run(tmp_path_factory) -> tuple[Path, Path]:
    """A small simulated DL0 run of the demo subarray and its coefficients file."""
    from testkit.simulated import demo_gamma_run

    return demo_gamma_run(tmp_path_factory.mktemp("dl0") / "gamma.dl0.h5", n_showers=600)
