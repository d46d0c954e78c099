"""DL0 and DL1 benchmarks, per telescope type (the layout's ``name``, e.g. ``LST_LST_LSTCam``).

DL0 (:func:`dl0_benchmark`): per pixel the pedestal (mean of the waveforms' leading
``baseline_samples``) and the noise (their standard deviation), the waveform peak positions of
pixels with signal (peak above pedestal + ``signal_threshold_sigma`` × noise), the trigger
rate over time and the trigger multiplicity (telescopes per subarray event).

DL1 (:func:`dl1_benchmark`): the image-parameter distributions (intensity, width, length,
leakage, concentration, pixels after cleaning), and with the simulation truth the
reconstructed against true charge (median of intensity / true charge and its 68 % spread per
true-charge bin) and the cleaning survival (fraction of images with at least ``min_pixels``
pixels after cleaning per true-charge bin).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np

from datapipe_ops.benchmarks.config import BenchmarkConfig
from datapipe_ops.benchmarks.figures import BenchmarkResult, Curve, Figure, histogram_curve
from datapipe_ops.errors import InputFileError
from datapipe_ops.io import layout, open_product, read_table

DL1_PARAMETERS = {
    # column: (figure title, axis label, edges, log10 of the values)
    "hillas_intensity": ("Image intensity", "log10(intensity / p.e.)", np.linspace(1, 5, 41), True),
    "hillas_width": ("Hillas width", "width [deg]", np.linspace(0, 0.3, 31), False),
    "hillas_length": ("Hillas length", "length [deg]", np.linspace(0, 0.6, 31), False),
    "leakage_intensity_width_2": (
        "Leakage (2 outer rows)",
        "intensity fraction",
        np.linspace(0, 1, 21),
        False,
    ),
    "concentration_cog": (
        "Concentration around the centre of gravity",
        "fraction",
        np.linspace(0, 1, 21),
        False,
    ),
    "morphology_n_pixels": ("Pixels after cleaning", "pixels", np.arange(0, 101, 4) - 0.5, False),
}
CHARGE_EDGES = np.logspace(1, 4, 13)  # true charge [p.e.]


def telescope_types(h5file: h5py.File) -> dict[int, str]:
    """{tel_id: telescope type name} from the subarray layout."""
    table = read_table(h5file, layout.SUBARRAY_LAYOUT)
    column = "name" if "name" in table.colnames else "type"
    return {int(t): str(n) for t, n in zip(table["tel_id"], table[column], strict=True)}


def _check(paths: Sequence[Path], level: str, group: str) -> None:
    if not paths:
        raise InputFileError(f"no {level} product given")
    for path in paths:
        with open_product(path, level=level) as h5file:
            if layout.SUBARRAY_LAYOUT not in h5file:
                raise InputFileError(f"has no table {layout.SUBARRAY_LAYOUT}", path=path)
            if not layout.tel_ids_in(h5file, group):
                raise InputFileError(f"has no telescope data under {group}", path=path)


def _pixel_statistics(waveforms: np.ndarray, baseline: int) -> tuple[np.ndarray, ...]:
    """(pedestal, noise) per pixel of (events, pixels, samples) waveforms, from the leading
    ``baseline`` samples."""
    lead = waveforms[:, :, :baseline].astype(np.float64)
    pedestal = lead.mean(axis=(0, 2))
    noise = lead.std(axis=(0, 2))
    return pedestal, noise


def dl0_benchmark(paths: Sequence[Path], config: BenchmarkConfig) -> BenchmarkResult:
    """The ``dl0`` benchmark (see the module docstring)."""
    import hdf5plugin  # noqa: F401  (the waveforms' Blosc filter)

    _check(paths, "DL0", layout.WAVEFORMS)
    settings = config.dl0
    pedestals: dict[str, list[np.ndarray]] = {}
    noises: dict[str, list[np.ndarray]] = {}
    peaks: dict[str, list[np.ndarray]] = {}
    n_samples = 1
    rate_curves, multiplicity, offsets = [], [], []
    for path in paths:
        with open_product(path, level="DL0") as h5file:
            types = telescope_types(h5file)
            for tel_id in layout.tel_ids_in(h5file, layout.WAVEFORMS):
                dataset = h5file[layout.tel_path(layout.WAVEFORMS, tel_id)]
                waveforms = dataset[: settings.max_events_per_telescope]
                if waveforms.ndim == 4:  # (events, channels, pixels, samples): high gain
                    waveforms = waveforms[:, 0]
                if waveforms.shape[0] == 0:
                    continue
                n_samples = max(n_samples, waveforms.shape[-1])
                pedestal, noise = _pixel_statistics(waveforms, settings.baseline_samples)
                name = types.get(tel_id, f"tel {tel_id}")
                pedestals.setdefault(name, []).append(pedestal)
                noises.setdefault(name, []).append(noise)
                peak = waveforms.argmax(axis=-1)
                height = waveforms.max(axis=-1) - pedestal
                signal = height > settings.signal_threshold_sigma * np.maximum(noise, 1e-3)
                peaks.setdefault(name, []).append(peak[signal])
            trigger = read_table(h5file, layout.TRIGGER)
        if len(trigger):
            seconds = (trigger["time"].mjd - trigger["time"].mjd.min()) * 86400.0
            n_bins = max(1, int(np.ceil(seconds.max() / settings.time_bin_s)))
            edges = np.arange(n_bins + 1) * settings.time_bin_s
            counts, _ = np.histogram(seconds, edges)
            obs = int(np.asarray(trigger["obs_id"])[0])
            rate_curves.append(
                Curve(
                    f"obs {obs}",
                    edges[:-1] + settings.time_bin_s / 2,
                    counts / settings.time_bin_s,
                    counts,
                )
            )
            multiplicity.append(np.asarray(trigger["tels_with_trigger"]).sum(axis=1))
            offsets.append(seconds)

    def spread(values: dict[str, list[np.ndarray]], step: float) -> list[Curve]:
        """Histograms on a grid of ``step`` (the same bins in every campaign)."""
        curves = []
        for name, parts in sorted(values.items()):
            data = np.concatenate(parts)
            low, high = np.percentile(data, [0.5, 99.5]) if data.size else (0.0, 1.0)
            first, last = int(np.floor(low / step)) - 2, int(np.ceil(high / step)) + 2
            edges = np.round(np.arange(first, last + 1) * step, 6)
            curves.append(histogram_curve(name, data, edges))
        return curves

    max_mult = max([int(m.max()) for m in multiplicity if m.size] + [1])
    all_mult = np.concatenate(multiplicity) if multiplicity else np.zeros(0)
    sample_edges = np.arange(n_samples + 1) - 0.5
    figures = [
        Figure(
            "pedestal",
            "Pedestal per pixel",
            "pedestal [ADC]",
            "pixels",
            None,
            "step",
            curves=tuple(spread(pedestals, 0.25)),
        ),
        Figure(
            "noise",
            "Noise per pixel (std of the leading samples)",
            "noise [ADC]",
            "pixels",
            None,
            "step",
            curves=tuple(spread(noises, 0.1)),
        ),
        Figure(
            "peak_position",
            "Waveform peak positions (pixels with signal)",
            "sample",
            "pixels",
            None,
            "step",
            curves=tuple(
                histogram_curve(n, np.concatenate(p), sample_edges)
                for n, p in sorted(peaks.items())
            ),
        ),
        Figure(
            "trigger_rate",
            "Subarray trigger rate",
            "time since the run's first event [s]",
            "rate [Hz]",
            None,
            curves=tuple(_rates(offsets, rate_curves, settings.time_bin_s)),
        ),
        Figure(
            "multiplicity",
            "Trigger multiplicity",
            "telescopes triggered",
            "events",
            None,
            "step",
            curves=(histogram_curve("all events", all_mult, np.arange(max_mult + 2) - 0.5),),
        ),
    ]
    numbers = {
        "n_events": float(all_mult.size),
        "mean_multiplicity": float(all_mult.mean()) if all_mult.size else 0.0,
    }
    for name in sorted(pedestals):
        numbers[f"pedestal_mean_{name}"] = float(np.mean(np.concatenate(pedestals[name])))
        numbers[f"noise_mean_{name}"] = float(np.mean(np.concatenate(noises[name])))
    return BenchmarkResult("dl0", figures, numbers, {})


def _rates(offsets: list[np.ndarray], per_run: list[Curve], bin_s: float) -> list[Curve]:
    """The mean rate over all runs (compared between campaigns), and each run's (up to 5)."""
    if not offsets:
        return []
    seconds = np.concatenate(offsets)
    edges = np.arange(max(1, int(np.ceil(seconds.max() / bin_s))) + 1) * bin_s
    counts, _ = np.histogram(seconds, edges)
    mean = Curve("mean of all runs", edges[:-1] + bin_s / 2, counts / bin_s / len(offsets), counts)
    return [mean, *per_run] if len(per_run) <= 5 else [mean]


