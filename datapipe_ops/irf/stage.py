"""The IRF stages: ``optimize-cuts``, ``compute-irf`` and ``sensitivity`` on simulated DL2 runs.

Each stage checks everything first (outputs, every DL2 file's tables and columns, the cuts
product and that it belongs to the DL2's model set), then reads the gammas, protons and
electrons, weights them to the configured spectra, does its work with pyirf, writes its FITS
product atomically and registers it with its lineage (the DL2 runs, the cuts) in the catalog.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from astropy import units as u
from astropy.io import fits
from astropy.table import QTable, vstack

from datapipe_ops.checksum import sha256_file
from datapipe_ops.errors import InputFileError
from datapipe_ops.io import open_product
from datapipe_ops.io.atomic import atomic_output
from datapipe_ops.io.fits import write_fits
from datapipe_ops.io.outputs import check_output
from datapipe_ops.irf.config import IRFConfig
from datapipe_ops.irf.cuts import CutSet, find_cuts, read_cuts
from datapipe_ops.irf.events import DL2Events, add_weights, check_dl2, read_particle
from datapipe_ops.irf.products import primary_hdu, product_header, register_output

log = logging.getLogger(__name__)


@dataclass
class Simulations:
    """The weighted simulated events of one production."""

    gammas: DL2Events
    background: QTable
    gamma_info: object
    model_set_id: str | None
    paths: list[Path]


@dataclass
class StageSummary:
    """What a stage wrote."""

    output: Path
    product_id: int | None = None
    details: str = ""


@contextmanager
def _quiet_pyirf() -> Iterator[None]:
    """pyirf logs a warning per bin without background; the products say what is valid."""
    logger = logging.getLogger("pyirf")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def check_simulations(
    files: dict[str, Sequence[Path]], config: IRFConfig, required: Sequence[str]
) -> None:
    """Check every DL2 run before reading any event (tables, columns, data level)."""
    for particle in required:
        if not files.get(particle):
            raise InputFileError(f"no DL2 file given for the {particle}s")
    for paths in files.values():
        for path in paths:
            with open_product(path, level="DL2") as h5file:
                check_dl2(h5file, config.algorithms, need_truth=True)


def load_simulations(files: dict[str, Sequence[Path]], config: IRFConfig) -> Simulations:
    """Read and weight the gammas and the background particles (protons, electrons)."""
    t_obs = config.sensitivity.observation_time_h * u.h
    chunk = config.chunk_size
    gammas = read_particle(files["gamma"], "gamma", config.algorithms, chunk)
    gamma_info = add_weights(gammas, config.spectra, t_obs)
    background, model_sets = [], {gammas.model_set_id}
    for particle in ("proton", "electron"):
        if not files.get(particle):
            continue
        data = read_particle(files[particle], particle, config.algorithms, chunk)
        add_weights(data, config.spectra, t_obs)
        model_sets.add(data.model_set_id)
        background.append(data.events)
    if len(model_sets) > 1:
        raise InputFileError(
            "the gammas and the background were processed with different model sets "
            f"({', '.join(sorted(map(str, model_sets)))})",
            path=files["gamma"][0],
        )
    paths = [
        Path(p) for particle in ("gamma", "proton", "electron") for p in files.get(particle, ())
    ]
    return Simulations(
        gammas=gammas,
        background=vstack(background, metadata_conflicts="silent")
        if background
        else gammas.events[:0],
        gamma_info=gamma_info,
        model_set_id=gammas.model_set_id,
        paths=paths,
    )


def check_cuts_model_set(cuts: CutSet, model_set_id: str | None, where: Path) -> None:
    """Refuse cuts made for another model set than the events'."""
    if cuts.model_set_id != model_set_id:
        raise InputFileError(
            f"cuts were made for model set {cuts.model_set_id or 'NONE'}, the DL2 events are "
            f"of model set {model_set_id or 'NONE'}",
            path=where,
        )


def _pointing_cards(sims: Simulations) -> dict[str, float]:
    runs = sims.gammas.runs
    cards = {
        "ZENITH": float(np.mean(runs["zenith"].to_value(u.deg))),
        "AZIMUTH": float(np.mean(runs["azimuth"].to_value(u.deg))),
    }
    if "nsb_scale" in runs.colnames:
        cards["NSB"] = float(np.mean(np.asarray(runs["nsb_scale"], np.float64)))
    return cards


def _inputs(files: dict[str, Sequence[Path]]) -> list[Path]:
    return [Path(p) for paths in files.values() for p in paths]


