"""Reading DL2 products into the event tables pyirf works on.

:func:`read_events` streams the subarray DL2 tables of one product (geometry, energy,
gammaness, event type: the algorithms are parameters) chunk by chunk, checks they describe the
same events, joins the simulated truth (for productions) or the trigger times (for
observations) by ``(obs_id, event_id)``, and returns one QTable with pyirf's column names:
``true_energy``, ``reco_energy``, ``gh_score``, ``reco_alt``/``reco_az``,
``true_alt``/``true_az``, ``pointing_alt``/``pointing_az``, ``theta``,
``true_source_fov_offset``, ``reco_source_fov_offset``, ``event_type``, ``multiplicity``.

:func:`simulation_info` turns the run tables and shower histograms of the simulated runs into
pyirf's :class:`~pyirf.simulations.SimulatedEventsInfo`; :func:`add_weights` weights events to
the physical spectra (Crab for gammas, the IRF-document proton and electron spectra).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
from astropy import units as u
from astropy.table import QTable, vstack
from numba import njit

from datapipe_ops.errors import InputFileError
from datapipe_ops.io import layout, open_product, read_table, table_length
from datapipe_ops.io.columns import read_columns
from datapipe_ops.io.tables import UNITS_ATTR, iter_chunks
from datapipe_ops.irf.config import DL2Algorithms, QualityCuts

#: CORSIKA / ctapipe primary ids
PRIMARY_ID = {"gamma": 0, "electron": 1, "proton": 101}
PARTICLE_OF_ID = {v: k for k, v in PRIMARY_ID.items()}

#: (kind, short name of the algorithm field, columns the reader needs without prefix)
_TABLE_COLUMNS = {
    "geometry": ("alt", "az", "is_valid", "telescopes"),
    "energy": ("energy", "is_valid"),
    "particle_type": ("prediction", "is_valid"),
    "event_type": ("event_type", "is_valid"),
}


@dataclass
class DL2Events:
    """The events of one or more DL2 products and what is known about their origin."""

    events: QTable
    paths: list[Path]
    particle: str | None = None
    model_set_id: str | None = None
    obs_ids: list[int] = field(default_factory=list)
    runs: QTable | None = None
    shower_distribution: QTable | None = None


def _kinds(algorithms: DL2Algorithms) -> dict[str, str]:
    kinds = {
        "geometry": algorithms.geometry,
        "energy": algorithms.energy,
        "particle_type": algorithms.gammaness,
    }
    if algorithms.event_type is not None:
        kinds["event_type"] = algorithms.event_type
    return kinds


def _decode(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def model_set_id(h5file: h5py.File) -> str | None:
    """The id of the model set a DL2 product was made with (None for pure-geometry DL2)."""
    if layout.DL2_MODELS not in h5file:
        return None
    node = h5file[layout.DL2_MODELS]
    for holder in (node, node.parent):
        if "model_set_id" in holder.attrs:
            return _decode(holder.attrs["model_set_id"])
    if isinstance(node, h5py.Dataset) and node.dtype.names and "model_set_id" in node.dtype.names:
        values = {_decode(v) for v in node.fields("model_set_id")[:]}
        if len(values) == 1:
            return values.pop()
    return None


def check_dl2(h5file: h5py.File, algorithms: DL2Algorithms, need_truth: bool) -> None:
    """Raise one InputFileError naming the first table or column the reader needs but lacks."""
    name = h5file.filename
    for kind, algorithm in _kinds(algorithms).items():
        path = layout.dl2_path(kind, algorithm)
        if path not in h5file:
            raise InputFileError(f"has no DL2 table {path}", path=name)
        names = h5file[path].dtype.names or ()
        for column in ("obs_id", "event_id", *(f"{algorithm}_{c}" for c in _TABLE_COLUMNS[kind])):
            if column not in names:
                raise InputFileError(f"DL2 table {path} has no column {column}", path=name)
    needed = [layout.SHOWER, layout.SIMULATION_RUN] if need_truth else [layout.TRIGGER]
    for path in needed:
        if path not in h5file:
            raise InputFileError(f"has no table {path}", path=name)
    if need_truth:
        names = h5file[layout.SHOWER].dtype.names
        for column in ("obs_id", "event_id", "true_energy", "true_alt", "true_az"):
            if column not in names:
                raise InputFileError(f"table {layout.SHOWER} has no column {column}", path=name)


def _keys(obs_id: np.ndarray, event_id: np.ndarray) -> np.ndarray:
    return (obs_id.astype(np.int64) << 40) | event_id.astype(np.int64)


def _join(keys: np.ndarray, table_keys: np.ndarray, what: str, path: str) -> np.ndarray:
    """Row of each key in the sorted ``table_keys``; InputFileError if one is missing."""
    where = np.searchsorted(table_keys, keys)
    where = np.clip(where, 0, max(table_keys.size - 1, 0))
    missing = (table_keys.size == 0) | (table_keys[where] != keys) if keys.size else np.zeros(0)
    if np.any(missing):
        first = keys[np.argmax(missing)]
        raise InputFileError(
            f"event (obs_id {first >> 40}, event_id {first & ((1 << 40) - 1)}) has no row in "
            f"{what}",
            path=path,
        )
    return where


def _truth_rows(
    truth: dict, obs_id: np.ndarray, event_id: np.ndarray, path: str
) -> np.ndarray | None:
    """Row of the shower table of each event (None: the same events in the same order)."""
    if np.array_equal(truth["obs_id"], obs_id) and np.array_equal(truth["event_id"], event_id):
        return None
    keys = _keys(obs_id, event_id)
    shower_keys = _keys(np.asarray(truth["obs_id"]), np.asarray(truth["event_id"]))
    order = np.argsort(shower_keys, kind="stable")
    return order[_join(keys, shower_keys[order], layout.SHOWER, path)]


def _take(values: np.ndarray, where: np.ndarray | None) -> np.ndarray:
    return values if where is None else values[where]


def _sorted_keys(h5file: h5py.File, path: str) -> tuple[np.ndarray, np.ndarray]:
    dset = h5file[path]
    keys = _keys(dset.fields("obs_id")[:], dset.fields("event_id")[:])
    order = np.argsort(keys, kind="stable")
    return keys[order], order


def _quantity(table: QTable, name: str, unit: str) -> np.ndarray:
    column = table[name]
    return column.to_value(unit) if hasattr(column, "unit") and column.unit else np.asarray(column)


def read_fields(
    h5file: h5py.File,
    path: str,
    names: Sequence[str],
    start: int | None = None,
    stop: int | None = None,
) -> dict[str, np.ndarray | u.Quantity]:
    """Only the columns ``names`` of rows ``start:stop`` of a table (with their units): the
    reader's fast path, skipping the columns and the table object it does not need."""
    dset = h5file[path]
    units = json.loads(dset.attrs.get(UNITS_ATTR, "{}"))
    try:
        rows = read_columns(dset, names, start, stop)
    except (OSError, RuntimeError) as exc:
        raise InputFileError(
            f"cannot read {path} rows {start}:{stop} (truncated or corrupt file?): {exc}",
            path=h5file.filename,
        ) from None
    return {
        name: (u.Quantity(rows[name], units[name], copy=False) if name in units else rows[name])
        for name in names
    }


