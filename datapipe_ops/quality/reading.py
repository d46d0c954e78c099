"""Reading what the metrics need from HDF5 products: selected columns, in chunks, and times.

Times in the products are MJD (TAI) floats; the metrics work in seconds since the first event.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import h5py
import numpy as np

from datapipe_ops.errors import InputFileError
from datapipe_ops.io import layout
from datapipe_ops.io.tables import iter_chunks

SECONDS_PER_DAY = 86400.0


def read_columns(
    dset: h5py.Dataset, names: Sequence[str], start: int | None = None, stop: int | None = None
) -> np.ndarray:
    """Columns ``names`` of rows ``start:stop`` of a table; a damaged or foreign table is one
    :class:`InputFileError`."""
    missing = [n for n in names if n not in (dset.dtype.names or ())]
    if missing:
        raise InputFileError(
            f"table {dset.name} has no column(s) {', '.join(missing)}", path=dset.file.filename
        )
    try:
        return dset.fields(list(names))[start:stop]
    except (OSError, RuntimeError) as exc:
        raise InputFileError(
            f"cannot read {dset.name} rows {start}:{stop} (truncated or corrupt file?): {exc}",
            path=dset.file.filename,
        ) from None


def iter_columns(dset: h5py.Dataset, names: Sequence[str], chunk_size: int) -> Iterator[np.ndarray]:
    """Columns ``names`` of the whole table, ``chunk_size`` rows at a time."""
    for start, stop in iter_chunks(dset.shape[0], chunk_size):
        yield read_columns(dset, names, start, stop)


@dataclass(frozen=True)
class EventTimes:
    """The subarray events of a product: ids sorted, their times [MJD TAI], the span."""

    event_id: np.ndarray
    mjd: np.ndarray

    @property
    def start_mjd(self) -> float:
        """The first event's time."""
        return float(self.mjd.min()) if self.mjd.size else float("nan")

    @property
    def stop_mjd(self) -> float:
        """The last event's time."""
        return float(self.mjd.max()) if self.mjd.size else float("nan")

    @property
    def duration_s(self) -> float:
        """Seconds from the first to the last event."""
        return (self.stop_mjd - self.start_mjd) * SECONDS_PER_DAY if self.mjd.size else 0.0

    def seconds(self, mjd: np.ndarray) -> np.ndarray:
        """Times as seconds since the first event."""
        return (np.asarray(mjd, np.float64) - self.start_mjd) * SECONDS_PER_DAY

    def of(self, event_id: np.ndarray, path: str) -> np.ndarray:
        """The times [MJD] of ``event_id`` (each must be a subarray event of the product)."""
        index = np.searchsorted(self.event_id, event_id)
        index = np.clip(index, 0, max(self.event_id.size - 1, 0))
        if self.event_id.size == 0 or np.any(self.event_id[index] != event_id):
            raise InputFileError("telescope events without a subarray trigger row", path=path)
        return self.mjd[index]


def event_times(h5file: h5py.File, chunk_size: int) -> EventTimes:
    """The subarray trigger table's event ids and times, sorted by event id."""
    if layout.TRIGGER not in h5file:
        raise InputFileError(f"has no trigger table {layout.TRIGGER}", path=h5file.filename)
    parts = list(iter_columns(h5file[layout.TRIGGER], ("event_id", "time"), chunk_size * 100))
    rows = np.concatenate(parts) if parts else np.zeros(0, [("event_id", "i8"), ("time", "f8")])
    order = np.argsort(rows["event_id"], kind="stable")
    return EventTimes(
        np.asarray(rows["event_id"][order], np.int64), np.asarray(rows["time"][order], np.float64)
    )
