"""The subarray: which telescopes, where, with which optics and camera.

Ground positions are in ctapipe's ground frame (x towards north, y towards west, z up), in
metres relative to the array centre. :meth:`SubarrayDescription.to_tables` gives every table of
the instrument description, keyed by its name relative to the instrument group of a product, and
:meth:`SubarrayDescription.from_tables` rebuilds the subarray from them, so the ``io`` package
(which places them under ``/configuration/instrument``) can round-trip a subarray without knowing
its structure, and this package knows nothing of files.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
from astropy import units as u
from astropy.table import QTable, Table

from datapipe_ops.errors import InputFileError
from datapipe_ops.instrument.camera import CameraDescription, CameraGeometry, CameraReadout
from datapipe_ops.instrument.optics import (
    TELESCOPE_TYPES,
    OpticsDescription,
    TelescopeDescription,
)
from datapipe_ops.instrument.tablecheck import as_text, column_values

#: Names of the instrument tables relative to the instrument group of a product
#: (:data:`datapipe_ops.io.layout.INSTRUMENT_GROUP`).
LAYOUT_PATH = "subarray/layout"
OPTICS_PATH = "telescope/optics"
CAMERA_GROUP = "camera"


def camera_geometry_path(camera: str) -> str:
    """Name of a camera's geometry table, relative to the instrument group."""
    return f"{CAMERA_GROUP}/{camera}/geometry"


def camera_readout_path(camera: str) -> str:
    """Name of a camera's readout table, relative to the instrument group."""
    return f"{CAMERA_GROUP}/{camera}/readout"