def _read_chunk(
    h5file: h5py.File, kinds: dict[str, str], start: int, stop: int
) -> dict[str, np.ndarray]:
    """The reconstructed columns of rows ``start:stop`` of every subarray table."""
    name = h5file.filename
    out: dict[str, np.ndarray] = {}
    valid = None
    for kind, algorithm in kinds.items():
        columns = ("obs_id", "event_id", *(f"{algorithm}_{c}" for c in _TABLE_COLUMNS[kind]))
        table = read_fields(h5file, layout.dl2_path(kind, algorithm), columns, start, stop)
        if "obs_id" not in out:
            out["obs_id"] = np.asarray(table["obs_id"], np.int64)
            out["event_id"] = np.asarray(table["event_id"], np.int64)
        elif not (
            np.array_equal(table["obs_id"], out["obs_id"])
            and np.array_equal(table["event_id"], out["event_id"])
        ):
            raise InputFileError(
                f"DL2 table {layout.dl2_path(kind, algorithm)} does not list the same events in "
                f"the same order as {layout.dl2_path('geometry', kinds['geometry'])}",
                path=name,
            )
        flag = np.asarray(table[f"{algorithm}_is_valid"], bool)
        valid = flag if valid is None else valid & flag
        if kind == "geometry":
            out["reco_alt"] = _quantity(table, f"{algorithm}_alt", "deg")
            out["reco_az"] = _quantity(table, f"{algorithm}_az", "deg")
            telescopes = np.asarray(table[f"{algorithm}_telescopes"], bool)
            n_rows = telescopes.shape[0]
            out["multiplicity"] = np.count_nonzero(telescopes.reshape(n_rows, -1), axis=1).astype(
                np.int16
            )
        elif kind == "energy":
            out["reco_energy"] = _quantity(table, f"{algorithm}_energy", "TeV")
        elif kind == "particle_type":
            out["gh_score"] = np.asarray(table[f"{algorithm}_prediction"], np.float64)
        else:
            out["event_type"] = np.asarray(table[f"{algorithm}_event_type"], np.int16)
    out["is_valid"] = valid
    if "event_type" not in out:
        out["event_type"] = np.zeros(out["obs_id"].size, np.int16)
    return out


