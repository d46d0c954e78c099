"""Products for the quality tests: a rate step in a simulated run's trigger times, and DL3
event lists with a chosen source-rate history."""

from __future__ import annotations

from pathlib import Path

import numpy as np

#: the DL3 time reference of :func:`write_dl3`: 2000-01-01 (TT)
MJDREF = 51544.0


def squeeze_times(path: Path, fraction_of_events: float, fraction_of_time: float) -> None:
    """Move the first ``fraction_of_events`` of the trigger times into the first
    ``fraction_of_time`` of the span (the rest spread over the remainder): a rate step."""
    import h5py
    import hdf5plugin  # noqa: F401  (the products' compression filters)

    from datapipe_ops.io import layout

    with h5py.File(path, "r+") as h5file:
        dset = h5file[layout.TRIGGER]
        rows = dset[:]
        order = np.argsort(rows["time"])
        t = rows["time"][order]
        t0, span = t[0], t[-1] - t[0]
        n_first = int(len(t) * fraction_of_events)
        new = np.empty_like(t)
        new[:n_first] = t0 + np.linspace(0, fraction_of_time, n_first, endpoint=False) * span
        new[n_first:] = t0 + np.linspace(fraction_of_time, 1.0, len(t) - n_first) * span
        rows["time"][order] = new
        dset[...] = rows


def write_dl3(
    path: Path,
    obs_id: int,
    start_s: float,
    duration_s: float = 1200.0,
    background_hz: float = 2.0,
    source_hz: tuple[float, float] = (0.5, 0.5),
    seed: int = 0,
) -> Path:
    """A DL3 event list: background uniform within 2° of the pointing, source events at the
    target with rate ``source_hz[0]`` in the first half of the observation and ``[1]`` in the
    second; the pointing is 0.5° north of the target (wobble)."""
    from astropy.io import fits
    from astropy.table import Table

    rng = np.random.default_rng(seed)
    target = (83.63, 22.01)
    pointing = (83.63, 22.51)
    half = duration_s / 2
    times, ras, decs = [], [], []
    n_bkg = rng.poisson(background_hz * duration_s)
    r = 2.0 * np.sqrt(rng.uniform(size=n_bkg))
    phi = rng.uniform(0, 2 * np.pi, n_bkg)
    times.append(rng.uniform(0, duration_s, n_bkg))
    decs.append(pointing[1] + r * np.sin(phi))
    ras.append(pointing[0] + r * np.cos(phi) / np.cos(np.radians(decs[-1])))
    for part, rate in enumerate(source_hz):
        n = rng.poisson(rate * half)
        times.append(rng.uniform(part * half, (part + 1) * half, n))
        ras.append(target[0] + rng.normal(0, 0.03, n))
        decs.append(target[1] + rng.normal(0, 0.03, n))
    time = np.concatenate(times)
    order = np.argsort(time)
    events = Table(
        {
            "EVENT_ID": np.arange(1, time.size + 1),
            "TIME": start_s + time[order],
            "RA": np.concatenate(ras)[order],
            "DEC": np.concatenate(decs)[order],
        }
    )
    header = {
        "OBS_ID": obs_id, "MJDREFI": int(MJDREF), "MJDREFF": MJDREF % 1, "TIMESYS": "TT",
        "RA_OBJ": target[0], "DEC_OBJ": target[1], "RA_PNT": pointing[0], "DEC_PNT": pointing[1],
    }  # fmt: skip
    events_hdu = fits.BinTableHDU(events, name="EVENTS")
    events_hdu.header.update(header)
    gti = fits.BinTableHDU(Table({"START": [start_s], "STOP": [start_s + duration_s]}), name="GTI")
    primary = fits.PrimaryHDU()
    primary.header["DPKIND"] = "DL3"
    fits.HDUList([primary, events_hdu, gti]).writeto(path)
    return path