def _true_charge(h5file: h5py.File, tel_id: int, obs_id: np.ndarray, event_id: np.ndarray):
    """The true image charge [p.e.] of each (obs_id, event_id) row (NaN where unknown)."""
    path = layout.tel_path(layout.TRUE_IMAGES, tel_id)
    charge = np.full(obs_id.size, np.nan)
    if path not in h5file:
        return charge
    truth = h5file[path][...]
    true_keys = (truth["obs_id"].astype(np.int64) << 40) | truth["event_id"].astype(np.int64)
    keys = (obs_id.astype(np.int64) << 40) | event_id.astype(np.int64)
    order = np.argsort(true_keys)
    where = np.clip(np.searchsorted(true_keys[order], keys), 0, max(true_keys.size - 1, 0))
    found = true_keys.size > 0
    if found:
        match = true_keys[order][where] == keys
        sums = truth["true_image"].reshape(len(truth), -1).sum(axis=1)[order][where]
        charge[match] = sums[match]
    return charge


def dl1_benchmark(paths: Sequence[Path], config: BenchmarkConfig) -> BenchmarkResult:
    """The ``dl1`` benchmark (see the module docstring)."""
    _check(paths, "DL1", layout.DL1_PARAMETERS)
    columns: dict[str, dict[str, list[np.ndarray]]] = {c: {} for c in DL1_PARAMETERS}
    truth: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
    for path in paths:
        with open_product(path, level="DL1") as h5file:
            types = telescope_types(h5file)
            for tel_id in layout.tel_ids_in(h5file, layout.DL1_PARAMETERS):
                rows = h5file[layout.tel_path(layout.DL1_PARAMETERS, tel_id)][...]
                name = types.get(tel_id, f"tel {tel_id}")
                for column in DL1_PARAMETERS:
                    if column in rows.dtype.names:
                        columns[column].setdefault(name, []).append(rows[column].astype(float))
                charge = _true_charge(h5file, tel_id, rows["obs_id"], rows["event_id"])
                if np.isfinite(charge).any():
                    survived = rows["morphology_n_pixels"] >= config.dl1.min_pixels
                    truth.setdefault(name, []).append(
                        (charge, rows["hillas_intensity"].astype(float), survived)
                    )
    figures = []
    for column, (title, label, edges, use_log) in DL1_PARAMETERS.items():
        curves = []
        for name, parts in sorted(columns[column].items()):
            values = np.concatenate(parts)
            with np.errstate(divide="ignore", invalid="ignore"):
                values = np.log10(values) if use_log else values
            curves.append(histogram_curve(name, values, edges))
        if curves:
            figures.append(
                Figure(column, title, label, "images", None, "step", curves=tuple(curves))
            )
    numbers: dict[str, float] = {}
    for name, parts in sorted(columns["hillas_intensity"].items()):
        values = np.concatenate(parts)
        numbers[f"n_images_{name}"] = float(values.size)
        numbers[f"median_intensity_{name}"] = float(np.nanmedian(values)) if values.size else 0.0
    if truth:
        figures.extend(_truth_figures(truth, numbers))
    return BenchmarkResult("dl1", figures, numbers, {})