def optimize_cuts(
    files: dict[str, Sequence[Path]],
    output: str | Path,
    config: IRFConfig | None = None,
    *,
    overwrite: bool = False,
    register: bool = True,
    catalog_url: str | None = None,
) -> StageSummary:
    """Find the event selection on simulated DL2 runs ({particle: paths}) and write the cuts
    product; needs gammas and at least one background particle unless the method is
    ``efficiency``."""
    config = config or IRFConfig()
    inputs = _inputs(files)
    output = check_output(output, inputs, overwrite)
    required = ["gamma"] if config.cuts.method == "efficiency" else ["gamma", "proton"]
    check_simulations(files, config, required)
    sims = load_simulations(files, config)
    with _quiet_pyirf():
        cuts = find_cuts(sims.gammas.events, sims.background, config, sims.model_set_id)
    extra = product_header("CUTS", sims.model_set_id, config, **_pointing_cards(sims))
    extra.pop("MODELSET")
    with atomic_output(output) as tmp:
        cuts.write(tmp, extra_header=extra)
    summary = StageSummary(
        output,
        details=f"{cuts.method} cuts for event types {cuts.event_types}, valid "
        f"{cuts.energy_range_tev[0]:.3g}–{cuts.energy_range_tev[1]:.3g} TeV",
    )
    if register:
        summary.product_id = register_output(
            output,
            "IRF",
            "cuts",
            dict.fromkeys(inputs, "DL2"),
            catalog_url,
            zenith_deg=extra["ZENITH"],
            config_hash=extra["CONFHASH"],
        )
    return summary


def _load_cuts(cuts_path: Path, sims_model_set: str | None) -> CutSet:
    cuts = read_cuts(cuts_path)
    check_cuts_model_set(cuts, sims_model_set, cuts_path)
    return cuts


def _dl2_model_set(files: dict[str, Sequence[Path]]) -> str | None:
    from datapipe_ops.irf.events import model_set_id

    sets = set()
    for paths in files.values():
        for path in paths:
            with open_product(path, level="DL2") as h5file:
                sets.add(model_set_id(h5file))
    if len(sets) > 1:
        raise InputFileError(
            f"the DL2 runs are of several model sets ({', '.join(sorted(map(str, sets)))})"
        )
    return sets.pop() if sets else None


def compute_irf(
    files: dict[str, Sequence[Path]],
    cuts_path: str | Path,
    output: str | Path,
    config: IRFConfig | None = None,
    *,
    overwrite: bool = False,
    register: bool = True,
    catalog_url: str | None = None,
    extra_cards: Mapping[str, Any] | None = None,
) -> StageSummary:
    """Compute the IRFs of simulated DL2 runs after the cuts; write them as GADF HDUs
    (``extra_cards``: more primary-header cards, e.g. what a tailored production was for)."""
    from datapipe_ops.irf.response import irf_hdus

    config = config or IRFConfig()
    cuts_path = Path(cuts_path)
    inputs = [*_inputs(files), cuts_path]
    output = check_output(output, inputs, overwrite)
    check_simulations(files, config, ["gamma", "proton"])
    cuts = _load_cuts(cuts_path, _dl2_model_set(files))
    sims = load_simulations(files, config)
    header = product_header(
        "IRF",
        sims.model_set_id,
        config,
        CUTSSHA=sha256_file(cuts_path),
        CUTSFILE=cuts_path.name,
        EVTYPES=",".join(map(str, cuts.event_types)),
        VEMIN=cuts.energy_range_tev[0],
        VEMAX=cuts.energy_range_tev[1],
        VOFFMIN=cuts.offset_range_deg[0],
        VOFFMAX=cuts.offset_range_deg[1],
        **_pointing_cards(sims),
        **(extra_cards or {}),
    )
    with _quiet_pyirf(), np.errstate(invalid="ignore", divide="ignore"):
        hdus = irf_hdus(sims.gammas.events, sims.background, sims.gamma_info, cuts, config, {})
    write_fits([primary_hdu(header), *hdus], output)
    summary = StageSummary(output, details=f"{len(hdus)} IRF HDUs")
    if register:
        summary.product_id = register_output(
            output,
            "IRF",
            "irf",
            {**dict.fromkeys(_inputs(files), "DL2"), cuts_path: "IRF"},
            catalog_url,
            zenith_deg=header["ZENITH"],
            config_hash=header["CONFHASH"],
        )
    return summary


