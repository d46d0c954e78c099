"""DL2 and model benchmarks on DL2 products: direction, energy, gammaness and event types.

``dl2`` (:func:`dl2_benchmark`): angular resolution (68 % containment) and energy bias and
resolution against true energy (pyirf's ``angular_resolution`` and
``energy_bias_resolution``), per event type too (the event-type separation: each type's
resolution), the gammaness distribution of each particle and the reconstructed-energy
distribution. ``models`` (:func:`models_benchmark`): what the models decide — ROC curves and
the area under them (AUC) per reconstructed-energy bin (gammas against protons, electrons
counted as background), gammaness distributions per particle, energy bias and resolution, and
the angular resolution of each event type against all events.

Simulated products (with the shower truth) give every figure; observed ones only the
distributions. Events pass the IRF stages' quality cuts (valid, multiplicity, FoV offset).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.table import QTable, vstack

from datapipe_ops.benchmarks.config import BenchmarkConfig
from datapipe_ops.benchmarks.figures import BenchmarkResult, Curve, Figure, histogram_curve
from datapipe_ops.errors import InputFileError
from datapipe_ops.io import layout, open_product
from datapipe_ops.irf.config import DL2Algorithms, QualityCuts
from datapipe_ops.irf.events import PARTICLE_OF_ID, model_set_id, quality_mask, read_events

GH_EDGES = np.linspace(0.0, 1.0, 41)
#: background efficiencies at which the ROC curves are compared
ROC_BACKGROUND_EFFICIENCY = np.array([0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0])
ENERGY_AXIS = "true energy [TeV]"
#: the reconstructed-energy ranges of the ROC curves [TeV]
ROC_DECADES = np.array([0.01, 0.1, 1.0, 10.0, 1000.0])


def check_inputs(paths: Sequence[Path]) -> None:
    """Every input is a DL2 product with the subarray tables the benchmark reads."""
    from datapipe_ops.irf.events import check_dl2

    if not paths:
        raise InputFileError("no DL2 product given")
    for path in paths:
        with open_product(path, level="DL2") as h5file:
            check_dl2(h5file, DL2Algorithms(), need_truth=layout.SHOWER in h5file)


def read_by_particle(paths: Sequence[Path]) -> tuple[dict[str, QTable], set[str | None]]:
    """The quality-selected events of ``paths`` by particle ("observed" without truth), and the
    model sets they were made with."""
    parts: dict[str, list[QTable]] = {}
    model_sets = set()
    for path in paths:
        with open_product(path, level="DL2") as h5file:
            simulated = layout.SHOWER in h5file
            model_sets.add(model_set_id(h5file))
        data = read_events(path, simulated=simulated)
        events = data.events[quality_mask(data.events, QualityCuts())]
        if not simulated:
            parts.setdefault("observed", []).append(events)
            continue
        if "true_shower_primary_id" in events.colnames:
            ids = np.asarray(events["true_shower_primary_id"])
            for primary in np.unique(ids):
                name = PARTICLE_OF_ID.get(int(primary), f"primary {primary}")
                parts.setdefault(name, []).append(events[ids == primary])
        else:
            parts.setdefault(data.particle or "unknown", []).append(events)
    stacked = {
        name: vstack(tables, metadata_conflicts="silent") if len(tables) > 1 else tables[0]
        for name, tables in parts.items()
    }
    return stacked, model_sets


def _centres(edges: np.ndarray) -> np.ndarray:
    return np.sqrt(edges[:-1] * edges[1:])


def _event_type_groups(events: QTable) -> list[tuple[str, np.ndarray]]:
    groups = [("all events", np.ones(len(events), bool))]
    types = np.asarray(events["event_type"])
    for event_type in np.unique(types):
        if event_type >= 0 and len(np.unique(types)) > 1:
            groups.append((f"type {int(event_type)}", types == event_type))
    return groups


def angular_resolution_figure(gammas: QTable, edges: np.ndarray, key: str, title: str) -> Figure:
    """68 % containment radius against true energy, all events and per event type."""
    from pyirf.benchmarks import angular_resolution

    curves = []
    for name, mask in _event_type_groups(gammas):
        table = angular_resolution(gammas[mask], edges * u.TeV)
        curves.append(
            Curve(
                name,
                _centres(edges),
                table["angular_resolution_68"].to_value(u.deg),
                np.asarray(table["n_events"]),
            )
        )
    return Figure(
        key, title, ENERGY_AXIS, "68 % containment [deg]", "lower", x_log=True, curves=tuple(curves)
    )


def energy_figures(gammas: QTable, edges: np.ndarray) -> list[Figure]:
    """Energy bias and resolution against true energy, all events and per event type."""
    from pyirf.benchmarks import energy_bias_resolution

    bias, resolution = [], []
    for name, mask in _event_type_groups(gammas):
        table = energy_bias_resolution(gammas[mask], edges * u.TeV)
        n = np.asarray(table["n_events"])
        bias.append(Curve(name, _centres(edges), np.asarray(table["bias"]), n))
        resolution.append(Curve(name, _centres(edges), np.asarray(table["resolution"]), n))
    return [
        Figure(
            "energy_bias",
            "Energy bias (median of reco / true − 1)",
            ENERGY_AXIS,
            "bias",
            "zero",
            x_log=True,
            curves=tuple(bias),
        ),
        Figure(
            "energy_resolution",
            "Energy resolution (68 % of |reco / true − 1|)",
            ENERGY_AXIS,
            "resolution",
            "lower",
            x_log=True,
            curves=tuple(resolution),
        ),
    ]


def gammaness_figure(by_particle: dict[str, QTable]) -> Figure:
    """The gammaness distribution of each particle."""
    curves = [
        histogram_curve(name, np.asarray(events["gh_score"]), GH_EDGES)
        for name, events in sorted(by_particle.items())
    ]
    return Figure(
        "gammaness",
        "Gammaness distributions",
        "gammaness",
        "events",
        None,
        style="step",
        y_log=True,
        curves=tuple(curves),
    )


def reco_energy_figure(by_particle: dict[str, QTable], edges: np.ndarray) -> Figure:
    """The reconstructed-energy distribution of each particle."""
    curves = []
    for name, events in sorted(by_particle.items()):
        values = events["reco_energy"].to_value(u.TeV)
        counts, _ = np.histogram(values[np.isfinite(values)], bins=edges)
        curves.append(Curve(name, _centres(edges), counts, counts))
    return Figure(
        "reco_energy",
        "Reconstructed energy",
        "reconstructed energy [TeV]",
        "events",
        None,
        style="step",
        x_log=True,
        y_log=True,
        curves=tuple(curves),
    )


def auc(signal: np.ndarray, background: np.ndarray) -> float:
    """Area under the ROC curve: the probability that a signal event scores above a
    background event (ties count half), from the ranks (Mann–Whitney)."""
    if signal.size == 0 or background.size == 0:
        return np.nan
    scores = np.concatenate([signal, background])
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(scores.size)
    sorted_scores = scores[order]
    # average ranks of ties
    _unique, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    average = first + (counts - 1) / 2.0 + 1.0
    ranks[order] = np.repeat(average, counts)
    rank_sum = ranks[: signal.size].sum()
    return float((rank_sum - signal.size * (signal.size + 1) / 2) / (signal.size * background.size))


def roc_curve(signal: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Signal efficiency at the background efficiencies :data:`ROC_BACKGROUND_EFFICIENCY`
    (gammaness cut chosen per point to keep that fraction of the background)."""
    if signal.size == 0 or background.size == 0:
        return np.full(ROC_BACKGROUND_EFFICIENCY.size, np.nan)
    cuts = np.quantile(background, 1.0 - ROC_BACKGROUND_EFFICIENCY)
    return np.array(
        [
            (signal >= cut).mean() if eff < 1 else 1.0
            for cut, eff in zip(cuts, ROC_BACKGROUND_EFFICIENCY, strict=True)
        ]
    )