def _truth_figures(truth, numbers: dict[str, float]) -> list[Figure]:
    centres = np.sqrt(CHARGE_EDGES[:-1] * CHARGE_EDGES[1:])
    bias, spread, survival = [], [], []
    for name, parts in sorted(truth.items()):
        charge = np.concatenate([p[0] for p in parts])
        intensity = np.concatenate([p[1] for p in parts])
        survived = np.concatenate([p[2] for p in parts])
        index = np.digitize(charge, CHARGE_EDGES) - 1
        ratio_median, ratio_spread, fraction, counts = [], [], [], []
        for i in range(len(centres)):
            in_bin = index == i
            ok = in_bin & survived & np.isfinite(intensity)
            ratio = intensity[ok] / charge[ok]
            counts.append(int(ok.sum()))
            ratio_median.append(np.median(ratio) if ratio.size else np.nan)
            ratio_spread.append(
                np.diff(np.percentile(ratio, [15.87, 84.13]))[0] / 2 if ratio.size > 1 else np.nan
            )
            fraction.append(survived[in_bin].mean() if in_bin.any() else np.nan)
        n_bin = np.array([int((index == i).sum()) for i in range(len(centres))])
        bias.append(Curve(name, centres, ratio_median, counts))
        spread.append(Curve(name, centres, ratio_spread, counts))
        survival.append(Curve(name, centres, fraction, n_bin))
        numbers[f"cleaning_survival_{name}"] = float(survived.mean()) if survived.size else 0.0
    return [
        Figure(
            "charge_ratio",
            "Reconstructed / true charge (median)",
            "true charge [p.e.]",
            "intensity / true charge",
            None,
            x_log=True,
            curves=tuple(bias),
        ),
        Figure(
            "charge_resolution",
            "Charge resolution (68 % spread of intensity / true)",
            "true charge [p.e.]",
            "resolution",
            "lower",
            x_log=True,
            curves=tuple(spread),
        ),
        Figure(
            "cleaning_survival",
            "Images surviving the cleaning",
            "true charge [p.e.]",
            "fraction",
            "higher",
            x_log=True,
            curves=tuple(survival),
        ),
    ]
