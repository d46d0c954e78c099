"""The metrics of one product per data level: :func:`measure` (see docs/quality.md).

* **DL0** per telescope, from the first ``pedestal_samples`` samples of every waveform:
  pedestal level and its drift over time, noise and its variability, dead and hot pixels (noise
  far below / above the camera median), trigger rate and its variability.
* **DL1** per telescope, from the image parameters: fraction of valid images, mean intensity
  and its variability over time, cosmic-ray rate (images above ``cosmic_min_intensity``) and its
  variability, trigger rate and its variability; dead and hot pixels when the product has images.
* **DL2**: fraction of valid reconstructions per algorithm, event rate and its variability.
* **DL3**: event rate over the good time intervals and its variability, excess rate (on region
  around the target minus the mirrored off region) and its variability.

Everything is read in chunks of ``chunk_size`` events.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from datapipe_ops.errors import InputFileError
from datapipe_ops.io import layout, open_product
from datapipe_ops.quality.config import QualityConfig
from datapipe_ops.quality.kernels import clipped_charge_moments, pedestal_window_stats
from datapipe_ops.quality.metrics import (
    Metric,
    binned_mean_variability,
    excess_variability,
    metric,
    n_time_bins,
    per_telescope,
    rate_variability,
    time_bins,
)
from datapipe_ops.quality.reading import (
    SECONDS_PER_DAY,
    EventTimes,
    event_times,
    iter_columns,
    read_columns,
)

LEVELS = ("DL0", "DL1", "DL2", "DL3")


@dataclass
class Measurement:
    """The metrics of one product and what the catalog should know of its time range."""

    level: str
    metrics: list[Metric] = field(default_factory=list)
    obs_id: int | None = None
    time_start: datetime | None = None
    time_stop: datetime | None = None


def measure(
    path: Path, level: str, config: QualityConfig, coefficients: Path | None = None
) -> Measurement:
    """The metrics of the ``level`` product at ``path``; for DL0 with the CalibPipe
    ``coefficients`` product, also the pedestal's deviation from theirs."""
    level = level.upper()
    if level == "DL3":
        return measure_dl3(path, config)
    with open_product(path, level=level) as h5file:
        times = event_times(h5file, config.chunk_size)
        if level == "DL0":
            measured = _dl0(h5file, times, config, coefficients)
        else:
            measured = {"DL1": _dl1, "DL2": _dl2}[level](h5file, times, config)
        obs_id = h5file.attrs.get("obs_id")
    result = Measurement(level, measured, None if obs_id is None else int(obs_id))
    if times.mjd.size:
        result.time_start, result.time_stop = _utc(times.start_mjd), _utc(times.stop_mjd)
    return result


def _utc(mjd: float) -> datetime:
    from astropy.time import Time

    return Time(mjd, format="mjd", scale="tai").utc.to_datetime()


def _common(times: EventTimes, config: QualityConfig) -> list[Metric]:
    rate, variability = rate_variability(times.seconds(times.mjd), 0.0, times.duration_s, config)
    return [
        metric("n_events", times.mjd.size, None, config),
        metric("event_rate", rate, "Hz", config),
        metric("event_rate_variability", variability, None, config),
    ]


def _tel_times(h5file, group: str, tel: int, times: EventTimes, chunk: int) -> np.ndarray:
    ids = np.concatenate(
        [
            np.asarray(rows["event_id"], np.int64)
            for rows in iter_columns(h5file[layout.tel_path(group, tel)], ["event_id"], chunk)
        ]
        or [np.zeros(0, np.int64)]
    )
    return times.seconds(times.of(ids, h5file.filename))


def _pixel_flags(noise: np.ndarray, config: QualityConfig) -> tuple[float, float]:
    """Fractions of dead and hot pixels of one camera from each pixel's noise."""
    median = float(np.median(noise)) if noise.size else math.nan
    if not median > 0:
        return (1.0 if noise.size else math.nan), 0.0
    dead = np.mean(noise < config.dead_noise_ratio * median)
    hot = np.mean(noise > config.hot_noise_ratio * median)
    return float(dead), float(hot)


