"""Telescope optics and the telescope description (optics + camera)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from datapipe_ops.instrument.camera import CameraDescription

TelescopeType = Literal["LST", "MST", "SST"]
TELESCOPE_TYPES: tuple[str, ...] = ("LST", "MST", "SST")


@dataclass(frozen=True)
class OpticsDescription:
    """Optics of a telescope.

    Parameters
    ----------
    name
        Optics name, e.g. ``"LST"``.
    focal_length_m
        Nominal (equivalent) focal length [m]: plate scale of the camera.
    effective_focal_length_m
        Effective focal length [m] including the coma-induced image displacement (ctapipe's
        default for the camera → sky conversion).
    mirror_area_m2
        Total mirror area [m²].
    n_mirrors
        Number of mirror surfaces in the light path (1: single mirror, 2: dual mirror).
    psf_sigma_deg
        Gaussian σ of the on-axis point-spread function [deg].
    """

    name: str
    focal_length_m: float
    effective_focal_length_m: float
    mirror_area_m2: float
    n_mirrors: int
    psf_sigma_deg: float

    def pixel_fov_deg(self, pixel_width_m: float | np.ndarray) -> float | np.ndarray:
        """Angular size [deg] of a pixel of width ``pixel_width_m`` at the nominal focal length."""
        return np.rad2deg(2.0 * np.arctan(0.5 * np.asarray(pixel_width_m) / self.focal_length_m))


@dataclass(frozen=True)
class TelescopeDescription:
    """A telescope model: its size class, optics and camera.

    ``name`` follows ctapipe: ``"<type>_<optics>_<camera>"``, e.g. ``"LST_LST_LSTCam"``.
    """

    name: str
    type: TelescopeType
    optics: OpticsDescription
    camera: CameraDescription

    @classmethod
    def build(
        cls, type: TelescopeType, optics: OpticsDescription, camera: CameraDescription
    ) -> TelescopeDescription:
        """The telescope with ctapipe's naming convention for ``name``."""
        return cls(f"{type}_{optics.name}_{camera.name}", type, optics, camera)
