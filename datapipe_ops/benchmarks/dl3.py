"""DL3 benchmarks from the event lists (GADF ``EVENTS`` HDU): counts map around the pointing,
θ² distribution of the events around the target (ON) and around the position reflected
through the pointing (OFF) with the excess and its Li & Ma significance, and the event rate
over time of each observation."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits

from datapipe_ops.benchmarks.config import BenchmarkConfig
from datapipe_ops.benchmarks.figures import BenchmarkResult, Curve, Figure, histogram_curve
from datapipe_ops.errors import InputFileError


def check_inputs(paths: Sequence[Path]) -> None:
    """Every input is a FITS file with an ``EVENTS`` HDU holding RA, DEC, TIME, ENERGY and the
    target and pointing positions."""
    if not paths:
        raise InputFileError("no DL3 event list given")
    for path in paths:
        if not Path(path).is_file():
            raise InputFileError("file does not exist", path=path)
        try:
            with fits.open(path) as hdus:
                if "EVENTS" not in hdus:
                    raise InputFileError("has no EVENTS HDU (not a DL3 event list)", path=path)
                header, names = hdus["EVENTS"].header, hdus["EVENTS"].columns.names
        except OSError as exc:
            raise InputFileError(f"not a readable FITS file: {exc}", path=path) from None
        for column in ("RA", "DEC", "TIME", "ENERGY"):
            if column not in names:
                raise InputFileError(f"EVENTS has no column {column}", path=path)
        for card in ("RA_PNT", "DEC_PNT", "RA_OBJ", "DEC_OBJ"):
            if card not in header:
                raise InputFileError(f"EVENTS header has no {card}", path=path)


def li_ma_significance(n_on: float, n_off: float, alpha: float = 1.0) -> float:
    """Li & Ma (1983) eq. 17 significance of ``n_on`` over ``alpha * n_off``."""
    if n_on <= 0 or n_off <= 0:
        return 0.0
    term_on = n_on * np.log((1 + alpha) / alpha * n_on / (n_on + n_off))
    term_off = n_off * np.log((1 + alpha) * n_off / (n_on + n_off))
    value = np.sqrt(max(2.0 * (term_on + term_off), 0.0))
    return float(value if n_on >= alpha * n_off else -value)


def _rates(offsets: list[np.ndarray], per_obs: list[Curve], bin_s: float) -> list[Curve]:
    """The mean rate over all observations (compared between campaigns), and each
    observation's (up to 5)."""
    if not offsets:
        return []
    seconds = np.concatenate(offsets)
    edges = np.arange(max(1, int(np.ceil(seconds.max() / bin_s))) + 1) * bin_s
    counts, _ = np.histogram(seconds, edges)
    mean = Curve(
        "mean of all observations", edges[:-1] + bin_s / 2, counts / bin_s / len(offsets), counts
    )
    return [mean, *per_obs] if len(per_obs) <= 5 else [mean]


def dl3_benchmark(paths: Sequence[Path], config: BenchmarkConfig) -> BenchmarkResult:
    """The ``dl3`` benchmark of event lists (see the module docstring)."""
    check_inputs(paths)
    settings = config.dl3
    theta2_edges = np.linspace(0.0, settings.theta2_max_deg2, settings.theta2_bins + 1)
    half = settings.map_size_deg / 2
    map_edges = np.linspace(-half, half, settings.map_bins + 1)
    on_all, off_all, counts_map, rates = [], [], np.zeros((settings.map_bins,) * 2), []
    offsets = []
    livetime = 0.0
    for path in paths:
        with fits.open(path) as hdus:
            header, data = hdus["EVENTS"].header, hdus["EVENTS"].data
            events = SkyCoord(
                np.asarray(data["RA"], float) * u.deg, np.asarray(data["DEC"], float) * u.deg
            )
            time = np.asarray(data["TIME"], np.float64)
            livetime += float(header.get("LIVETIME", 0.0))
            obs_id = header.get("OBS_ID", Path(path).name)
        pointing = SkyCoord(header["RA_PNT"] * u.deg, header["DEC_PNT"] * u.deg)
        target = SkyCoord(header["RA_OBJ"] * u.deg, header["DEC_OBJ"] * u.deg)
        off = pointing.directional_offset_by(
            pointing.position_angle(target) + 180 * u.deg, pointing.separation(target)
        )
        on_all.append(events.separation(target).deg ** 2)
        off_all.append(events.separation(off).deg ** 2)
        lon, lat = pointing.spherical_offsets_to(events)
        counts_map += np.histogram2d(lat.deg, lon.deg, bins=(map_edges, map_edges))[0]
        if time.size:
            start = time.min()
            n_bins = max(1, int(np.ceil((time.max() - start) / settings.time_bin_s)))
            edges = start + np.arange(n_bins + 1) * settings.time_bin_s
            counts, _ = np.histogram(time, edges)
            offsets.append(time - start)
            rates.append(
                Curve(
                    f"obs {obs_id}",
                    (edges[:-1] - start) + settings.time_bin_s / 2,
                    counts / settings.time_bin_s,
                    counts,
                )
            )
    on, off = np.concatenate(on_all), np.concatenate(off_all)
    cut = settings.on_radius_deg**2
    n_on, n_off = float((on < cut).sum()), float((off < cut).sum())
    side = settings.map_bins
    centres = 0.5 * (map_edges[:-1] + map_edges[1:])
    figures = [
        Figure(
            "counts_map",
            "Counts map around the pointing",
            "RA offset [deg]",
            "Dec offset [deg]",
            None,
            style="map",
            curves=(
                Curve("counts", np.tile(centres, side), counts_map.ravel(), counts_map.ravel()),
            ),
        ),
        Figure(
            "theta2",
            "θ² around the target (ON) and the reflected position (OFF)",
            "θ² [deg²]",
            "events",
            None,
            style="step",
            curves=(
                histogram_curve("ON", on, theta2_edges),
                histogram_curve("OFF", off, theta2_edges),
            ),
        ),
        Figure(
            "event_rate",
            "Event rate over time",
            "time since the observation's first event [s]",
            "rate [Hz]",
            None,
            curves=tuple(_rates(offsets, rates, settings.time_bin_s)),
        ),
    ]
    numbers = {
        "n_events": float(on.size),
        "n_on": n_on,
        "n_off": n_off,
        "excess": n_on - n_off,
        "significance_li_ma": li_ma_significance(n_on, n_off),
        "livetime_s": livetime,
    }
    return BenchmarkResult("dl3", figures, numbers, {"on_radius_deg": settings.on_radius_deg})