# --------------------------------------------------------------------------------------------
# DL0


def _dl0(h5file, times: EventTimes, config: QualityConfig, coefficients=None) -> list[Metric]:
    tel_ids = layout.tel_ids_in(h5file, layout.WAVEFORMS)
    calibration = {}
    if coefficients is not None and tel_ids and times.mjd.size:
        from astropy.time import Time

        from datapipe_ops.io.coefficients import load_coefficients

        span = Time([times.start_mjd, times.stop_mjd], format="mjd", scale="tai")
        calibration = load_coefficients(coefficients, tel_ids, span[0], span[1])
    values: dict[str, dict[int, float]] = {}
    for tel in tel_ids:
        measured = _dl0_telescope(h5file, tel, times, config, calibration.get(tel))
        for name, value in measured.items():
            values.setdefault(name, {})[tel] = value
    units = {"pedestal_mean": "adu", "pedestal_drift": "adu", "noise_rms": "adu",
             "trigger_rate": "Hz", "pedestal_offset_deviation": "adu"}  # fmt: skip
    metrics = _common(times, config)
    for name, per_tel in values.items():
        metrics += per_telescope(name, per_tel, units.get(name), config)
    return metrics


def _dl0_telescope(
    h5file, tel: int, times: EventTimes, config: QualityConfig, calibration=None
) -> dict:
    dset = h5file[layout.tel_path(layout.WAVEFORMS, tel)]
    if dset.ndim == 4:  # (events, channels, pixels, samples): the high-gain channel
        shape = (dset.shape[0], dset.shape[2], dset.shape[3])
    elif dset.ndim == 3:
        shape = dset.shape
    else:
        raise InputFileError(f"{dset.name} has {dset.ndim} dimensions, not 3 or 4",
                             path=h5file.filename)  # fmt: skip
    n_events, n_pixels, n_samples = shape
    if n_samples < config.pedestal_samples:
        raise InputFileError(
            f"{dset.name}: {n_samples} samples per waveform, fewer than pedestal_samples "
            f"({config.pedestal_samples})",
            path=h5file.filename,
        )
    mean_sum, std_sum = np.zeros(n_pixels), np.zeros(n_pixels)
    pedestal, noise = np.empty(n_events), np.empty(n_events)
    for start in range(0, n_events, config.chunk_size):
        stop = min(start + config.chunk_size, n_events)
        try:
            chunk = dset[start:stop] if dset.ndim == 3 else dset[start:stop, 0]
        except (OSError, RuntimeError) as exc:
            raise InputFileError(f"cannot read {dset.name} rows {start}:{stop}: {exc}",
                                 path=h5file.filename) from None  # fmt: skip
        pedestal_window_stats(
            chunk,
            config.pedestal_samples,
            mean_sum,
            std_sum,
            pedestal[start:stop],
            noise[start:stop],
        )
    seconds = _tel_times(h5file, layout.DL0_TEL_INDEX, tel, times, config.chunk_size * 100)
    if seconds.size != n_events:
        raise InputFileError(
            f"{dset.name} has {n_events} events, its index {seconds.size}", path=h5file.filename
        )
    dead, hot = _pixel_flags(std_sum / max(n_events, 1), config)
    rate, rate_var = rate_variability(seconds, 0.0, times.duration_s, config)
    result = (
        {}
        if calibration is None
        else _against_calibration(mean_sum / max(n_events, 1), calibration, h5file.filename)
    )
    return result | {
        "pedestal_mean": float(pedestal.mean()) if n_events else math.nan,
        "pedestal_drift": _drift(seconds, pedestal, times.duration_s, config),
        "noise_rms": float(noise.mean()) if n_events else math.nan,
        "noise_variability": binned_mean_variability(seconds, noise, 0.0, times.duration_s, config),
        "dead_pixel_fraction": dead,
        "hot_pixel_fraction": hot,
        "trigger_rate": rate,
        "trigger_rate_variability": rate_var,
    }