def _pointing_from_runs(runs: QTable, obs_id: np.ndarray, path: str) -> tuple[np.ndarray, ...]:
    """Pointing alt/az [deg] of each event from the run table of its obs_id."""
    run_obs = np.asarray(runs["obs_id"], np.int64)
    if run_obs.size == 1 and np.all(obs_id == run_obs[0]):  # one run: no search
        where = np.zeros(obs_id.size, np.intp)
    else:
        where = _run_rows(run_obs, obs_id, path)
    zenith = _quantity(runs, "zenith", "deg")[where]
    azimuth = _quantity(runs, "azimuth", "deg")[where]
    return 90.0 - zenith, azimuth


def _run_rows(run_obs: np.ndarray, obs_id: np.ndarray, path: str) -> np.ndarray:
    """Row of the run table of each event's obs_id."""
    order = np.argsort(run_obs)
    where = order[np.clip(np.searchsorted(run_obs[order], obs_id), 0, len(order) - 1)]
    if obs_id.size and np.any(run_obs[where] != obs_id):
        missing = obs_id[run_obs[where] != obs_id][0]
        raise InputFileError(f"obs_id {missing} has no row in {layout.SIMULATION_RUN}", path=path)
    return where


def pointing_columns(h5file: h5py.File) -> tuple[str, str]:
    """Names of the altitude and azimuth columns of the pointing table."""
    names = h5file[layout.POINTING].dtype.names
    for alt, az in (("array_altitude", "array_azimuth"), ("altitude", "azimuth")):
        if alt in names and az in names:
            return alt, az
    raise InputFileError(
        f"pointing table {layout.POINTING} has no altitude/azimuth columns", path=h5file.filename
    )


