"""Subarray events of a DL1, DL2 or merged product, streamed in chunks for reconstruction.

:class:`EventReader` walks the subarray trigger table (``/dl0/event/subarray/trigger``) in
chunks of ``chunk_size`` events and gives, per chunk, an :class:`EventChunk` of aligned numpy
arrays: the event ids, the trigger times, the array pointing of each event, per telescope the
rows of its parameter table that belong to the chunk (plus the rows of any telescope-wise table
written row by row beside it, such as DL2 impact distances), an event × telescope index into
those rows, and the simulation truth when the product has it. Memory is bounded by the chunk
size whatever the file size: each table is read once, front to back.

Usage::

    from datapipe_ops.io import open_product
    from datapipe_ops.reco.events import EventReader

    with open_product("gamma.dl1.h5", level=("DL1", "DL2")) as h5:
        reader = EventReader(h5, chunk_size=20000)
        reader.tel_types            # {tel_id: "LST_LST_LSTCam", ...}
        for chunk in reader:
            intensity = chunk.dense("hillas_intensity")     # (n_events, n_tels), NaN if absent
            lst = chunk.telescopes[1].rows["hillas_width"]  # rows of telescope 1 in the chunk
            chunk.telescopes[1].event_row                   # their event index in the chunk
            chunk.pointing_alt, chunk.pointing_az           # (n_events,) [deg]
            chunk.truth["true_energy"] if chunk.truth is not None else None

Alignment rules. Every table is matched to the trigger table by ``(obs_id, event_id)``:
telescope and truth tables must list their rows in the trigger table's order (a subsequence of
it, as every DataPipe stage and ``datapipe merge`` write them); a row that matches no trigger row
raises :class:`~datapipe_ops.errors.InputFileError`. Extra telescope-wise groups
(``telescope_groups``) must have exactly the rows of the parameter tables, in the same order.
Extra subarray tables (``subarray_tables``, e.g. a DL2 geometry table) have at most one row per
event, in trigger order; events without a row get NaN (floats), -1 (integers) or False.

Pointing: the array pointing monitoring table (``/dl0/monitoring/subarray/pointing``, columns
``array_altitude`` / ``array_azimuth``), interpolated at each event's time, or, for simulated
productions without it, the run's fixed pointing (``90° - zenith``, ``azimuth`` of
``/configuration/simulation/run``, by obs_id).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import h5py
import numpy as np

from datapipe_ops.errors import InputFileError
from datapipe_ops.instrument import SubarrayDescription
from datapipe_ops.io import layout
from datapipe_ops.io.instrument import read_subarray
from datapipe_ops.io.tables import iter_chunks, read_rows

#: subarray events per chunk unless told otherwise
DEFAULT_CHUNK_SIZE = 20000
#: event ids are combined with obs_ids into one int64 key: event_id < 2**40, obs_id < 2**23
_EVENT_BITS = 40
_ID_COLUMNS = ("obs_id", "event_id", "tel_id")


def event_keys(obs_id: np.ndarray, event_id: np.ndarray) -> np.ndarray:
    """One int64 per ``(obs_id, event_id)``, ordered as the pairs (for matching tables).

    Raises
    ------
    ValueError
        If an id is negative or too large to combine (event_id ≥ 2**40, obs_id ≥ 2**23).
    """
    obs = np.asarray(obs_id, dtype=np.int64)
    event = np.asarray(event_id, dtype=np.int64)
    if obs.size and (
        obs.min() < 0 or obs.max() >= 1 << 23 or event.min() < 0 or event.max() >= 1 << 40
    ):
        raise ValueError("obs_id or event_id out of the supported range")
    return (obs << _EVENT_BITS) | event


@dataclass(frozen=True)
class TelescopeRows:
    """The rows of one telescope's tables that belong to a chunk.

    Attributes
    ----------
    tel_id
        The telescope.
    rows
        Structured array: the columns of its DL1 parameter table (``obs_id``, ``event_id``,
        ``tel_id``, ``hillas_*`` … ``is_valid``) and of the extra telescope-wise tables.
    event_row
        int64, for each row the index of its event in the chunk.
    """

    tel_id: int
    rows: np.ndarray
    event_row: np.ndarray

    def __len__(self) -> int:
        return len(self.rows)


@dataclass(frozen=True)
class EventChunk:
    """A chunk of subarray events with everything reconstruction reads, as aligned arrays.

    Attributes
    ----------
    obs_id, event_id
        (n_events,) ids, in the trigger table's order.
    time
        (n_events,) float64 trigger time, MJD (TAI).
    tels_with_trigger
        (n_events, n_tels) bool, in subarray telescope order.
    pointing_alt, pointing_az
        (n_events,) array pointing [deg].
    tel_ids
        (n_tels,) int32, the subarray's telescopes in its order (the columns of the 2-d arrays).
    telescopes
        tel_id → :class:`TelescopeRows` (every telescope of the subarray; possibly empty).
    tel_index
        (n_events, n_tels) int64: row of ``telescopes[tel_ids[j]].rows`` holding event i's
        image parameters, -1 if the telescope has none for it.
    truth
        (n_events,) structured array of the shower table (``true_energy`` [TeV], ``true_alt``,
        ``true_az`` [deg], ``true_core_x``/``y`` [m], ``true_x_max``,
        ``true_shower_primary_id`` …), or None if the product has no simulation truth. Events
        without a shower row have NaN / -1.
    subarray
        Columns of the extra subarray tables, name → (n_events,) array.
    """

    obs_id: np.ndarray
    event_id: np.ndarray
    time: np.ndarray
    tels_with_trigger: np.ndarray
    pointing_alt: np.ndarray
    pointing_az: np.ndarray
    tel_ids: np.ndarray
    telescopes: dict[int, TelescopeRows]
    tel_index: np.ndarray
    truth: np.ndarray | None
    subarray: dict[str, np.ndarray]

    @property
    def n_events(self) -> int:
        """Number of subarray events in the chunk."""
        return int(self.obs_id.shape[0])

    def __len__(self) -> int:
        return self.n_events

    def dense(self, column: str, fill: float = np.nan, dtype: type = np.float64) -> np.ndarray:
        """``(n_events, n_tels)`` array of a telescope column, ``fill`` where there is no row."""
        out = np.full((self.n_events, len(self.tel_ids)), fill, dtype=dtype)
        for j, tel_id in enumerate(self.tel_ids):
            tel = self.telescopes[int(tel_id)]
            if len(tel):
                out[tel.event_row, j] = tel.rows[column]
        return out

    @property
    def has_image(self) -> np.ndarray:
        """``(n_events, n_tels)`` bool: the telescope has a parameter row for the event."""
        return self.tel_index >= 0


def _fill_value(dtype: np.dtype) -> object:
    if dtype.kind == "f":
        return np.nan
    if dtype.kind in "iu":
        return -1 if dtype.kind == "i" else 0
    if dtype.kind == "b":
        return False
    return dtype.type()


def _filled(dtype: np.dtype, n: int) -> np.ndarray:
    out = np.empty(n, dtype=dtype)
    for name in dtype.names or ():
        field = dtype[name]
        if field.shape:
            out[name] = _fill_value(field.base)
        else:
            out[name] = _fill_value(field)
    return out


class _OrderedTable:
    """A table whose rows follow the trigger order: hands out, per chunk, the rows of its events.

    Rows are read block by block; the rows of a chunk are the leading rows whose keys are among
    the chunk's keys (the first row that is not starts a later chunk).
    """

    def __init__(self, dset: h5py.Dataset, block: int, what: str) -> None:
        self.dset = dset
        self.block = max(int(block), 1)
        self.what = what
        self.position = 0
        self.buffer = dset[0:0]
        self.buffer_keys = np.zeros(0, np.int64)
        self.buffer_start = 0

    def _read_block(self) -> bool:
        n_rows = self.dset.shape[0]
        if self.position >= n_rows:
            return False
        stop = min(self.position + self.block, n_rows)
        rows = read_rows(self.dset, self.position, stop)
        if self.buffer.size == 0:
            self.buffer_start = self.position
        self.position = stop
        keys = _keys_of(rows, self.dset)
        self.buffer = np.concatenate([self.buffer, rows]) if self.buffer.size else rows
        self.buffer_keys = np.concatenate([self.buffer_keys, keys])
        return True

    def take(self, sorted_keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        """The rows of the chunk whose sorted keys are given: (rows, keys, first file row)."""
        while True:
            inside = _contains(sorted_keys, self.buffer_keys)
            n_inside = int(np.argmin(inside)) if not inside.all() else inside.size
            if n_inside < inside.size or not self._read_block():
                break
        start = self.buffer_start
        rows, keys = self.buffer[:n_inside], self.buffer_keys[:n_inside]
        self.buffer, self.buffer_keys = self.buffer[n_inside:], self.buffer_keys[n_inside:]
        self.buffer_start += n_inside
        return rows, keys, start

    def check_exhausted(self) -> None:
        """InputFileError if rows remain that matched no trigger row."""
        if self.buffer.size or self.position < self.dset.shape[0]:
            rows = self.buffer if self.buffer.size else read_rows(self.dset, self.position)
            raise InputFileError(
                f"{self.what} has rows not in the trigger table (or not in its order), first "
                f"obs_id {int(rows['obs_id'][0])} event_id {int(rows['event_id'][0])}",
                path=self.dset.file.filename,
            )


def _keys_of(rows: np.ndarray, dset: h5py.Dataset) -> np.ndarray:
    try:
        return event_keys(rows["obs_id"], rows["event_id"])
    except ValueError as exc:
        raise InputFileError(f"{dset.name}: {exc}", path=dset.file.filename) from None


def _contains(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    where = np.searchsorted(sorted_keys, keys)
    where = np.minimum(where, max(sorted_keys.size - 1, 0))
    if sorted_keys.size == 0:
        return np.zeros(keys.shape, dtype=bool)
    return sorted_keys[where] == keys


def _positions(sorted_keys: np.ndarray, order: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Event index in the chunk of each key (all known to be in the chunk)."""
    return order[np.searchsorted(sorted_keys, keys)]