def _against_calibration(pedestal: np.ndarray, calibration, path) -> dict:
    """The measured per-pixel pedestal against CalibPipe's (high-gain channel): the median
    absolute deviation over the pixels CalibPipe did not mask, and the masked fraction."""
    reference = np.asarray(calibration.pedestal_offset)[0]
    masked = np.asarray(calibration.outlier_mask)[0].astype(bool)
    if reference.shape != pedestal.shape:
        raise InputFileError(
            f"telescope {calibration.tel_id}: {reference.size} pixels in the coefficients, "
            f"{pedestal.size} in the waveforms",
            path=path,
        )
    deviation = np.abs(pedestal - reference)[~masked]
    return {
        "pedestal_offset_deviation": float(np.median(deviation)) if deviation.size else math.nan,
        "calibration_outlier_fraction": float(masked.mean()),
    }


def _drift(seconds: np.ndarray, values: np.ndarray, duration: float, config) -> float:
    """Largest minus smallest mean of ``values`` over the time bins."""
    n_bins = n_time_bins(len(values), config)
    if not n_bins:
        return math.nan
    index = time_bins(seconds, 0.0, duration, n_bins)
    inside = index >= 0
    counts = np.bincount(index[inside], minlength=n_bins)
    sums = np.bincount(index[inside], values[inside], minlength=n_bins)
    means = sums[counts > 0] / counts[counts > 0]
    return float(means.max() - means.min()) if means.size >= 2 else math.nan


# --------------------------------------------------------------------------------------------
# DL1

_DL1_COLUMNS = ("event_id", "hillas_intensity", "is_valid")


def _dl1(h5file, times: EventTimes, config: QualityConfig) -> list[Metric]:
    values: dict[str, dict[int, float]] = {}
    for tel in layout.tel_ids_in(h5file, layout.DL1_PARAMETERS):
        for name, value in _dl1_telescope(h5file, tel, times, config).items():
            values.setdefault(name, {})[tel] = value
    units = {"mean_intensity": "ph", "cosmic_rate": "Hz", "trigger_rate": "Hz"}
    metrics = _common(times, config)
    for name, per_tel in values.items():
        metrics += per_telescope(name, per_tel, units.get(name), config)
    return metrics


def _dl1_telescope(h5file, tel: int, times: EventTimes, config: QualityConfig) -> dict:
    dset = h5file[layout.tel_path(layout.DL1_PARAMETERS, tel)]
    parts = list(iter_columns(dset, _DL1_COLUMNS, config.chunk_size * 100))
    rows = np.concatenate(parts) if parts else read_columns(dset, _DL1_COLUMNS, 0, 0)
    seconds = times.seconds(times.of(np.asarray(rows["event_id"], np.int64), h5file.filename))
    valid = np.asarray(rows["is_valid"], bool)
    intensity = np.asarray(rows["hillas_intensity"], np.float64)
    valid &= np.isfinite(intensity)
    span = times.duration_s
    bright = valid & (intensity > config.cosmic_min_intensity)
    rate, rate_var = rate_variability(seconds, 0.0, span, config)
    cosmic, cosmic_var = rate_variability(seconds[bright], 0.0, span, config)
    result = {
        "valid_image_fraction": float(valid.mean()) if valid.size else math.nan,
        "mean_intensity": float(intensity[valid].mean()) if valid.any() else math.nan,
        "intensity_variability": binned_mean_variability(
            seconds[valid], intensity[valid], 0.0, span, config
        ),
        "cosmic_rate": cosmic,
        "cosmic_rate_variability": cosmic_var,
        "trigger_rate": rate,
        "trigger_rate_variability": rate_var,
    }
    images = layout.tel_path(layout.DL1_IMAGES, tel)
    if images in h5file and "image" in (h5file[images].dtype.names or ()):
        result["dead_pixel_fraction"], result["hot_pixel_fraction"] = _dl1_pixels(
            h5file[images], config
        )
    return result


