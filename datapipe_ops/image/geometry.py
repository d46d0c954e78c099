"""The pixel arrays the image kernels work on: a camera in the telescope frame.

Image parameters are computed in the telescope frame (ctapipe's ``TelescopeFrame``, angles in
degrees from the pointing direction), as ctapipe's ``ImageProcessor`` does by default, so the
Hillas centroid is ``hillas_fov_lon`` / ``hillas_fov_lat``. :class:`ImageGeometry` holds the
camera converted once: pixel centres, areas and widths in degrees, the neighbour relation and the
camera border masks used by the leakage parameters, all as plain contiguous numpy arrays.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from datapipe_ops.instrument.camera import CameraGeometry


def _readonly(values: np.ndarray, dtype: type) -> np.ndarray:
    array = np.ascontiguousarray(values, dtype=dtype).copy()
    array.setflags(write=False)
    return array


def pixel_width_from_area(pix_area: np.ndarray, pix_type: str) -> np.ndarray:
    """Pixel width from its area: flat-to-flat for hexagons, edge length for squares."""
    if pix_type == "hexagon":
        return 2.0 * np.sqrt(pix_area / (2.0 * np.sqrt(3.0)))
    if pix_type == "square":
        return np.sqrt(pix_area)
    raise ValueError(f"unknown pixel type {pix_type!r}")


def border_masks(offsets: np.ndarray, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Camera border of width 1 and 2 pixels, with ctapipe's definition.

    Width 1: pixels with fewer neighbours than the most any pixel has; width 2: pixels having
    a neighbour in the width-1 border.
    """
    n_neighbors = np.diff(offsets)
    border_1 = n_neighbors < (n_neighbors.max() if n_neighbors.size else 0)
    rows = np.repeat(np.arange(len(n_neighbors)), n_neighbors)
    border_2 = np.zeros_like(border_1)
    np.logical_or.at(border_2, rows, border_1[indices])
    return border_1, border_2


@dataclass(frozen=True, eq=False)
class ImageGeometry:
    """A camera's pixels in the telescope frame, ready for the numba kernels.

    Attributes
    ----------
    name
        Camera name.
    fov_lon, fov_lat
        Pixel centres [deg] in the telescope frame (float64).
    pix_area
        Pixel solid angles [deg²].
    pixel_width
        Pixel widths [deg] (used by ``concentration_cog``).
    neighbor_offsets, neighbor_indices
        The neighbour relation as sorted CSR arrays (int32).
    border_1, border_2
        Pixels in the camera border of width 1 and 2 (leakage).
    """

    name: str
    fov_lon: np.ndarray
    fov_lat: np.ndarray
    pix_area: np.ndarray
    pixel_width: np.ndarray
    neighbor_offsets: np.ndarray
    neighbor_indices: np.ndarray
    border_1: np.ndarray
    border_2: np.ndarray

    @property
    def n_pixels(self) -> int:
        """Number of pixels."""
        return int(self.fov_lon.shape[0])

    @classmethod
    def from_arrays(
        cls,
        name: str,
        fov_lon: np.ndarray,
        fov_lat: np.ndarray,
        pix_area: np.ndarray,
        pix_type: str,
        neighbor_offsets: np.ndarray,
        neighbor_indices: np.ndarray,
    ) -> ImageGeometry:
        """Build from telescope-frame pixel arrays [deg, deg²] and a CSR neighbour relation."""
        offsets = np.asarray(neighbor_offsets, np.int32)
        indices = np.asarray(neighbor_indices, np.int32).copy()
        for p in range(len(offsets) - 1):  # the kernels expect sorted neighbours (ctapipe order)
            indices[offsets[p] : offsets[p + 1]].sort()
        border_1, border_2 = border_masks(offsets, indices)
        area = np.asarray(pix_area, np.float64)
        return cls(
            name=str(name),
            fov_lon=_readonly(fov_lon, np.float64),
            fov_lat=_readonly(fov_lat, np.float64),
            pix_area=_readonly(area, np.float64),
            pixel_width=_readonly(pixel_width_from_area(area, pix_type), np.float64),
            neighbor_offsets=_readonly(offsets, np.int32),
            neighbor_indices=_readonly(indices, np.int32),
            border_1=_readonly(border_1, np.bool_),
            border_2=_readonly(border_2, np.bool_),
        )

    @classmethod
    def from_camera(cls, geometry: CameraGeometry, focal_length_m: float) -> ImageGeometry:
        """Convert a camera-frame geometry [m] with the telescope's (effective) focal length.

        The mapping is ctapipe's ``CameraFrame`` → ``TelescopeFrame``: ``fov_lon = y / f`` and
        ``fov_lat = x / f`` (radians, here converted to degrees); areas scale with ``(1/f)²``.
        """
        from datapipe_ops.instrument import frames

        fov_lon, fov_lat = frames.camera_to_telescope(
            geometry.pix_x, geometry.pix_y, focal_length_m
        )
        scale = np.rad2deg(1.0 / focal_length_m)
        return cls.from_arrays(
            geometry.name,
            fov_lon,
            fov_lat,
            geometry.pix_area * scale**2,
            geometry.pix_type,
            geometry.neighbor_offsets,
            geometry.neighbor_indices,
        )
