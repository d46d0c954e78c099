"""Event selection: gammaness and direction cuts per reconstructed-energy bin, per event type.

:func:`find_cuts` finds them with pyirf — for the best point-source sensitivity
(``optimize_cuts``: gammaness, theta and multiplicity; ``optimize_gh_cut``: gammaness at a
fixed theta containment) or at fixed efficiencies (``calculate_percentile_cut``). The result,
a :class:`CutSet`, is what every later stage applies (:meth:`CutSet.selection`) and is written
as a FITS cuts product (:meth:`CutSet.write`, :func:`read_cuts`): one ``GH_CUTS``, ``RAD_MAX``
and ``MULTIPLICITY`` table per event-type group (EXTVER 1, 2, …, header ``EVTYPE``: the event
type, -1 for all events), the quality cuts, the model set and the valid energy and FoV-offset
ranges in the primary header.
"""

from __future__ import annotations

import json
import operator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.io import fits
from astropy.table import QTable

from datapipe_ops.errors import InputFileError
from datapipe_ops.irf.config import CutSettings, IRFConfig, QualityCuts
from datapipe_ops.irf.events import quality_mask

ALL_TYPES = -1
CUT_TABLES = ("GH_CUTS", "RAD_MAX", "MULTIPLICITY")


@dataclass
class GroupCuts:
    """The cuts of one event-type group (``event_type`` -1: every event)."""

    event_type: int
    gh: QTable
    theta: QTable
    multiplicity: QTable

    def selection(self, events: QTable, theta: bool) -> np.ndarray:
        """Events of this group passing the gammaness, multiplicity (and theta) cuts."""
        from pyirf.binning import calculate_bin_indices
        from pyirf.cuts import evaluate_binned_cut_by_index

        edges = u.Quantity(
            np.append(self.gh["low"].to_value(u.TeV), self.gh["high"][-1].to_value(u.TeV)), u.TeV
        )
        index, valid = calculate_bin_indices(events["reco_energy"], edges)
        mask = evaluate_binned_cut_by_index(
            np.asarray(events["gh_score"]), index, valid, self.gh, operator.ge
        )
        mask &= evaluate_binned_cut_by_index(
            np.asarray(events["multiplicity"], np.float64),
            index,
            valid,
            self.multiplicity,
            operator.ge,
        )
        if theta:
            mask &= evaluate_binned_cut_by_index(
                events["theta"], index, valid, self.theta, operator.le
            )
        if self.event_type != ALL_TYPES:
            mask &= np.asarray(events["event_type"]) == self.event_type
        return mask


@dataclass
class CutSet:
    """Quality cuts plus the cuts of every event-type group, with what they are valid for."""

    groups: list[GroupCuts]
    quality: QualityCuts
    method: str
    model_set_id: str | None
    energy_range_tev: tuple[float, float]
    offset_range_deg: tuple[float, float]
    algorithms: dict[str, str | None] = field(default_factory=dict)
    path: Path | None = None

    @property
    def event_types(self) -> list[int]:
        """The event types with their own cuts ([-1]: one set for every event)."""
        return [g.event_type for g in self.groups]

    def group(self, event_type: int) -> GroupCuts:
        """The cuts of ``event_type``."""
        for g in self.groups:
            if g.event_type == event_type:
                return g
        raise KeyError(event_type)

    def selection(self, events: QTable, theta: bool = True) -> np.ndarray:
        """Events passing the quality cuts and the cuts of their event-type group."""
        mask = np.zeros(len(events), bool)
        for g in self.groups:
            mask |= g.selection(events, theta)
        return mask & quality_mask(events, self.quality)

    def write(self, path: str | Path, extra_header: dict | None = None) -> None:
        """Write the cuts product (FITS) at ``path`` (the caller makes it atomic)."""
        primary = fits.PrimaryHDU()
        header = primary.header
        header["DPKIND"] = ("CUTS", "DataPipe product kind")
        header["MODELSET"] = (self.model_set_id or "NONE", "model set of the DL2 events")
        header["CUTMETH"] = (self.method, "how the cuts were found")
        header["EVTYPES"] = (",".join(map(str, self.event_types)), "-1: all event types")
        header["MINMULT"] = (self.quality.min_multiplicity, "quality: min telescopes")
        header["REQVALID"] = (self.quality.require_valid, "quality: valid reconstruction")
        header["MAXOFF"] = (self.quality.max_fov_offset_deg, "quality: max FoV offset [deg]")
        header["VEMIN"] = (self.energy_range_tev[0], "valid reco energy from [TeV]")
        header["VEMAX"] = (self.energy_range_tev[1], "valid reco energy to [TeV]")
        header["VOFFMIN"] = (self.offset_range_deg[0], "valid FoV offset from [deg]")
        header["VOFFMAX"] = (self.offset_range_deg[1], "valid FoV offset to [deg]")
        header["ALGOS"] = (json.dumps(self.algorithms), "DL2 algorithms")
        for key, value in (extra_header or {}).items():
            header[key] = value
        hdus = [primary]
        for version, g in enumerate(self.groups, start=1):
            for name, table in zip(CUT_TABLES, (g.gh, g.theta, g.multiplicity), strict=True):
                hdu = fits.table_to_hdu(table)
                hdu.name = name
                hdu.ver = version
                hdu.header["EVTYPE"] = (g.event_type, "-1: all event types")
                hdus.append(hdu)
        fits.HDUList(hdus).writeto(path)