def pointing_at(h5file: h5py.File, time_mjd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pointing alt/az [deg] at ``time_mjd`` (TAI), interpolated in the monitoring table."""
    if layout.POINTING not in h5file:
        raise InputFileError(f"has no pointing table {layout.POINTING}", path=h5file.filename)
    alt_name, az_name = pointing_columns(h5file)
    pointing = read_table(h5file, layout.POINTING)
    if len(pointing) == 0:
        raise InputFileError(f"pointing table {layout.POINTING} is empty", path=h5file.filename)
    times = pointing["time"].tai.mjd
    alt = _quantity(pointing, alt_name, "deg")
    az = np.rad2deg(np.unwrap(np.deg2rad(_quantity(pointing, az_name, "deg"))))
    return np.interp(time_mjd, times, alt), np.interp(time_mjd, times, az) % 360.0


def _event_times(h5file: h5py.File, keys: np.ndarray) -> np.ndarray:
    trigger_keys, order = _sorted_keys(h5file, layout.TRIGGER)
    where = _join(keys, trigger_keys, layout.TRIGGER, h5file.filename)
    times = h5file[layout.TRIGGER].fields("time")[:]
    return np.asarray(times, np.float64)[order][where]


@njit(cache=True, fastmath=False)
def angular_separation_deg(
    lon1: np.ndarray, lat1: np.ndarray, lon2: np.ndarray, lat2: np.ndarray
) -> np.ndarray:
    """Great-circle distance [deg] between (lon1, lat1) and (lon2, lat2) [deg], element-wise
    (Vincenty's formula, as astropy's ``angular_separation``; one pass, no temporaries)."""
    out = np.empty(lon1.size)
    to_rad = np.pi / 180.0
    for i in range(lon1.size):
        dlon = (lon2[i] - lon1[i]) * to_rad
        sin_lat1, cos_lat1 = np.sin(lat1[i] * to_rad), np.cos(lat1[i] * to_rad)
        sin_lat2, cos_lat2 = np.sin(lat2[i] * to_rad), np.cos(lat2[i] * to_rad)
        sin_dlon, cos_dlon = np.sin(dlon), np.cos(dlon)
        num1 = cos_lat2 * sin_dlon
        num2 = cos_lat1 * sin_lat2 - sin_lat1 * cos_lat2 * cos_dlon
        denominator = sin_lat1 * sin_lat2 + cos_lat1 * cos_lat2 * cos_dlon
        out[i] = np.arctan2(np.sqrt(num1 * num1 + num2 * num2), denominator) / to_rad
    return out


@njit(cache=True, fastmath=False)
def _separation(sin1: float, cos1: float, sin2: float, cos2: float, dlon: float) -> float:
    """Vincenty's formula of :func:`angular_separation_deg` from the latitudes' sines and
    cosines and the longitude difference [rad]; result in degrees."""
    sin_dlon, cos_dlon = np.sin(dlon), np.cos(dlon)
    num1 = cos2 * sin_dlon
    num2 = cos1 * sin2 - sin1 * cos2 * cos_dlon
    denominator = sin1 * sin2 + cos1 * cos2 * cos_dlon
    return np.arctan2(np.sqrt(num1 * num1 + num2 * num2), denominator) / (np.pi / 180.0)


@njit(cache=True, fastmath=False)
def _offsets_and_theta(
    reco_az: np.ndarray,
    reco_alt: np.ndarray,
    true_az: np.ndarray,
    true_alt: np.ndarray,
    pointing_az: np.ndarray,
    pointing_alt: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reco and true FoV offsets and theta [deg] in one pass, each latitude's sine and cosine
    computed once (the same values as three :func:`angular_separation_deg` calls)."""
    n = reco_az.size
    reco_offset, true_offset, theta = np.empty(n), np.empty(n), np.empty(n)
    to_rad = np.pi / 180.0
    for i in range(n):
        sin_r, cos_r = np.sin(reco_alt[i] * to_rad), np.cos(reco_alt[i] * to_rad)
        sin_t, cos_t = np.sin(true_alt[i] * to_rad), np.cos(true_alt[i] * to_rad)
        sin_p, cos_p = np.sin(pointing_alt[i] * to_rad), np.cos(pointing_alt[i] * to_rad)
        reco_offset[i] = _separation(
            sin_r, cos_r, sin_p, cos_p, (pointing_az[i] - reco_az[i]) * to_rad
        )
        true_offset[i] = _separation(
            sin_t, cos_t, sin_p, cos_p, (pointing_az[i] - true_az[i]) * to_rad
        )
        theta[i] = _separation(sin_r, cos_r, sin_t, cos_t, (true_az[i] - reco_az[i]) * to_rad)
    return reco_offset, true_offset, theta


def _add_directions(events: dict[str, np.ndarray | u.Quantity]) -> None:
    """FoV offsets and theta [deg] from the alt/az columns."""

    def deg(name: str) -> np.ndarray:
        return np.ascontiguousarray(events[name].to_value(u.deg), dtype=np.float64)

    reco_az, reco_alt = deg("reco_az"), deg("reco_alt")
    pointing_az, pointing_alt = deg("pointing_az"), deg("pointing_alt")
    if "true_alt" in events:
        true_az, true_alt = deg("true_az"), deg("true_alt")
        reco_offset, true_offset, theta = _offsets_and_theta(
            reco_az, reco_alt, true_az, true_alt, pointing_az, pointing_alt
        )
        events["reco_source_fov_offset"] = u.Quantity(reco_offset, u.deg, copy=False)
        events["true_source_fov_offset"] = u.Quantity(true_offset, u.deg, copy=False)
        events["theta"] = u.Quantity(theta, u.deg, copy=False)
    else:
        events["reco_source_fov_offset"] = u.Quantity(
            angular_separation_deg(reco_az, reco_alt, pointing_az, pointing_alt), u.deg, copy=False
        )


def read_events(
    path: str | Path,
    algorithms: DL2Algorithms | None = None,
    *,
    simulated: bool = True,
    chunk_size: int = 500_000,
) -> DL2Events:
    """All events of one DL2 product as a pyirf event table.

    ``simulated=True`` joins the shower truth and takes the pointing from the run table;
    ``simulated=False`` (observations) joins the trigger time (``time``, MJD TAI) and takes
    the pointing from the monitoring table at each event's time. Nothing is selected here
    (see :func:`quality_mask`). Raises :class:`InputFileError` for a missing table or column,
    events missing from the truth or trigger tables, or tables that disagree on the events.
    """
    algorithms = algorithms or DL2Algorithms()
    path = Path(path)
    kinds = _kinds(algorithms)
    with open_product(path, level="DL2") as h5file:
        check_dl2(h5file, algorithms, need_truth=simulated)
        n_rows = table_length(h5file, layout.dl2_path("geometry", algorithms.geometry))
        for kind, algorithm in kinds.items():
            n = table_length(h5file, layout.dl2_path(kind, algorithm))
            if n != n_rows:
                raise InputFileError(
                    f"DL2 table {layout.dl2_path(kind, algorithm)} has {n} rows, the geometry "
                    f"table {n_rows}",
                    path=path,
                )
        parts = [_read_chunk(h5file, kinds, a, b) for a, b in iter_chunks(n_rows, chunk_size)]
        columns = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]} if parts else None
        if columns is None:
            columns = _read_chunk(h5file, kinds, 0, 0)
        # columns built here and handed to the table without copies
        events: dict[str, np.ndarray | u.Quantity] = {
            "obs_id": columns["obs_id"],
            "event_id": columns["event_id"],
        }
        runs = shower_distribution = None
        particle = None
        if simulated:
            runs = read_table(h5file, layout.SIMULATION_RUN)
            if layout.SHOWER_DISTRIBUTION in h5file:
                shower_distribution = read_table(h5file, layout.SHOWER_DISTRIBUTION)
            names = h5file[layout.SHOWER].dtype.names
            wanted = (
                "obs_id",
                "event_id",
                "true_energy",
                "true_alt",
                "true_az",
                "true_shower_primary_id",
            )
            truth = read_fields(h5file, layout.SHOWER, [n for n in wanted if n in names])
            where = _truth_rows(truth, columns["obs_id"], columns["event_id"], str(path))
            for name, unit in (("true_energy", u.TeV), ("true_alt", u.deg), ("true_az", u.deg)):
                events[name] = u.Quantity(
                    _take(_quantity(truth, name, unit), where), unit, copy=False
                )
            if "true_shower_primary_id" in truth:
                events["true_shower_primary_id"] = _take(
                    np.asarray(truth["true_shower_primary_id"], np.int16), where
                )
            alt, az = _pointing_from_runs(runs, columns["obs_id"], str(path))
            particles = (
                {_decode(p) for p in runs["particle"]} if "particle" in runs.colnames else set()
            )
            particle = particles.pop() if len(particles) == 1 else None
        else:
            keys = _keys(columns["obs_id"], columns["event_id"])
            events["time"] = _event_times(h5file, keys)
            alt, az = pointing_at(h5file, np.asarray(events["time"]))
        events["reco_energy"] = u.Quantity(columns["reco_energy"], u.TeV, copy=False)
        events["gh_score"] = columns["gh_score"]
        events["reco_alt"] = u.Quantity(columns["reco_alt"], u.deg, copy=False)
        events["reco_az"] = u.Quantity(columns["reco_az"], u.deg, copy=False)
        events["pointing_alt"] = u.Quantity(alt, u.deg, copy=False)
        events["pointing_az"] = u.Quantity(az, u.deg, copy=False)
        events["event_type"] = columns["event_type"]
        events["multiplicity"] = columns["multiplicity"]
        events["is_valid"] = columns["is_valid"]
        _add_directions(events)
        return DL2Events(
            events=QTable(events, copy=False),
            paths=[path],
            particle=particle,
            model_set_id=model_set_id(h5file),
            obs_ids=sorted({int(i) for i in np.unique(columns["obs_id"])}),
            runs=runs,
            shower_distribution=shower_distribution,
        )