def separation_figures(by_particle: dict[str, QTable], edges: np.ndarray) -> list[Figure]:
    """ROC curves (all energies and per decade of reconstructed energy) and the AUC per
    reconstructed-energy bin, gammas against the rest."""
    gammas = by_particle.get("gamma")
    background = [t for name, t in by_particle.items() if name not in ("gamma", "observed")]
    if gammas is None or not background:
        return []
    bkg = vstack(
        [QTable(t, copy=False)[["gh_score", "reco_energy"]] for t in background],
        metadata_conflicts="silent",
    )
    gh_g, gh_b = np.asarray(gammas["gh_score"]), np.asarray(bkg["gh_score"])
    e_g, e_b = gammas["reco_energy"].to_value(u.TeV), bkg["reco_energy"].to_value(u.TeV)
    enough = min(gh_g.size, gh_b.size)
    roc = [
        Curve(
            "all energies",
            ROC_BACKGROUND_EFFICIENCY,
            roc_curve(gh_g, gh_b),
            np.full(ROC_BACKGROUND_EFFICIENCY.size, enough),
        )
    ]
    for low, high in itertools.pairwise(ROC_DECADES):
        in_g, in_b = (e_g >= low) & (e_g < high), (e_b >= low) & (e_b < high)
        if in_g.sum() and in_b.sum():
            roc.append(
                Curve(
                    f"{low:g}-{high:g} TeV",
                    ROC_BACKGROUND_EFFICIENCY,
                    roc_curve(gh_g[in_g], gh_b[in_b]),
                    np.full(ROC_BACKGROUND_EFFICIENCY.size, min(in_g.sum(), in_b.sum())),
                )
            )
    values, counts = [], []
    for low, high in itertools.pairwise(edges):
        in_g, in_b = (e_g >= low) & (e_g < high), (e_b >= low) & (e_b < high)
        values.append(auc(gh_g[in_g], gh_b[in_b]))
        counts.append(min(in_g.sum(), in_b.sum()))
    per_bin = Curve("gamma vs background", _centres(edges), values, counts)
    return [
        Figure(
            "roc",
            "ROC: gamma efficiency against background efficiency",
            "background efficiency",
            "gamma efficiency",
            "higher",
            x_log=True,
            curves=tuple(roc),
        ),
        Figure(
            "auc",
            "Area under the ROC curve per energy bin",
            "reconstructed energy [TeV]",
            "AUC",
            "higher",
            x_log=True,
            curves=(per_bin,),
        ),
    ]


