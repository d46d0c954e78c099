"""Features of the reconstruction models, built from a chunk of subarray events.

A model sees one row per *telescope event* that passes the quality cuts. :func:`telescope_events`
flattens an :class:`~datapipe_ops.reco.events.EventChunk` (and its axes-intersection geometry)
into a :class:`TelescopeEvents`: aligned 1-d arrays, one entry per telescope event, holding the
image parameters, the geometry features and the event's truth when there is one.
:func:`feature_matrix` then takes the columns a model was trained on, by name, in order.

Feature names are of three sorts:

image parameters
    any column of the DL1 parameter tables (``hillas_intensity``, ``timing_slope`` …).
geometry features
    from the axes intersection: ``impact_distance`` [m] (this telescope to the reconstructed
    core), ``h_max`` [m] and ``log10_h_max``, ``multiplicity`` (telescopes passing the cuts).
derived features
    arithmetic on the above (:data:`DERIVED`), e.g. ``width_length`` = width·length.

Event-level features of the event-type model (``log10_energy``, ``disp_spread`` …) are made by
:mod:`datapipe_ops.reco.models.event_type` from the other models' outputs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from datapipe_ops.instrument.frames import horizontal_to_telescope
from datapipe_ops.reco import names
from datapipe_ops.reco.events import EventChunk
from datapipe_ops.reco.models.config import QualityCuts

#: per-telescope column of the intersection geometry: impact distance [m]
IMPACT_COLUMN = names.tel_column(names.HILLAS_INTERSECTION, "impact_distance")
#: the per-event intersection columns the features and the stereo combination read
INTERSECTION_COLUMNS = ("alt", "az", "alt_uncert", "az_uncert", "h_max", "is_valid")

Column = Callable[[Mapping[str, np.ndarray]], np.ndarray]


def _log10(values: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log10(np.where(values > 0, values, np.nan))


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b != 0, a / np.where(b != 0, b, 1.0), np.nan)


#: derived features: name → (columns it reads, function of those columns)
DERIVED: dict[str, tuple[tuple[str, ...], Column]] = {
    "log10_intensity": (("hillas_intensity",), lambda c: _log10(c["hillas_intensity"])),
    "width_length": (
        ("hillas_width", "hillas_length"),
        lambda c: c["hillas_width"] * c["hillas_length"],
    ),
    "width_over_length": (
        ("hillas_width", "hillas_length"),
        lambda c: _ratio(c["hillas_width"], c["hillas_length"]),
    ),
    "log10_intensity_per_area": (
        ("hillas_intensity", "hillas_width", "hillas_length"),
        lambda c: _log10(_ratio(c["hillas_intensity"], c["hillas_width"] * c["hillas_length"])),
    ),
    "length_over_log10_intensity": (
        ("hillas_length", "hillas_intensity"),
        lambda c: _ratio(c["hillas_length"], _log10(c["hillas_intensity"])),
    ),
    "axis_toward_center": (
        ("hillas_fov_lon", "hillas_fov_lat", "hillas_psi"),
        lambda c: (
            -(
                c["hillas_fov_lon"] * np.cos(np.deg2rad(c["hillas_psi"]))
                + c["hillas_fov_lat"] * np.sin(np.deg2rad(c["hillas_psi"]))
            )
        ),
    ),
    "log10_h_max": (("h_max",), lambda c: _log10(c["h_max"])),
}
#: geometry features, present once the axes intersection is known
GEOMETRY = ("impact_distance", "h_max", "multiplicity")
#: image-parameter columns every telescope event carries for the stereo combination
ALWAYS = ("hillas_intensity", "hillas_fov_lon", "hillas_fov_lat", "hillas_psi")


@dataclass(frozen=True)
class TelescopeEvents:
    """Telescope events passing the quality cuts, as aligned 1-d arrays.

    Attributes
    ----------
    event_index
        (n,) int64 index of the subarray event in its chunk.
    tel_id
        (n,) int32.
    tel_index
        (n,) int32 column of the telescope in the chunk's (n_events, n_tels) arrays.
    tel_type
        (n,) object array of telescope type names (``"MST_MST_NectarCam"``).
    columns
        name → (n,) float64: image parameters, geometry features, pointing and, for simulated
        events, the truth (``true_energy``, ``true_fov_lon``/``lat`` [deg] in the telescope
        frame, ``true_disp`` [deg], ``true_disp_sign``, ``true_shower_primary_id``).
    n_events
        Number of subarray events of the chunk (the range of ``event_index``).
    """

    event_index: np.ndarray
    tel_id: np.ndarray
    tel_index: np.ndarray
    tel_type: np.ndarray
    columns: dict[str, np.ndarray]
    n_events: int

    def __len__(self) -> int:
        return int(self.event_index.shape[0])

    def select(self, mask: np.ndarray) -> TelescopeEvents:
        """The telescope events where ``mask`` holds (same chunk)."""
        return TelescopeEvents(
            self.event_index[mask],
            self.tel_id[mask],
            self.tel_index[mask],
            self.tel_type[mask],
            {name: values[mask] for name, values in self.columns.items()},
            self.n_events,
        )

    def types(self) -> list[str]:
        """The telescope types present, sorted."""
        return sorted(set(self.tel_type.tolist()))


def required_columns(features: Sequence[str]) -> set[str]:
    """The image-parameter and geometry columns the features need."""
    needed: set[str] = set()
    for feature in features:
        if feature in DERIVED:
            needed.update(required_columns(DERIVED[feature][0]))
        else:
            needed.add(feature)
    return needed


def unknown_features(features: Sequence[str], available: set[str]) -> list[str]:
    """Features (in order) that cannot be computed from the ``available`` columns."""
    return [f for f in features if not required_columns([f]) <= available]


def passes_quality(rows: np.ndarray, cuts: QualityCuts) -> np.ndarray:
    """Telescope rows (a parameter structured array) that pass the image quality cuts."""
    with np.errstate(invalid="ignore"):
        ok = rows["hillas_intensity"] >= cuts.min_intensity
        ok &= rows["hillas_width"] > cuts.min_width_deg
        ok &= ~(rows["leakage_intensity_width_2"] > cuts.max_leakage_intensity_width_2)
        ok &= rows["morphology_n_pixels"] >= cuts.min_n_pixels
    if "is_valid" in rows.dtype.names:
        ok &= rows["is_valid"].astype(bool)
    return ok & np.isfinite(rows["hillas_psi"])


def telescope_events(
    chunk: EventChunk,
    tel_types: Mapping[int, str],
    cuts: QualityCuts,
    geometry: Mapping[str, np.ndarray] | None = None,
    parameters: Sequence[str] | None = None,
) -> TelescopeEvents:
    """Flatten a chunk into its telescope events passing ``cuts``.

    Parameters
    ----------
    chunk
        The subarray events.
    tel_types
        tel_id → telescope type name.
    cuts
        Image quality cuts.
    geometry
        The axes intersection of the chunk's events: per-event arrays ``h_max`` [m], ``alt``,
        ``az`` [deg] … and ``impact_distance`` ``(n_events, n_tels)`` [m]. Without it the
        geometry features are NaN (LightGBM treats them as missing).
    parameters
        The image-parameter columns to keep (default: all of them).
    """
    parts: list[dict[str, np.ndarray]] = []
    for j, tel_id in enumerate(chunk.tel_ids):
        tel = chunk.telescopes[int(tel_id)]
        if not len(tel):
            continue
        ok = passes_quality(tel.rows, cuts)
        rows = tel.rows[ok]
        names_ = [n for n in rows.dtype.names if n not in ("obs_id", "event_id", "tel_id")]
        if parameters is not None:
            wanted = set(parameters) | set(ALWAYS)
            names_ = [n for n in names_ if n in wanted]
        part = {n: rows[n].astype(np.float64) for n in names_ if rows.dtype[n].shape == ()}
        part["_event_index"] = tel.event_row[ok]
        part["_tel_id"] = np.full(len(rows), int(tel_id), np.int64)
        part["_tel_index"] = np.full(len(rows), j, np.int64)
        parts.append(part)
    keys = set.intersection(*(set(p) for p in parts)) if parts else set()
    flat = {k: np.concatenate([p[k] for p in parts]) for k in sorted(keys)}
    if not flat:
        flat = {k: np.zeros(0) for k in ("_event_index", "_tel_id", "_tel_index", *ALWAYS)}
    event_index = flat.pop("_event_index").astype(np.int64)
    tel_id = flat.pop("_tel_id").astype(np.int32)
    tel_index = flat.pop("_tel_index").astype(np.int32)
    type_names = np.array([tel_types.get(int(t), "") for t in tel_id], dtype=object)
    columns = flat
    multiplicity = np.bincount(event_index, minlength=chunk.n_events)
    columns["multiplicity"] = multiplicity[event_index].astype(np.float64)
    _geometry_columns(columns, event_index, tel_index, geometry)
    columns["pointing_alt"] = chunk.pointing_alt[event_index]
    columns["pointing_az"] = chunk.pointing_az[event_index]
    if chunk.truth is not None:
        _truth_columns(columns, chunk, event_index)
    return TelescopeEvents(event_index, tel_id, tel_index, type_names, columns, chunk.n_events)


def _geometry_columns(
    columns: dict[str, np.ndarray],
    event_index: np.ndarray,
    tel_index: np.ndarray,
    geometry: Mapping[str, np.ndarray] | None,
) -> None:
    n = len(event_index)
    if geometry is None:
        columns["impact_distance"] = np.full(n, np.nan)
        columns["h_max"] = np.full(n, np.nan)
        return
    impact = np.asarray(geometry["impact_distance"], dtype=np.float64)
    columns["impact_distance"] = impact[event_index, tel_index]
    valid = np.asarray(geometry["is_valid"], dtype=bool)[event_index]
    h_max = np.asarray(geometry["h_max"], dtype=np.float64)[event_index]
    columns["h_max"] = np.where(valid, h_max, np.nan)
    columns["impact_distance"] = np.where(valid, columns["impact_distance"], np.nan)


def _truth_columns(columns: dict[str, np.ndarray], chunk: EventChunk, index: np.ndarray) -> None:
    truth = chunk.truth
    assert truth is not None
    columns["true_energy"] = truth["true_energy"][index].astype(np.float64)
    columns["true_shower_primary_id"] = truth["true_shower_primary_id"][index].astype(np.float64)
    lon, lat = horizontal_to_telescope(
        truth["true_alt"][index],
        truth["true_az"][index],
        columns["pointing_alt"],
        columns["pointing_az"],
    )
    columns["true_fov_lon"], columns["true_fov_lat"] = lon, lat
    d_lon = lon - columns["hillas_fov_lon"]
    d_lat = lat - columns["hillas_fov_lat"]
    psi = np.deg2rad(columns["hillas_psi"])
    columns["true_disp"] = np.hypot(d_lon, d_lat)
    along = d_lon * np.cos(psi) + d_lat * np.sin(psi)
    columns["true_disp_sign"] = np.where(along >= 0, 1.0, -1.0)


def feature_matrix(events: TelescopeEvents, features: Sequence[str]) -> np.ndarray:
    """``(n, len(features))`` float32 matrix of the named features (NaN = missing)."""
    out = np.empty((len(events), len(features)), dtype=np.float32)
    for k, feature in enumerate(features):
        out[:, k] = column_values(events.columns, feature)
    return out


def column_values(columns: Mapping[str, np.ndarray], feature: str) -> np.ndarray:
    """One feature's values from the columns: a column itself or a derived feature."""
    if feature in columns:
        return columns[feature]
    if feature in DERIVED:
        needed, function = DERIVED[feature]
        return function({name: column_values(columns, name) for name in needed})
    raise KeyError(feature)
