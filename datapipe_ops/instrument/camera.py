"""Camera descriptions: pixel geometry with neighbours, and the waveform readout.

The objects are frozen dataclasses over read-only numpy arrays, so they can be shared between
stages and their arrays handed straight to numba kernels. They convert to and from astropy
tables (the HDF5 data model stores them under ``/configuration/instrument/camera/<name>/``).

Conventions follow ctapipe 0.32 so that a ctapipe ``CameraGeometry`` built from the same arrays
behaves identically:

* ``pix_x``, ``pix_y`` are the pixel centres in the camera frame, in metres.
* ``cam_rotation_deg`` has ctapipe's meaning: the rotation by which the *given* pixel positions
  differ from the camera frame. As in ctapipe, the constructor de-rotates the positions (rotates
  them by ``-cam_rotation_deg``), subtracts the angle from ``pix_rotation_deg`` and stores
  ``cam_rotation_deg = 0``. Geometries generated from ``include/instrument/cameras/*.yaml``
  already have the camera rotation applied, so for them nothing changes.
* ``pix_rotation_deg`` is the orientation of the pixel polygons (0: a hexagon with a vertex
  pointing to +y, i.e. flat sides facing ±x).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from astropy import units as u
from astropy.table import QTable, Table

from datapipe_ops.errors import InputFileError
from datapipe_ops.instrument.neighbors import border_mask, neighbor_csr
from datapipe_ops.instrument.tablecheck import as_text, column_values, meta_value

PixelType = Literal["hexagon", "square"]
PIXEL_TYPES: tuple[str, ...] = ("hexagon", "square")


def _frozen_array(values: Any, dtype: type) -> np.ndarray:
    array = np.array(values, dtype=dtype, copy=True)
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class CameraGeometry:
    """Pixel layout of a camera in the camera frame, with the pixel neighbour relation.

    Parameters
    ----------
    name
        Camera name, e.g. ``"LSTCam"``.
    pix_id
        Pixel ids, int32, ``0 … n_pixels - 1`` in storage order.
    pix_x, pix_y
        Pixel centres [m] in the camera frame.
    pix_area
        Pixel areas [m²].
    pix_type
        ``"hexagon"`` or ``"square"``.
    pix_rotation_deg
        Orientation of the pixel polygons [deg].
    cam_rotation_deg
        ctapipe's camera rotation [deg]; applied (de-rotated) at construction, stored as 0.
    neighbor_offsets, neighbor_indices
        The neighbour relation as CSR arrays (int32); computed with ctapipe's rule when omitted.
    """

    name: str
    pix_id: np.ndarray
    pix_x: np.ndarray
    pix_y: np.ndarray
    pix_area: np.ndarray
    pix_type: PixelType
    pix_rotation_deg: float = 0.0
    cam_rotation_deg: float = 0.0
    neighbor_offsets: np.ndarray | None = field(default=None, repr=False)
    neighbor_indices: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.pix_type not in PIXEL_TYPES:
            raise ValueError(f"pix_type must be one of {PIXEL_TYPES}, got {self.pix_type!r}")
        pix_x = np.asarray(self.pix_x, dtype=np.float64)
        pix_y = np.asarray(self.pix_y, dtype=np.float64)
        n = len(self.pix_id)
        for label, array in (("pix_x", pix_x), ("pix_y", pix_y), ("pix_area", self.pix_area)):
            if np.shape(array) != (n,):
                raise ValueError(f"{label} has shape {np.shape(array)}, expected ({n},)")
        pix_rotation = float(self.pix_rotation_deg)
        cam_rotation = float(self.cam_rotation_deg)
        if cam_rotation != 0.0:
            # ctapipe's de-rotation: positions rotated by -cam_rotation, pix_rotation reduced
            c, s = np.cos(np.deg2rad(cam_rotation)), np.sin(np.deg2rad(cam_rotation))
            pix_x, pix_y = c * pix_x + s * pix_y, -s * pix_x + c * pix_y
            pix_rotation -= cam_rotation
            cam_rotation = 0.0
        set_ = object.__setattr__
        set_(self, "name", str(self.name))
        set_(self, "pix_id", _frozen_array(self.pix_id, np.int32))
        set_(self, "pix_x", _frozen_array(pix_x, np.float64))
        set_(self, "pix_y", _frozen_array(pix_y, np.float64))
        set_(self, "pix_area", _frozen_array(self.pix_area, np.float64))
        set_(self, "pix_rotation_deg", pix_rotation)
        set_(self, "cam_rotation_deg", cam_rotation)
        if (self.neighbor_offsets is None) != (self.neighbor_indices is None):
            raise ValueError("give both neighbor_offsets and neighbor_indices, or neither")
        if self.neighbor_offsets is None:
            offsets, indices = neighbor_csr(self.pix_x, self.pix_y, self.pix_type)
        else:
            offsets, indices = self.neighbor_offsets, self.neighbor_indices
            if np.shape(offsets) != (n + 1,) or offsets[-1] != len(indices):
                raise ValueError("neighbor_offsets must have n_pixels + 1 entries ending at len")
        set_(self, "neighbor_offsets", _frozen_array(offsets, np.int32))
        set_(self, "neighbor_indices", _frozen_array(indices, np.int32))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CameraGeometry):
            return NotImplemented
        return (
            self.name == other.name
            and self.pix_type == other.pix_type
            and self.pix_rotation_deg == other.pix_rotation_deg
            and all(
                np.array_equal(getattr(self, a), getattr(other, a))
                for a in ("pix_id", "pix_x", "pix_y", "pix_area")
            )
            and np.array_equal(self.neighbor_offsets, other.neighbor_offsets)
            and np.array_equal(self.neighbor_indices, other.neighbor_indices)
        )

    def __hash__(self) -> int:
        return hash((self.name, self.pix_type, self.n_pixels))

    @property
    def n_pixels(self) -> int:
        """Number of pixels."""
        return int(self.pix_id.shape[0])

    @property
    def pixel_width(self) -> np.ndarray:
        """Per-pixel width [m] from the area: flat-to-flat for hexagons, edge for squares."""
        if self.pix_type == "hexagon":
            return 2.0 * np.sqrt(self.pix_area / (2.0 * np.sqrt(3.0)))
        return np.sqrt(self.pix_area)

    @property
    def n_neighbors(self) -> np.ndarray:
        """Number of neighbours of each pixel (int32)."""
        return np.diff(self.neighbor_offsets)

    @property
    def neighbor_matrix(self) -> np.ndarray:
        """Dense boolean ``(n_pixels, n_pixels)`` neighbour matrix (for tests and small uses)."""
        matrix = np.zeros((self.n_pixels, self.n_pixels), dtype=bool)
        rows = np.repeat(np.arange(self.n_pixels), self.n_neighbors)
        matrix[rows, self.neighbor_indices] = True
        return matrix

    def neighbors_of(self, pixel: int) -> np.ndarray:
        """The sorted neighbour indices of one pixel."""
        return self.neighbor_indices[
            self.neighbor_offsets[pixel] : self.neighbor_offsets[pixel + 1]
        ]

    def border_pixel_mask(self, width: int = 1) -> np.ndarray:
        """Pixels in the camera border ``width`` pixels wide (ctapipe's definition, for leakage)."""
        return border_mask(self.neighbor_offsets, self.neighbor_indices, width)

    def to_table(self) -> QTable:
        """The geometry as a QTable: pix_id, pix_x, pix_y [m], pix_area [m²].

        Meta: ``name``, ``pix_type``, ``pix_rotation`` and ``cam_rotation`` (degrees). The
        neighbour relation is not stored; :meth:`from_table` recomputes it.
        """
        return QTable(
            {
                "pix_id": self.pix_id.copy(),
                "pix_x": self.pix_x * u.m,
                "pix_y": self.pix_y * u.m,
                "pix_area": self.pix_area * u.m**2,
            },
            meta={
                "name": self.name,
                "pix_type": self.pix_type,
                "pix_rotation": self.pix_rotation_deg,
                "cam_rotation": self.cam_rotation_deg,
            },
        )

    @classmethod
    def from_table(cls, table: Table) -> CameraGeometry:
        """Rebuild a geometry from :meth:`to_table`'s output (or its HDF5 round trip).

        Raises
        ------
        InputFileError
            If a column, a unit or a meta key is missing or wrong.
        """
        what = "camera geometry"
        pix_type = as_text(meta_value(table, "pix_type", what))
        if pix_type not in PIXEL_TYPES:
            raise InputFileError(f"{what} table has unknown pix_type '{pix_type}'")
        return cls(
            name=as_text(meta_value(table, "name", what)),
            pix_id=column_values(table, "pix_id", None, what),
            pix_x=column_values(table, "pix_x", u.m, what),
            pix_y=column_values(table, "pix_y", u.m, what),
            pix_area=column_values(table, "pix_area", u.m**2, what),
            pix_type=pix_type,  # type: ignore[arg-type]
            pix_rotation_deg=float(meta_value(table, "pix_rotation", what)),
            cam_rotation_deg=float(meta_value(table, "cam_rotation", what)),
        )


@dataclass(frozen=True, eq=False)
class CameraReadout:
    """Waveform readout of a camera: sampling and the reference single-p.e. pulse.

    Parameters
    ----------
    name
        Camera name.
    sampling_rate_ghz
        Sampling rate of the digitiser [GHz] (a sample is ``1 / sampling_rate_ghz`` ns).
    n_samples
        Number of samples per waveform.
    n_channels
        Number of gain channels (1 here).
    reference_pulse_shape
        float64 ``(n_channels, n_ref)``: the normalised pulse of each channel, sampled every
        ``reference_pulse_sample_width_ns`` from t = 0; its integral over time in ns is 1.
    reference_pulse_sample_width_ns
        Time step of ``reference_pulse_shape`` [ns].
    pulse_fwhm_ns
        Full width at half maximum of the pulse [ns].
    """

    name: str
    sampling_rate_ghz: float
    n_samples: int
    n_channels: int
    reference_pulse_shape: np.ndarray
    reference_pulse_sample_width_ns: float
    pulse_fwhm_ns: float

    def __post_init__(self) -> None:
        shape = np.atleast_2d(np.asarray(self.reference_pulse_shape, dtype=np.float64))
        if shape.shape[0] != self.n_channels:
            raise ValueError(
                f"reference_pulse_shape has {shape.shape[0]} channel(s), "
                f"n_channels is {self.n_channels}"
            )
        if self.sampling_rate_ghz <= 0 or self.reference_pulse_sample_width_ns <= 0:
            raise ValueError("sampling rate and pulse sample width must be positive")
        set_ = object.__setattr__
        set_(self, "name", str(self.name))
        set_(self, "sampling_rate_ghz", float(self.sampling_rate_ghz))
        set_(self, "n_samples", int(self.n_samples))
        set_(self, "n_channels", int(self.n_channels))
        set_(self, "reference_pulse_shape", _frozen_array(shape, np.float64))
        set_(self, "reference_pulse_sample_width_ns", float(self.reference_pulse_sample_width_ns))
        set_(self, "pulse_fwhm_ns", float(self.pulse_fwhm_ns))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CameraReadout):
            return NotImplemented
        return (
            self.name == other.name
            and self.sampling_rate_ghz == other.sampling_rate_ghz
            and self.n_samples == other.n_samples
            and self.n_channels == other.n_channels
            and self.reference_pulse_sample_width_ns == other.reference_pulse_sample_width_ns
            and self.pulse_fwhm_ns == other.pulse_fwhm_ns
            and np.array_equal(self.reference_pulse_shape, other.reference_pulse_shape)
        )

    def __hash__(self) -> int:
        return hash((self.name, self.sampling_rate_ghz, self.n_samples))

    @property
    def sample_width_ns(self) -> float:
        """Duration of one waveform sample [ns]."""
        return 1.0 / self.sampling_rate_ghz

    @property
    def reference_pulse_time_ns(self) -> np.ndarray:
        """Times [ns] of the samples of ``reference_pulse_shape``."""
        n_ref = self.reference_pulse_shape.shape[1]
        return np.arange(n_ref) * self.reference_pulse_sample_width_ns

    def to_table(self) -> QTable:
        """The readout as a QTable: ``time`` [ns] and ``reference_pulse_shape_channel<i>`` [1/ns].

        Meta: ``name``, ``sampling_rate`` [GHz], ``n_samples``, ``n_channels``,
        ``reference_pulse_sample_width`` [ns], ``pulse_fwhm`` [ns].
        """
        columns: dict[str, Any] = {"time": self.reference_pulse_time_ns * u.ns}
        for channel in range(self.n_channels):
            columns[f"reference_pulse_shape_channel{channel}"] = (
                self.reference_pulse_shape[channel] / u.ns
            )
        return QTable(
            columns,
            meta={
                "name": self.name,
                "sampling_rate": self.sampling_rate_ghz,
                "n_samples": self.n_samples,
                "n_channels": self.n_channels,
                "reference_pulse_sample_width": self.reference_pulse_sample_width_ns,
                "pulse_fwhm": self.pulse_fwhm_ns,
            },
        )

    @classmethod
    def from_table(cls, table: Table) -> CameraReadout:
        """Rebuild a readout from :meth:`to_table`'s output (or its HDF5 round trip).

        Raises
        ------
        InputFileError
            If a column or a meta key is missing.
        """
        what = "camera readout"
        n_channels = int(meta_value(table, "n_channels", what))
        shape = [
            column_values(table, f"reference_pulse_shape_channel{c}", 1 / u.ns, what)
            for c in range(n_channels)
        ]
        return cls(
            name=as_text(meta_value(table, "name", what)),
            sampling_rate_ghz=float(meta_value(table, "sampling_rate", what)),
            n_samples=int(meta_value(table, "n_samples", what)),
            n_channels=n_channels,
            reference_pulse_shape=np.array(shape),
            reference_pulse_sample_width_ns=float(
                meta_value(table, "reference_pulse_sample_width", what)
            ),
            pulse_fwhm_ns=float(meta_value(table, "pulse_fwhm", what)),
        )


@dataclass(frozen=True)
class CameraDescription:
    """A camera: its name, pixel geometry and readout."""

    name: str
    geometry: CameraGeometry
    readout: CameraReadout

    @property
    def n_pixels(self) -> int:
        """Number of pixels."""
        return self.geometry.n_pixels