def _dl1_pixels(dset, config: QualityConfig) -> tuple[float, float]:
    """Dead and hot pixels of one camera from its DL1 images: each pixel's charge spread over
    the events, the charge clipped at 10 p.e. so that shower light barely counts."""
    sums, squares, n_events = None, None, 0
    for rows in iter_columns(dset, ["image"], config.chunk_size):
        images = np.ascontiguousarray(rows["image"], dtype=np.float32)
        if sums is None:
            sums, squares = np.zeros(images.shape[1]), np.zeros(images.shape[1])
        clipped_charge_moments(images, 10.0, sums, squares)
        n_events += images.shape[0]
    if sums is None or n_events < 2:
        return math.nan, math.nan
    mean = sums / n_events
    variance = np.clip(squares / n_events - mean**2, 0.0, None)
    return _pixel_flags(np.sqrt(variance), config)


# --------------------------------------------------------------------------------------------
# DL2


def _dl2(h5file, times: EventTimes, config: QualityConfig) -> list[Metric]:
    fractions: dict[str, float] = {}
    valid_ids = None
    for kind in ("geometry", "energy", "particle_type"):
        group = f"{layout.DL2_SUBARRAY}/{kind}"
        if group not in h5file:
            continue
        for algorithm in sorted(h5file[group]):
            if algorithm.endswith("__table_column_meta__"):
                continue
            dset = h5file[f"{group}/{algorithm}"]
            columns = ("event_id", f"{algorithm}_is_valid")
            parts = list(iter_columns(dset, columns, config.chunk_size * 100))
            rows = np.concatenate(parts) if parts else read_columns(dset, columns, 0, 0)
            valid = np.asarray(rows[columns[1]], bool)
            fractions[f"{kind}_{algorithm}"] = float(valid.mean()) if valid.size else math.nan
            if kind == "geometry" and valid_ids is None:
                valid_ids = np.asarray(rows["event_id"][valid], np.int64)
    if not fractions:
        raise InputFileError(f"has no DL2 table under {layout.DL2_SUBARRAY}", path=h5file.filename)
    metrics = _common(times, config)
    metrics += _named_minimum("valid_reconstruction_fraction", fractions, config)
    if valid_ids is not None:
        seconds = times.seconds(times.of(np.sort(valid_ids), h5file.filename))
        rate, variability = rate_variability(seconds, 0.0, times.duration_s, config)
        metrics += [
            metric("reconstructed_rate", rate, "Hz", config),
            metric("reconstructed_rate_variability", variability, None, config),
        ]
    return metrics


def _named_minimum(name: str, values: dict[str, float], config: QualityConfig) -> list[Metric]:
    """``<name>`` (the smallest value) and one ``<name>.<key>`` per value."""
    finite = [v for v in values.values() if not math.isnan(v)]
    overall = min(finite) if finite else math.nan
    return [
        metric(name, overall, None, config),
        *(metric(f"{name}.{key}", v, None, config) for key, v in sorted(values.items())),
    ]


# --------------------------------------------------------------------------------------------
# DL3


def measure_dl3(path: Path, config: QualityConfig) -> Measurement:
    """The metrics of a DL3 event list (GADF FITS: EVENTS and GTI)."""
    from astropy.io import fits

    try:
        with fits.open(path, memmap=True) as hdus:
            if hdus[0].header.get("DPKIND") != "DL3":
                raise InputFileError("is not a DataPipe DL3 product (no DPKIND = DL3)", path=path)
            names = [h.name for h in hdus]
            for required in ("EVENTS", "GTI"):
                if required not in names:
                    raise InputFileError(f"has no {required} HDU", path=path)
            header = dict(hdus["EVENTS"].header)
            events = {c: np.asarray(hdus["EVENTS"].data[c], np.float64)
                      for c in ("TIME", "RA", "DEC")}  # fmt: skip
            gti = (np.asarray(hdus["GTI"].data["START"], np.float64),
                   np.asarray(hdus["GTI"].data["STOP"], np.float64))  # fmt: skip
    except InputFileError:
        raise
    except (OSError, KeyError, TypeError, ValueError) as exc:
        raise InputFileError(f"not a readable DL3 event list ({exc})", path=path) from None
    metrics = _dl3_metrics(events, gti, header, config)
    result = Measurement("DL3", metrics, int(header["OBS_ID"]) if "OBS_ID" in header else None)
    if gti[0].size and "MJDREFI" in header:
        reference = float(header["MJDREFI"]) + float(header.get("MJDREFF", 0.0))
        scale = str(header.get("TIMESYS", "tt")).lower()
        result.time_start = _utc_from(reference + gti[0].min() / SECONDS_PER_DAY, scale)
        result.time_stop = _utc_from(reference + gti[1].max() / SECONDS_PER_DAY, scale)
    return result