def sensitivity_table(sims: Simulations, cuts: CutSet, config: IRFConfig) -> QTable:
    """Differential point-source sensitivity per reconstructed-energy bin, with the flux."""
    import pyirf.spectral
    from pyirf.binning import create_histogram_table
    from pyirf.sensitivity import calculate_sensitivity, estimate_background

    settings = config.sensitivity
    bins = config.binning.reco_energy.edges()
    gammas = sims.gammas.events
    signal = gammas[cuts.selection(gammas, theta=True)]
    background = sims.background[cuts.selection(sims.background, theta=False)]
    theta = cuts.groups[0].theta
    if len(cuts.groups) > 1:  # per-type cuts: the widest theta cut per bin
        theta = theta.copy()
        theta["cut"] = np.max([g.theta["cut"].to_value(u.deg) for g in cuts.groups], 0) * u.deg
    with _quiet_pyirf(), np.errstate(invalid="ignore", divide="ignore"):
        signal_hist = create_histogram_table(signal, bins, "reco_energy")
        background_hist = estimate_background(
            background,
            bins,
            theta,
            settings.alpha,
            0 * u.deg,
            settings.background_radius_deg * u.deg,
        )
        table = calculate_sensitivity(
            signal_hist, background_hist, settings.alpha, **settings.kwargs()
        )
    spectrum = getattr(pyirf.spectral, config.spectra.gamma)
    table["reco_energy_center"] = np.sqrt(table["reco_energy_low"] * table["reco_energy_high"])
    table["flux_sensitivity"] = table["relative_sensitivity"] * spectrum(
        table["reco_energy_center"]
    )
    energy = table["reco_energy_center"]
    table["e2_flux_sensitivity"] = (energy**2 * table["flux_sensitivity"]).to(
        u.erg / (u.cm**2 * u.s)
    )
    table["crab_e2_flux"] = (energy**2 * spectrum(energy)).to(u.erg / (u.cm**2 * u.s))
    return table


def plot_sensitivity(table: QTable, path: Path, title: str) -> None:
    """E² × flux sensitivity against energy, with the Crab (and 10 %, 1 %) for scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, NullFormatter

    energy = table["reco_energy_center"].to_value(u.TeV)
    width = np.vstack(
        [
            energy - table["reco_energy_low"].to_value(u.TeV),
            table["reco_energy_high"].to_value(u.TeV) - energy,
        ]
    )
    fig, ax = plt.subplots(figsize=(7, 5), layout="constrained")
    sens = table["e2_flux_sensitivity"].to_value(u.erg / (u.cm**2 * u.s))
    ax.errorbar(energy, sens, xerr=width, ls="", marker=".", label="DataPipe sensitivity")
    crab = table["crab_e2_flux"].to_value(u.erg / (u.cm**2 * u.s))
    for fraction, style in ((1.0, "-"), (0.1, "--"), (0.01, ":")):
        ax.plot(energy, fraction * crab, color="gray", ls=style, label=f"{fraction:g} Crab")
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="reconstructed energy [TeV]",
        ylabel="E^2 dN/dE [erg / (cm2 s)]",
        title=title,
    )
    plain = FuncFormatter(lambda value, _: f"{value:g}")  # no mathtext: ~10 s saved
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(plain)
        axis.set_minor_formatter(NullFormatter())
    ax.legend()
    ax.grid(which="major", alpha=0.3)
    with atomic_output(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def sensitivity(
    files: dict[str, Sequence[Path]],
    cuts_path: str | Path,
    output: str | Path,
    config: IRFConfig | None = None,
    *,
    plot: str | Path | None = None,
    overwrite: bool = False,
    register: bool = True,
    catalog_url: str | None = None,
) -> StageSummary:
    """Differential sensitivity of the cuts on the simulated runs: FITS table and PNG plot
    (default: the output's name with ``.png``)."""
    config = config or IRFConfig()
    cuts_path = Path(cuts_path)
    output = Path(output)
    plot = Path(plot) if plot is not None else output.with_suffix(".png")
    inputs = [*_inputs(files), cuts_path]
    output = check_output(output, inputs, overwrite)
    check_output(plot, [*inputs, output], overwrite)
    check_simulations(files, config, ["gamma", "proton"])
    cuts = _load_cuts(cuts_path, _dl2_model_set(files))
    sims = load_simulations(files, config)
    table = sensitivity_table(sims, cuts, config)
    hours = config.sensitivity.observation_time_h
    header = product_header(
        "SENSITIVITY",
        sims.model_set_id,
        config,
        CUTSSHA=sha256_file(cuts_path),
        OBSTIME=(hours, "observation time [h]"),
        **_pointing_cards(sims),
    )
    hdu = fits.table_to_hdu(table)
    hdu.name = "SENSITIVITY"
    zenith = header["ZENITH"]
    plot_sensitivity(table, plot, f"{hours:g} h, zenith {zenith:.0f} deg")
    try:
        write_fits([primary_hdu(header), hdu], output)
    except BaseException:
        plot.unlink(missing_ok=True)
        raise
    valid = np.isfinite(table["relative_sensitivity"])
    summary = StageSummary(
        output, details=f"{int(valid.sum())} energy bins with a sensitivity, plot {plot}"
    )
    if register:
        summary.product_id = register_output(
            output,
            "BENCHMARK",
            "sensitivity",
            {**dict.fromkeys(_inputs(files), "DL2"), cuts_path: "IRF"},
            catalog_url,
            zenith_deg=zenith,
            config_hash=header["CONFHASH"],
        )
    return summary