def _join_columns(main: np.ndarray, extras: Sequence[np.ndarray]) -> np.ndarray:
    """One structured array with the fields of ``main`` then the new fields of ``extras``."""
    if not extras:
        return main
    fields = [(name, main.dtype[name]) for name in main.dtype.names]
    seen = set(main.dtype.names)
    for extra in extras:
        fields += [(n, extra.dtype[n]) for n in extra.dtype.names if n not in seen]
        seen.update(extra.dtype.names)
    out = np.empty(len(main), dtype=fields)
    for source in (main, *extras):
        for name in source.dtype.names:
            if name in out.dtype.names and (source is main or name not in _ID_COLUMNS):
                out[name] = source[name]
    return out


def _decode(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class _Pointing:
    """Array pointing [deg] of events, from the monitoring table or the simulation run table."""

    def __init__(self, h5file: h5py.File) -> None:
        self.table: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self.runs: dict[int, tuple[float, float]] = {}
        if layout.POINTING in h5file:
            rows = read_rows(h5file[layout.POINTING])
            names = rows.dtype.names
            alt_name = "array_altitude" if "array_altitude" in names else "altitude"
            az_name = "array_azimuth" if "array_azimuth" in names else "azimuth"
            if alt_name not in names or az_name not in names or len(rows) == 0:
                raise InputFileError(
                    f"{layout.POINTING} has no rows or no array_altitude/array_azimuth",
                    path=h5file.filename,
                )
            order = np.argsort(rows["time"], kind="stable")
            azimuth = np.rad2deg(np.unwrap(np.deg2rad(rows[az_name][order].astype(np.float64))))
            self.table = (
                rows["time"][order].astype(np.float64),
                rows[alt_name][order].astype(np.float64),
                azimuth,
            )
        elif layout.SIMULATION_RUN in h5file:
            rows = read_rows(h5file[layout.SIMULATION_RUN])
            for row in rows:
                self.runs[int(row["obs_id"])] = (
                    90.0 - float(row["zenith"]),
                    float(row["azimuth"]),
                )
        else:
            raise InputFileError(
                f"has no pointing (neither {layout.POINTING} nor {layout.SIMULATION_RUN})",
                path=h5file.filename,
            )
        self.filename = h5file.filename

    def at(self, obs_id: np.ndarray, time: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pointing altitude and azimuth [deg] of each event."""
        if self.table is not None:
            t, alt, az = self.table
            return np.interp(time, t, alt), np.mod(np.interp(time, t, az), 360.0)
        alt = np.empty(obs_id.shape, np.float64)
        az = np.empty(obs_id.shape, np.float64)
        for obs in np.unique(obs_id):
            if int(obs) not in self.runs:
                raise InputFileError(
                    f"obs_id {int(obs)} has no row in {layout.SIMULATION_RUN}", path=self.filename
                )
            mask = obs_id == obs
            alt[mask], az[mask] = self.runs[int(obs)]
        return alt, az


class EventReader:
    """Stream the subarray events of an open product in :class:`EventChunk` pieces.

    Parameters
    ----------
    h5file
        An open product (see :func:`datapipe_ops.io.open_product`) with a subarray description,
        a trigger table and DL1 parameter tables: a DL1, DL2 or merged product.
    chunk_size
        Subarray events per chunk.
    telescope_groups
        Extra telescope-wise groups (``tel_NNN`` tables with one row per parameter row) whose
        columns are joined to the parameter rows, e.g. ``/dl2/event/telescope/geometry/
        HillasIntersection``.
    subarray_tables
        Extra subarray tables (one row per event at most) whose columns go into
        :attr:`EventChunk.subarray`, e.g. ``/dl2/event/subarray/geometry/HillasIntersection``.
    with_truth
        Read ``/simulation/event/subarray/shower`` when present.

    Raises
    ------
    InputFileError
        When something is missing (trigger table, parameter tables, pointing, an extra table)
        or inconsistent; raised here, before any event is read, for everything that can be
        checked without reading the events.
    """

    def __init__(
        self,
        h5file: h5py.File,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        telescope_groups: Sequence[str] = (),
        subarray_tables: Sequence[str] = (),
        with_truth: bool = True,
    ) -> None:
        if chunk_size < 1:
            raise ValueError("chunk_size must be positive")
        self.h5 = h5file
        self.chunk_size = int(chunk_size)
        self.subarray: SubarrayDescription = read_subarray(h5file)
        self.tel_ids = self.subarray.tel_ids.copy()
        self.tel_types: dict[int, str] = {
            int(t): self.subarray.telescopes[int(t)].name for t in self.tel_ids
        }
        path = h5file.filename
        if layout.TRIGGER not in h5file:
            raise InputFileError(f"has no trigger table {layout.TRIGGER}", path=path)
        self.trigger = h5file[layout.TRIGGER]
        if self.trigger.dtype.names is None or "event_id" not in self.trigger.dtype.names:
            raise InputFileError(f"{layout.TRIGGER} is not an event table", path=path)
        tel_ids = layout.tel_ids_in(h5file, layout.DL1_PARAMETERS)
        if not tel_ids:
            raise InputFileError(
                f"has no DL1 image parameters ({layout.DL1_PARAMETERS}): not a DL1 product?",
                path=path,
            )
        unknown = sorted(set(tel_ids) - set(self.tel_types))
        if unknown:
            raise InputFileError(
                f"telescope(s) {unknown} have parameters but are not in the subarray", path=path
            )
        self.parameter_tel_ids = tel_ids
        self.telescope_groups = tuple(telescope_groups)
        for group in self.telescope_groups:
            for tel_id in tel_ids:
                name = layout.tel_path(group, tel_id)
                params = h5file[layout.tel_path(layout.DL1_PARAMETERS, tel_id)]
                if name not in h5file:
                    raise InputFileError(f"has no table {name}", path=path)
                if h5file[name].shape[0] != params.shape[0]:
                    raise InputFileError(
                        f"{name} has {h5file[name].shape[0]} rows, the parameters of telescope "
                        f"{tel_id} {params.shape[0]}",
                        path=path,
                    )
        self.subarray_tables = tuple(subarray_tables)
        for name in self.subarray_tables:
            if name not in h5file:
                raise InputFileError(f"has no table {name}", path=path)
        self.with_truth = with_truth and layout.SHOWER in h5file
        self.pointing = _Pointing(h5file)
        trigger_tel_ids = self.trigger.attrs.get("tel_ids")
        self.trigger_columns = (
            self.tel_ids if trigger_tel_ids is None else np.asarray(trigger_tel_ids, dtype=np.int32)
        )

    @property
    def n_events(self) -> int:
        """Number of subarray events (rows of the trigger table)."""
        return int(self.trigger.shape[0])

    def _tels_with_trigger(self, rows: np.ndarray) -> np.ndarray:
        out = np.zeros((len(rows), len(self.tel_ids)), dtype=bool)
        if "tels_with_trigger" not in rows.dtype.names:
            return out
        flags = np.asarray(rows["tels_with_trigger"], dtype=bool).reshape(len(rows), -1)
        lookup = {int(t): j for j, t in enumerate(self.tel_ids)}
        for k, tel_id in enumerate(self.trigger_columns[: flags.shape[1]]):
            if int(tel_id) in lookup:
                out[:, lookup[int(tel_id)]] = flags[:, k]
        return out

    def __iter__(self) -> Iterator[EventChunk]:
        h5 = self.h5
        block = self.chunk_size
        params = {
            t: _OrderedTable(
                h5[layout.tel_path(layout.DL1_PARAMETERS, t)], block, f"telescope {t} parameters"
            )
            for t in self.parameter_tel_ids
        }
        truth = _OrderedTable(h5[layout.SHOWER], block, layout.SHOWER) if self.with_truth else None
        extras = {name: _OrderedTable(h5[name], block, name) for name in self.subarray_tables}
        for start, stop in iter_chunks(self.n_events, self.chunk_size):
            yield self._chunk(read_rows(self.trigger, start, stop), params, truth, extras)
        for table in (*params.values(), *extras.values(), *([truth] if truth else [])):
            table.check_exhausted()

    def _chunk(
        self,
        trigger: np.ndarray,
        params: dict[int, _OrderedTable],
        truth: _OrderedTable | None,
        extras: dict[str, _OrderedTable],
    ) -> EventChunk:
        n = len(trigger)
        obs_id = trigger["obs_id"].astype(np.int64)
        event_id = trigger["event_id"].astype(np.int64)
        keys = _keys_of(trigger, self.trigger)
        order = np.argsort(keys, kind="stable")
        sorted_keys = keys[order]
        if sorted_keys.size > 1 and np.any(np.diff(sorted_keys) == 0):
            raise InputFileError(
                f"{layout.TRIGGER} has duplicate (obs_id, event_id) rows", path=self.h5.filename
            )
        time = trigger["time"].astype(np.float64)
        tel_index = np.full((n, len(self.tel_ids)), -1, dtype=np.int64)
        telescopes: dict[int, TelescopeRows] = {}
        for j, tel_id in enumerate(self.tel_ids):
            tel_id = int(tel_id)
            if tel_id not in params:
                empty = np.zeros(0, dtype=[(c, np.int64) for c in _ID_COLUMNS])
                telescopes[tel_id] = TelescopeRows(tel_id, empty, np.zeros(0, np.int64))
                continue
            rows, tel_keys, first = params[tel_id].take(sorted_keys)
            joined = [
                read_rows(self.h5[layout.tel_path(group, tel_id)], first, first + len(rows))
                for group in self.telescope_groups
            ]
            event_row = _positions(sorted_keys, order, tel_keys)
            telescopes[tel_id] = TelescopeRows(tel_id, _join_columns(rows, joined), event_row)
            tel_index[event_row, j] = np.arange(len(rows))
        truth_rows = None
        if truth is not None:
            rows, row_keys, _ = truth.take(sorted_keys)
            truth_rows = _filled(rows.dtype, n)
            truth_rows[_positions(sorted_keys, order, row_keys)] = rows
        subarray: dict[str, np.ndarray] = {}
        for table in extras.values():
            rows, row_keys, _ = table.take(sorted_keys)
            aligned = _filled(rows.dtype, n)
            aligned[_positions(sorted_keys, order, row_keys)] = rows
            for name in rows.dtype.names:
                if name not in ("obs_id", "event_id"):
                    subarray[name] = aligned[name]
        alt, az = self.pointing.at(obs_id, time)
        return EventChunk(
            obs_id=obs_id,
            event_id=event_id,
            time=time,
            tels_with_trigger=self._tels_with_trigger(trigger),
            pointing_alt=alt,
            pointing_az=az,
            tel_ids=self.tel_ids,
            telescopes=telescopes,
            tel_index=tel_index,
            truth=truth_rows,
            subarray=subarray,
        )