@dataclass(frozen=True, eq=False)
class SubarrayDescription:
    """A set of telescopes with their positions and models.

    Parameters
    ----------
    name
        Layout name, e.g. ``"alpha_north"``.
    tel_ids
        Telescope ids (int32, unique); the order is the subarray's telescope index.
    positions
        ``(n_tels, 3)`` ground positions [m] (x north, y west, z up) relative to the array centre.
    telescopes
        Telescope id → :class:`TelescopeDescription`.
    site
        Name of the site in ``include/instrument/sites.yaml`` (``""`` if unknown).
    """

    name: str
    tel_ids: np.ndarray
    positions: np.ndarray
    telescopes: dict[int, TelescopeDescription] = field(repr=False)
    site: str = ""

    def __post_init__(self) -> None:
        tel_ids = np.array(self.tel_ids, dtype=np.int32, copy=True).reshape(-1)
        positions = np.array(self.positions, dtype=np.float64, copy=True)
        if positions.shape != (len(tel_ids), 3):
            raise ValueError(f"positions has shape {positions.shape}, expected ({len(tel_ids)}, 3)")
        if len(np.unique(tel_ids)) != len(tel_ids):
            raise ValueError("tel_ids must be unique")
        if set(int(t) for t in tel_ids) != set(self.telescopes):
            raise ValueError("telescopes must have exactly one entry per tel_id")
        for array in (tel_ids, positions):
            array.setflags(write=False)
        object.__setattr__(self, "tel_ids", tel_ids)
        object.__setattr__(self, "positions", positions)
        object.__setattr__(self, "telescopes", {int(t): self.telescopes[int(t)] for t in tel_ids})

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SubarrayDescription):
            return NotImplemented
        return (
            self.name == other.name
            and self.site == other.site
            and np.array_equal(self.tel_ids, other.tel_ids)
            and np.array_equal(self.positions, other.positions)
            and self.telescopes == other.telescopes
        )

    def __hash__(self) -> int:
        return hash((self.name, self.site, self.tel_ids.tobytes()))

    @property
    def n_tels(self) -> int:
        """Number of telescopes."""
        return int(self.tel_ids.shape[0])

    def tel_index(self, tel_id: int) -> int:
        """Index of ``tel_id`` in :attr:`tel_ids` (and in :attr:`positions`).

        Raises
        ------
        KeyError
            If the telescope is not in the subarray.
        """
        found = np.flatnonzero(self.tel_ids == tel_id)
        if found.size == 0:
            raise KeyError(f"telescope {tel_id} is not in subarray {self.name!r}")
        return int(found[0])

    @property
    def tel_index_array(self) -> np.ndarray:
        """Lookup array ``index = tel_index_array[tel_id]`` (-1 where absent), for numba kernels."""
        lookup = np.full(int(self.tel_ids.max(initial=0)) + 1, -1, dtype=np.int32)
        lookup[self.tel_ids] = np.arange(self.n_tels, dtype=np.int32)
        return lookup

    @property
    def cameras(self) -> dict[str, CameraDescription]:
        """Camera name → description, for the cameras present (sorted by name)."""
        found = {t.camera.name: t.camera for t in self.telescopes.values()}
        return {name: found[name] for name in sorted(found)}

    @property
    def optics(self) -> dict[str, OpticsDescription]:
        """Optics name → description, for the optics present (sorted by name)."""
        found = {t.optics.name: t.optics for t in self.telescopes.values()}
        return {name: found[name] for name in sorted(found)}

    @property
    def camera_types(self) -> list[str]:
        """Names of the distinct cameras, sorted."""
        return list(self.cameras)

    def tel_ids_with_camera(self, camera: str) -> np.ndarray:
        """Ids (int32, in subarray order) of the telescopes carrying camera ``camera``."""
        mask = [self.telescopes[int(t)].camera.name == camera for t in self.tel_ids]
        return self.tel_ids[np.asarray(mask, dtype=bool)]

    def select(self, tel_ids: Iterable[int], name: str | None = None) -> SubarrayDescription:
        """The subarray of the given telescopes (kept in this subarray's order).

        Raises
        ------
        KeyError
            If a requested telescope is not in this subarray.
        """
        wanted = {int(t) for t in tel_ids}
        missing = wanted - set(self.telescopes)
        if missing:
            raise KeyError(f"telescopes {sorted(missing)} are not in subarray {self.name!r}")
        keep = np.isin(self.tel_ids, list(wanted))
        return SubarrayDescription(
            name=self.name if name is None else name,
            tel_ids=self.tel_ids[keep],
            positions=self.positions[keep],
            telescopes={t: self.telescopes[t] for t in wanted},
            site=self.site,
        )

    def layout_table(self) -> QTable:
        """The layout: tel_id, pos_x, pos_y, pos_z [m], type, name, camera, optics.

        Meta: ``name`` (the layout) and ``site``.
        """
        tels = [self.telescopes[int(t)] for t in self.tel_ids]
        return QTable(
            {
                "tel_id": self.tel_ids.copy(),
                "pos_x": self.positions[:, 0] * u.m,
                "pos_y": self.positions[:, 1] * u.m,
                "pos_z": self.positions[:, 2] * u.m,
                "type": [t.type for t in tels],
                "name": [t.name for t in tels],
                "camera": [t.camera.name for t in tels],
                "optics": [t.optics.name for t in tels],
            },
            meta={"name": self.name, "site": self.site},
        )

    def optics_table(self) -> QTable:
        """One row per optics: name, focal_length, effective_focal_length [m], mirror_area [m²],
        n_mirrors, psf_sigma [deg]."""
        optics = list(self.optics.values())
        return QTable(
            {
                "name": [o.name for o in optics],
                "focal_length": [o.focal_length_m for o in optics] * u.m,
                "effective_focal_length": [o.effective_focal_length_m for o in optics] * u.m,
                "mirror_area": [o.mirror_area_m2 for o in optics] * u.m**2,
                "n_mirrors": np.array([o.n_mirrors for o in optics], dtype=np.int32),
                "psf_sigma": [o.psf_sigma_deg for o in optics] * u.deg,
            }
        )

    def to_tables(self) -> dict[str, QTable]:
        """Every instrument table keyed by its name relative to the instrument group (layout,
        optics, camera geometry and readout per camera); :meth:`from_tables` inverts it."""
        tables = {LAYOUT_PATH: self.layout_table(), OPTICS_PATH: self.optics_table()}
        for name, camera in self.cameras.items():
            tables[camera_geometry_path(name)] = camera.geometry.to_table()
            tables[camera_readout_path(name)] = camera.readout.to_table()
        return tables

    @classmethod
    def from_tables(cls, tables: Mapping[str, Table]) -> SubarrayDescription:
        """Rebuild a subarray from :meth:`to_tables`'s output (or its HDF5 round trip).

        Raises
        ------
        InputFileError
            If a table, a column or a referenced camera or optics is missing.
        """
        for path in (LAYOUT_PATH, OPTICS_PATH):
            if path not in tables:
                raise InputFileError(f"instrument description has no table {path}")
        optics = _optics_from_table(tables[OPTICS_PATH])
        layout = tables[LAYOUT_PATH]
        what = "subarray layout"
        tel_ids = column_values(layout, "tel_id", None, what).astype(np.int32)
        positions = np.column_stack(
            [column_values(layout, c, u.m, what) for c in ("pos_x", "pos_y", "pos_z")]
        )
        types = [as_text(v) for v in column_values(layout, "type", None, what)]
        camera_names = [as_text(v) for v in column_values(layout, "camera", None, what)]
        optics_names = [as_text(v) for v in column_values(layout, "optics", None, what)]
        cameras: dict[str, CameraDescription] = {}
        for name in sorted(set(camera_names)):
            paths = (camera_geometry_path(name), camera_readout_path(name))
            for path in paths:
                if path not in tables:
                    raise InputFileError(f"instrument description has no table {path}")
            geometry = CameraGeometry.from_table(tables[paths[0]])
            cameras[name] = CameraDescription(
                name, geometry, CameraReadout.from_table(tables[paths[1]])
            )
        telescopes = {}
        for tel_id, type_, camera, optics_name in zip(
            tel_ids, types, camera_names, optics_names, strict=True
        ):
            if type_ not in TELESCOPE_TYPES:
                raise InputFileError(f"{what}: telescope {tel_id} has unknown type '{type_}'")
            if optics_name not in optics:
                raise InputFileError(
                    f"{what}: telescope {tel_id} uses unknown optics '{optics_name}'"
                )
            telescopes[int(tel_id)] = TelescopeDescription.build(
                type_,
                optics[optics_name],
                cameras[camera],  # type: ignore[arg-type]
            )
        return cls(
            name=as_text(layout.meta.get("name", "")),
            tel_ids=tel_ids,
            positions=positions,
            telescopes=telescopes,
            site=as_text(layout.meta.get("site", "")),
        )


def _optics_from_table(table: Table) -> dict[str, OpticsDescription]:
    what = "optics"
    names = [as_text(v) for v in column_values(table, "name", None, what)]
    columns = {
        "focal_length_m": column_values(table, "focal_length", u.m, what),
        "effective_focal_length_m": column_values(table, "effective_focal_length", u.m, what),
        "mirror_area_m2": column_values(table, "mirror_area", u.m**2, what),
        "n_mirrors": column_values(table, "n_mirrors", None, what),
        "psf_sigma_deg": column_values(table, "psf_sigma", u.deg, what),
    }
    return {
        name: OpticsDescription(
            name=name,
            focal_length_m=float(columns["focal_length_m"][i]),
            effective_focal_length_m=float(columns["effective_focal_length_m"][i]),
            mirror_area_m2=float(columns["mirror_area_m2"][i]),
            n_mirrors=int(columns["n_mirrors"][i]),
            psf_sigma_deg=float(columns["psf_sigma_deg"][i]),
        )
        for i, name in enumerate(names)
    }