def _utc_from(mjd: float, scale: str) -> datetime:
    from astropy.time import Time

    return Time(mjd, format="mjd", scale=scale).utc.to_datetime()


def gti_exposure(edges: np.ndarray, starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """Seconds of good time in each bin between consecutive ``edges``."""
    low, high = edges[:-1, None], edges[1:, None]
    overlap = np.minimum(high, stops[None, :]) - np.maximum(low, starts[None, :])
    return np.clip(overlap, 0.0, None).sum(axis=1)


def _dl3_metrics(events: dict, gti: tuple, header: dict, config: QualityConfig) -> list[Metric]:
    starts, stops = gti
    live = float(np.sum(stops - starts))
    time = events["TIME"]
    n_bins = n_time_bins(time.size, config)
    metrics = [
        metric("n_events", time.size, None, config),
        metric("event_rate", time.size / live if live > 0 else math.nan, "Hz", config),
    ]
    on, off = _on_off(events, header, config)
    variability = excess = excess_var = math.nan
    if n_bins and live > 0:
        edges = np.linspace(starts.min(), stops.max(), n_bins + 1)
        exposure = gti_exposure(edges, starts, stops)
        used = exposure > 0
        index = np.clip(np.searchsorted(edges, time, side="right") - 1, 0, n_bins - 1)
        counts = np.bincount(index, minlength=n_bins).astype(np.float64)
        rates = counts[used] / exposure[used]
        variability = excess_variability(rates, counts[used] / exposure[used] ** 2)
        if on is not None:
            n_on = np.bincount(index[on], minlength=n_bins)[used].astype(np.float64)
            n_off = np.bincount(index[off], minlength=n_bins)[used].astype(np.float64)
            excess_rates = (n_on - n_off) / exposure[used]
            excess = float((n_on.sum() - n_off.sum()) / live)
            excess_var = excess_variability(excess_rates, (n_on + n_off) / exposure[used] ** 2)
    metrics.append(metric("event_rate_variability", variability, None, config))
    if on is not None:
        metrics += [
            metric("excess_rate", excess, "Hz", config),
            metric("excess_rate_variability", excess_var, None, config),
        ]
    return metrics


def _on_off(events: dict, header: dict, config: QualityConfig):
    """Events in the on region around the target and in the off region mirrored through the
    pointing (None, None when the header names no target or pointing)."""
    keys = ("RA_OBJ", "DEC_OBJ", "RA_PNT", "DEC_PNT")
    if any(header.get(k) is None for k in keys):
        return None, None
    from astropy import units as u
    from astropy.coordinates import SkyCoord

    target = SkyCoord(header["RA_OBJ"], header["DEC_OBJ"], unit="deg")
    pointing = SkyCoord(header["RA_PNT"], header["DEC_PNT"], unit="deg")
    off_centre = pointing.directional_offset_by(
        target.position_angle(pointing), target.separation(pointing)
    )
    coords = SkyCoord(events["RA"], events["DEC"], unit="deg")
    radius = config.on_radius_deg * u.deg
    return coords.separation(target) < radius, coords.separation(off_centre) < radius