def read_particle(
    paths: Sequence[str | Path],
    particle: str,
    algorithms: DL2Algorithms | None = None,
    chunk_size: int = 500_000,
) -> DL2Events:
    """The events of the simulated DL2 runs ``paths`` of one particle, stacked.

    Every file must hold runs of ``particle`` and of one model set.
    """
    if not paths:
        raise InputFileError(f"no DL2 file given for the {particle}s")
    parts = [read_events(p, algorithms, simulated=True, chunk_size=chunk_size) for p in paths]
    for part in parts:
        if part.particle != particle:
            raise InputFileError(
                f"holds runs of {part.particle or 'mixed particles'}, expected {particle}",
                path=part.paths[0],
            )
    sets = {p.model_set_id for p in parts}
    if len(sets) > 1:
        raise InputFileError(
            f"DL2 files of several model sets ({', '.join(sorted(map(str, sets)))})",
            path=parts[0].paths[0],
        )
    if len(parts) == 1:  # nothing to stack (vstack would copy every column)
        return parts[0]
    return DL2Events(
        events=vstack([p.events for p in parts], metadata_conflicts="silent"),
        paths=[p.paths[0] for p in parts],
        particle=particle,
        model_set_id=parts[0].model_set_id,
        obs_ids=sorted({i for p in parts for i in p.obs_ids}),
        runs=vstack([p.runs for p in parts], metadata_conflicts="silent"),
        shower_distribution=(
            vstack([p.shower_distribution for p in parts], metadata_conflicts="silent")
            if all(p.shower_distribution is not None for p in parts)
            else None
        ),
    )


