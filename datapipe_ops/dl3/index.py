"""The index files of a DL3 directory: ``hdu-index.fits.gz`` and ``obs-index.fits.gz`` (GADF).

:func:`add_observation` adds (or replaces) one observation's rows in both indexes. Several
tasks may finish observations of the same night at the same time: the update holds an
exclusive lock on ``<directory>/.index.lock`` (``fcntl.flock``) while it reads the current
indexes, changes them and writes each through a temporary file renamed into place, so an
index is always complete and no task's rows are lost. Readers never see a half-written file.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from astropy import units as u
from astropy.io import fits
from astropy.table import Table, vstack

from datapipe_ops.errors import InputFileError
from datapipe_ops.io.fits import write_fits

HDU_INDEX = "hdu-index.fits.gz"
OBS_INDEX = "obs-index.fits.gz"
LOCK_NAME = ".index.lock"

#: obs-index columns (name, unit) taken from the EVENTS header
OBS_COLUMNS = (
    ("OBS_ID", None),
    ("RA_PNT", u.deg),
    ("DEC_PNT", u.deg),
    ("ALT_PNT", u.deg),
    ("AZ_PNT", u.deg),
    ("ZEN_PNT", u.deg),
    ("ONTIME", u.s),
    ("LIVETIME", u.s),
    ("DEADC", None),
    ("TSTART", u.s),
    ("TSTOP", u.s),
    ("DATE-OBS", None),
    ("DATE-END", None),
    ("OBJECT", None),
    ("OBS_MODE", None),
    ("N_TELS", None),
    ("EV_COUNT", None),
)
#: header cards the obs index carries (GADF and gammapy's checker)
OBS_INDEX_CARDS = (
    "MJDREFI",
    "MJDREFF",
    "TIMEUNIT",
    "TIMESYS",
    "TIMEREF",
    "GEOLON",
    "GEOLAT",
    "ALTITUDE",
    "ORIGIN",
    "TELESCOP",
)


@contextmanager
def index_lock(directory: Path) -> Iterator[None]:
    """Hold the directory's index lock (exclusive) for the duration of the block."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / LOCK_NAME, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def read_index(path: Path) -> Table | None:
    """An index table, or None if the file does not exist yet."""
    if not path.exists():
        return None
    try:
        return Table.read(path, hdu=1)
    except (OSError, ValueError) as exc:
        raise InputFileError(f"unreadable index file: {exc}", path=path) from None


def _header(kind: str, cards: Mapping[str, Any]) -> dict[str, Any]:
    header = {
        "HDUCLASS": "GADF",
        "HDUDOC": "https://github.com/open-gamma-ray-astro/gamma-astro-data-formats",
        "HDUVERS": "0.3",
        "HDUCLAS1": "INDEX",
        "HDUCLAS2": kind,
    }
    header.update(cards)
    return header


def hdu_rows(obs_id: int, file_name: str, hdus: Sequence[tuple[str, str, str]]) -> Table:
    """HDU-index rows of one observation file: ``hdus`` is (HDU_TYPE, HDU_CLASS, HDU_NAME)."""
    n = len(hdus)
    return Table(
        {
            "OBS_ID": np.full(n, obs_id, np.int64),
            "HDU_TYPE": [h[0] for h in hdus],
            "HDU_CLASS": [h[1] for h in hdus],
            "FILE_DIR": ["."] * n,
            "FILE_NAME": [file_name] * n,
            "HDU_NAME": [h[2] for h in hdus],
        }
    )


def obs_row(header: fits.Header, n_events: int) -> Table:
    """The obs-index row of an observation, from its EVENTS header."""
    values = {"EV_COUNT": n_events, "ZEN_PNT": 90.0 - float(header["ALT_PNT"])}
    row = Table()
    for name, unit in OBS_COLUMNS:
        value = values.get(name, header.get(name))
        column = [value if value is not None else ""]
        row[name] = column if unit is None else column * unit
    row["OBS_ID"] = np.asarray(row["OBS_ID"], np.int64)
    return row


def _merge(old: Table | None, new: Table, obs_id: int) -> Table:
    if old is None:
        return new
    kept = old[np.asarray(old["OBS_ID"]) != obs_id]
    merged = vstack([kept, new], metadata_conflicts="silent")
    merged.sort("OBS_ID")
    return merged


def add_observation(
    directory: Path,
    obs_id: int,
    file_name: str,
    hdus: Sequence[tuple[str, str, str]],
    events_header: fits.Header,
    n_events: int,
) -> None:
    """Add (or replace) observation ``obs_id`` in the directory's two index files."""
    cards = {k: events_header[k] for k in OBS_INDEX_CARDS if k in events_header}
    with index_lock(directory):
        hdu_index = _merge(
            read_index(directory / HDU_INDEX), hdu_rows(obs_id, file_name, hdus), obs_id
        )
        obs_index = _merge(
            read_index(directory / OBS_INDEX), obs_row(events_header, n_events), obs_id
        )
        for table, name, kind, extra in (
            (hdu_index, HDU_INDEX, "HDU", {}),
            (obs_index, OBS_INDEX, "OBS", cards),
        ):
            hdu = fits.table_to_hdu(table)
            hdu.name = kind + "_INDEX"
            for key, value in _header(kind, extra).items():
                hdu.header[key] = value
            write_fits([fits.PrimaryHDU(), hdu], directory / name)


def indexed_obs_ids(directory: Path) -> list[int]:
    """The observations the directory's obs index lists."""
    table = read_index(directory / OBS_INDEX)
    return [] if table is None else sorted(int(i) for i in table["OBS_ID"])