def _numbers(by_particle: dict[str, QTable], figures: list[Figure]) -> dict[str, float]:
    numbers = {f"n_events_{name}": float(len(t)) for name, t in by_particle.items()}
    for key in ("angular_resolution", "energy_resolution", "auc"):
        figure = next((f for f in figures if f.key == key), None)
        if figure and figure.curves:
            curve = figure.curves[0]
            near = np.argmin(np.abs(np.log10(curve.x)))  # the bin nearest 1 TeV
            numbers[f"{key}_1TeV"] = float(curve.y[near])
    return numbers


def dl2_benchmark(paths: Sequence[Path], config: BenchmarkConfig) -> BenchmarkResult:
    """The ``dl2`` benchmark of ``paths`` (see the module docstring)."""
    check_inputs(paths)
    by_particle, model_sets = read_by_particle(paths)
    edges = config.dl2.energy_edges()
    figures: list[Figure] = []
    gammas = by_particle.get("gamma")
    if gammas is not None:
        figures.append(
            angular_resolution_figure(
                gammas, edges, "angular_resolution", "Angular resolution (68 % containment)"
            )
        )
        figures.extend(energy_figures(gammas, edges))
    figures.append(gammaness_figure(by_particle))
    figures.append(reco_energy_figure(by_particle, edges))
    return BenchmarkResult(
        "dl2", figures, _numbers(by_particle, figures), {"model_sets": sorted(map(str, model_sets))}
    )


def models_benchmark(paths: Sequence[Path], config: BenchmarkConfig) -> BenchmarkResult:
    """The ``models`` benchmark of ``paths`` (see the module docstring)."""
    check_inputs(paths)
    by_particle, model_sets = read_by_particle(paths)
    edges = config.dl2.energy_edges()
    figures = separation_figures(by_particle, edges)
    figures.append(gammaness_figure(by_particle))
    gammas = by_particle.get("gamma")
    if gammas is not None:
        figures.extend(energy_figures(gammas, edges))
        figures.append(
            angular_resolution_figure(
                gammas,
                edges,
                "event_type_separation",
                "Event-type separation: angular resolution of each type",
            )
        )
    return BenchmarkResult(
        "models",
        figures,
        _numbers(by_particle, figures),
        {"model_sets": sorted(map(str, model_sets))},
    )