def quality_mask(events: QTable, quality: QualityCuts) -> np.ndarray:
    """Events passing the quality cuts: valid reconstruction, multiplicity, FoV offset."""
    mask = np.asarray(events["multiplicity"]) >= quality.min_multiplicity
    if quality.require_valid:
        mask &= np.asarray(events["is_valid"], bool)
    offset = events["reco_source_fov_offset"].to_value(u.deg)
    mask &= offset <= quality.max_fov_offset_deg
    mask &= np.isfinite(events["reco_energy"].to_value(u.TeV)) & np.isfinite(offset)
    return mask


def _run_value(runs: QTable, names: Sequence[str], unit: str | None) -> np.ndarray:
    for name in names:
        if name in runs.colnames:
            return _quantity(runs, name, unit) if unit else np.asarray(runs[name], np.float64)
    raise KeyError(names[0])


def simulation_info(data: DL2Events) -> tuple[object, bool]:
    """pyirf ``SimulatedEventsInfo`` of the runs of ``data`` and whether they are diffuse.

    The runs must share energy range, spectral index, scatter radius and view cone (they are
    one production); the thrown showers are summed. When the files carry the shower histogram,
    its count of thrown showers must agree with the run tables.
    """
    from pyirf.simulations import SimulatedEventsInfo

    runs = data.runs
    where = data.paths[0]
    if runs is None or len(runs) == 0:
        raise InputFileError(f"has no simulated runs in {layout.SIMULATION_RUN}", path=where)
    try:
        values = {
            "energy_min": _run_value(runs, ["energy_min"], "TeV"),
            "energy_max": _run_value(runs, ["energy_max"], "TeV"),
            "spectral_index": _run_value(runs, ["spectral_index"], None),
            "max_impact": _run_value(runs, ["max_scatter_range"], "m"),
            "viewcone_min": _run_value(runs, ["min_viewcone_radius", "viewcone_min"], "deg"),
            "viewcone_max": _run_value(runs, ["max_viewcone_radius", "viewcone_max"], "deg"),
        }
        n_showers = np.asarray(runs["n_showers"], np.int64)
    except KeyError as exc:
        raise InputFileError(
            f"run table {layout.SIMULATION_RUN} has no column {exc.args[0]}", path=where
        ) from None
    for name, value in values.items():
        if not np.allclose(value, value[0], rtol=1e-6, atol=1e-9):
            raise InputFileError(
                f"the runs differ in {name} ({value.min()} … {value.max()}); IRFs need runs of "
                "one production",
                path=where,
            )
    if data.shower_distribution is not None and "n_entries" in data.shower_distribution.colnames:
        counted = int(np.sum(data.shower_distribution["n_entries"]))
        if counted != int(n_showers.sum()):
            raise InputFileError(
                f"{layout.SHOWER_DISTRIBUTION} counts {counted} thrown showers, the run table "
                f"{int(n_showers.sum())}",
                path=where,
            )
    viewcone_min, viewcone_max = values["viewcone_min"][0], values["viewcone_max"][0]
    diffuse = viewcone_max - viewcone_min > 1e-6
    if not diffuse and "source_offset" in runs.colnames:
        viewcone_min = viewcone_max = float(_quantity(runs, "source_offset", "deg")[0])
    info = SimulatedEventsInfo(
        n_showers=int(n_showers.sum()),
        energy_min=values["energy_min"][0] * u.TeV,
        energy_max=values["energy_max"][0] * u.TeV,
        max_impact=values["max_impact"][0] * u.m,
        spectral_index=float(values["spectral_index"][0]),
        viewcone_min=viewcone_min * u.deg,
        viewcone_max=viewcone_max * u.deg,
    )
    return info, bool(diffuse)


def target_spectrum(particle: str, spectra: object) -> object:
    """The pyirf spectrum ``particle`` is weighted to (names from the configuration)."""
    import pyirf.spectral

    return getattr(pyirf.spectral, getattr(spectra, particle))


def add_weights(data: DL2Events, spectra: object, observation_time: u.Quantity) -> object:
    """Add the ``weight`` column (events expected in ``observation_time`` from the particle's
    physical spectrum); return the SimulatedEventsInfo. Diffuse gammas are weighted as if they
    all came from the source (the Crab flux spread over their view cone)."""
    from pyirf.spectral import PowerLaw, calculate_event_weights

    info, diffuse = simulation_info(data)
    simulated = PowerLaw.from_simulation(info, obstime=observation_time)
    target = target_spectrum(data.particle, spectra)
    if data.particle == "gamma":
        if diffuse:
            simulated = simulated.integrate_cone(info.viewcone_min, info.viewcone_max)
    elif not diffuse:
        raise InputFileError(
            f"{data.particle}s must be simulated diffuse (a view cone) to estimate background",
            path=data.paths[0],
        )
    data.events["weight"] = calculate_event_weights(data.events["true_energy"], target, simulated)
    return info