def read_cuts(path: str | Path) -> CutSet:
    """Read a cuts product; :class:`InputFileError` if it is not one."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError("file does not exist", path=path)
    try:
        with fits.open(path) as hdul:
            header = hdul[0].header
            if header.get("DPKIND") != "CUTS":
                raise InputFileError("is not a DataPipe cuts product (DPKIND != CUTS)", path=path)
            groups = []
            versions = sorted({h.ver for h in hdul[1:] if h.name == "GH_CUTS"})
            for version in versions:
                gh, theta, mult = (QTable.read(hdul[(n, version)]) for n in CUT_TABLES)
                groups.append(
                    GroupCuts(int(hdul[("GH_CUTS", version)].header["EVTYPE"]), gh, theta, mult)
                )
            model = header.get("MODELSET", "NONE")
            return CutSet(
                groups=groups,
                quality=QualityCuts(
                    min_multiplicity=int(header["MINMULT"]),
                    require_valid=bool(header["REQVALID"]),
                    max_fov_offset_deg=float(header["MAXOFF"]),
                ),
                method=str(header["CUTMETH"]),
                model_set_id=None if model == "NONE" else str(model),
                energy_range_tev=(float(header["VEMIN"]), float(header["VEMAX"])),
                offset_range_deg=(float(header["VOFFMIN"]), float(header["VOFFMAX"])),
                algorithms=json.loads(header.get("ALGOS", "{}")),
                path=path,
            )
    except (OSError, KeyError, ValueError) as exc:
        raise InputFileError(f"not a readable cuts product: {exc}", path=path) from None


def _fixed(signal: QTable, bins: u.Quantity, settings: CutSettings) -> tuple[QTable, ...]:
    from pyirf.cuts import calculate_percentile_cut

    gh = calculate_percentile_cut(
        np.asarray(signal["gh_score"]),
        signal["reco_energy"],
        bins,
        fill_value=1.0,
        percentile=100 * (1 - settings.gh_efficiency),
        min_events=settings.min_events,
    )
    gh["efficiency"] = np.full(len(gh), settings.gh_efficiency)
    theta = calculate_percentile_cut(
        signal["theta"],
        signal["reco_energy"],
        bins,
        fill_value=settings.theta_max_deg * u.deg,
        percentile=100 * settings.theta_containment,
        min_value=settings.theta_min_deg * u.deg,
        max_value=settings.theta_max_deg * u.deg,
        min_events=settings.min_events,
    )
    theta["efficiency"] = np.full(len(theta), settings.theta_containment)
    return gh, theta


def _multiplicity_table(template: QTable, value: float | np.ndarray) -> QTable:
    table = QTable({k: template[k] for k in ("low", "center", "high")})
    table["cut"] = np.broadcast_to(np.asarray(value, np.float64), (len(table),)).copy()
    return table


def _group_cuts(
    event_type: int,
    signal: QTable,
    background: QTable,
    config: IRFConfig,
) -> GroupCuts:
    from pyirf.cut_optimization import optimize_cuts, optimize_gh_cut

    settings = config.cuts
    bins = config.binning.reco_energy.edges()
    sens = config.sensitivity
    common = {
        "fov_offset_min": 0 * u.deg,
        "fov_offset_max": sens.background_radius_deg * u.deg,
        "alpha": sens.alpha,
        "progress": False,
        **sens.kwargs(),
    }
    if settings.method == "efficiency":
        gh, theta = _fixed(signal, bins, settings)
        mult = _multiplicity_table(gh, config.quality.min_multiplicity)
    elif settings.method == "optimize_gh":
        _, theta = _fixed(signal, bins, settings)
        _, gh = optimize_gh_cut(
            signal, background, bins, np.asarray(settings.gh_efficiencies), theta, **common
        )
        mult = _multiplicity_table(gh, config.quality.min_multiplicity)
    else:
        multiplicities = sorted(
            m for m in settings.multiplicities if m >= config.quality.min_multiplicity
        )
        _, mult, theta, gh = optimize_cuts(
            signal,
            background,
            bins,
            multiplicity_cuts=np.asarray(multiplicities or [config.quality.min_multiplicity]),
            gh_cut_efficiencies=np.asarray(settings.gh_efficiencies),
            theta_cut_efficiencies=np.asarray(settings.theta_containments),
            theta_min_value=settings.theta_min_deg * u.deg,
            theta_max_value=settings.theta_max_deg * u.deg,
            **common,
        )
        empty = ~np.isfinite(np.asarray(mult["cut"], np.float64))
        mult["cut"][empty] = config.quality.min_multiplicity
    for table in (gh, theta, mult):
        for name in [
            c
            for c in table.colnames
            if c not in ("low", "center", "high", "cut", "efficiency", "n_events")
        ]:
            del table[name]
    gh["cut"][~np.isfinite(np.asarray(gh["cut"], np.float64))] = 1.0
    return GroupCuts(event_type, gh, theta, mult)


def find_cuts(
    gammas: QTable,
    background: QTable,
    config: IRFConfig,
    model_set_id: str | None,
) -> CutSet:
    """Find the cuts on weighted gammas and background (protons + electrons) events.

    Both tables carry the pyirf columns of :func:`~datapipe_ops.irf.events.read_events` and
    ``weight``; the quality cuts are applied here first.
    """
    gammas = gammas[quality_mask(gammas, config.quality)]
    background = background[quality_mask(background, config.quality)]
    types = config.cuts.event_types or [ALL_TYPES]
    groups = []
    for event_type in types:
        if event_type == ALL_TYPES:
            signal, bkg = gammas, background
        else:
            signal = gammas[np.asarray(gammas["event_type"]) == event_type]
            bkg = background[np.asarray(background["event_type"]) == event_type]
        if len(signal) == 0:
            raise InputFileError(f"no gamma of event type {event_type} passes the quality cuts")
        groups.append(_group_cuts(event_type, signal, bkg, config))
    cuts = CutSet(
        groups=groups,
        quality=config.quality,
        method=config.cuts.method,
        model_set_id=model_set_id,
        energy_range_tev=(0.0, 0.0),
        offset_range_deg=(0.0, 0.0),
        algorithms=config.algorithms.model_dump(),
    )
    selected = gammas[cuts.selection(gammas)]
    bins = config.binning.reco_energy.edges().to_value(u.TeV)
    counts, _ = np.histogram(selected["reco_energy"].to_value(u.TeV), bins=bins)
    enough = np.flatnonzero(counts >= config.cuts.min_gamma_events_valid)
    if enough.size == 0:
        raise InputFileError(
            f"no reconstructed-energy bin keeps {config.cuts.min_gamma_events_valid} gammas "
            "after the cuts (too few simulated gammas?)"
        )
    cuts.energy_range_tev = (float(bins[enough[0]]), float(bins[enough[-1] + 1]))
    offsets = config.binning.fov_offset_edges().to_value(u.deg)
    true_offset = gammas["true_source_fov_offset"].to_value(u.deg)
    low = offsets[np.clip(np.searchsorted(offsets, true_offset.min(), "right") - 1, 0, None)]
    high = offsets[min(np.searchsorted(offsets, true_offset.max(), "left"), offsets.size - 1)]
    cuts.offset_range_deg = (float(low), float(max(high, low)))
    return cuts
