"""Instrument response functions as GADF HDUs, computed with pyirf from weighted DL2 events.

:func:`irf_hdus` builds, for every event-type group of the cuts (and for all events), the
point-like (effective area and energy dispersion after the gammaness and direction cuts,
RAD_MAX) and full-enclosure (effective area and energy dispersion after the gammaness cut, PSF
table) responses, the background rate (2-D, and 3-D in the FoV for full enclosure) and the
benchmarks (angular resolution, energy bias and resolution), through pyirf's GADF writers.
The two flavours are one loop over :data:`FLAVOURS`: each writes its effective area and energy
dispersion from its own event selection, then its own extra HDUs.

HDU names (:func:`hdu_name`): ``EFFECTIVE AREA``, ``ENERGY DISPERSION``, ``RAD_MAX``,
``BACKGROUND`` for the point-like set; ``EFFECTIVE AREA FE``, ``ENERGY DISPERSION FE``,
``PSF``, ``BACKGROUND 3D`` for full enclosure; ``ANGULAR RESOLUTION``, ``ENERGY BIAS
RESOLUTION``; the HDUs of one event type end in `` TYPE<n>``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from astropy import units as u
from astropy.io import fits
from astropy.table import QTable

from datapipe_ops.irf.config import Binning, IRFConfig
from datapipe_ops.irf.cuts import ALL_TYPES, CutSet

#: component → base EXTNAME
COMPONENTS = {
    "aeff": "EFFECTIVE AREA",
    "edisp": "ENERGY DISPERSION",
    "rad_max": "RAD_MAX",
    "bkg": "BACKGROUND",
    "aeff_fe": "EFFECTIVE AREA FE",
    "edisp_fe": "ENERGY DISPERSION FE",
    "psf": "PSF",
    "bkg_3d": "BACKGROUND 3D",
    "angular_resolution": "ANGULAR RESOLUTION",
    "energy_bias_resolution": "ENERGY BIAS RESOLUTION",
}
#: the DL3 HDU types (gammapy's) and the IRF-file components they come from; point-like files
#: carry the PSF table too (gammapy opens an observation only with one)
DL3_COMPONENTS = {
    "point-like": {
        "aeff": "aeff",
        "edisp": "edisp",
        "rad_max": "rad_max",
        "psf": "psf",
        "bkg": "bkg",
    },
    "full-enclosure": {"aeff": "aeff_fe", "edisp": "edisp_fe", "psf": "psf", "bkg": "bkg"},
}


def hdu_name(component: str, event_type: int = ALL_TYPES) -> str:
    """The EXTNAME of ``component`` for ``event_type`` (-1: all events)."""
    base = COMPONENTS[component]
    return base if event_type == ALL_TYPES else f"{base} TYPE{event_type}"


def _finite(values: u.Quantity) -> u.Quantity:
    """NaN (empty bins) as 0: the GADF readers and the interpolation need numbers."""
    return np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)


def _fov_lonlat(events: QTable) -> QTable:
    from pyirf.coordinates import gadf_fov_coords_lon_lat

    lon, lat = gadf_fov_coords_lon_lat(
        events["reco_az"], events["reco_alt"], events["pointing_az"], events["pointing_alt"]
    )
    events = QTable(events, copy=False)
    events["reco_source_fov_lon"] = u.Quantity(lon, u.deg)
    events["reco_source_fov_lat"] = u.Quantity(lat, u.deg)
    return events


def _benchmark_hdu(table: QTable, name: str) -> fits.BinTableHDU:
    hdu = fits.table_to_hdu(QTable(table))
    hdu.name = name
    return hdu


@dataclass(frozen=True)
class Flavour:
    """One IRF flavour: which events its response is made of and the components it writes."""

    name: str
    setting: str  # the IRFSettings switch
    point_like: bool  # gammas after the direction cut too, or after the gammaness cut only
    aeff: str
    edisp: str


#: the two flavours, in the order their HDUs are written (the 2-D background, shared by both,
#: follows the point-like set)
FLAVOURS = (
    Flavour("point-like", "point_like", True, "aeff", "edisp"),
    Flavour("full-enclosure", "full_enclosure", False, "aeff_fe", "edisp_fe"),
)


@dataclass(frozen=True)
class _Group:
    """What every HDU of one event-type group is computed from."""

    event_type: int
    cuts: CutSet
    gamma_info: object
    binning: Binning
    gamma_fov: u.Quantity
    diffuse: bool
    t_obs: u.Quantity
    cards: dict

    def extname(self, component: str) -> str:
        """The EXTNAME of ``component`` in this group."""
        return hdu_name(component, self.event_type)


def _response_hdus(
    flavour: Flavour, events: QTable, background: QTable, group: _Group
) -> list[fits.BinTableHDU]:
    """Effective area and energy dispersion of ``flavour``, then its own extra HDUs (point-like:
    RAD_MAX; full enclosure: PSF table and 3-D background)."""
    from pyirf.io import gadf
    from pyirf.irf import background_3d_lonlat, energy_dispersion, psf_table

    binning, fov, cards = group.binning, group.gamma_fov, group.cards
    true_e, migra = binning.true_energy.edges(), binning.migration_edges()
    aeff = _effective_area(events, group.gamma_info, true_e, fov, group.diffuse)
    edisp = energy_dispersion(events, true_e, fov, migra)
    hdus = [
        gadf.create_aeff2d_hdu(
            _finite(aeff),
            true_e,
            fov,
            point_like=flavour.point_like,
            extname=group.extname(flavour.aeff),
            **cards,
        ),
        gadf.create_energy_dispersion_hdu(
            _finite(edisp),
            true_e,
            migra,
            fov,
            point_like=flavour.point_like,
            extname=group.extname(flavour.edisp),
            **cards,
        ),
    ]
    reco_e = binning.reco_energy.edges()
    if flavour.point_like:
        theta_cut = _rad_max(group.cuts, group.event_type, reco_e)
        hdus.append(
            gadf.create_rad_max_hdu(
                np.repeat(theta_cut[:, np.newaxis], fov.size - 1, axis=1),
                reco_e,
                fov,
                extname=group.extname("rad_max"),
                **cards,
            )
        )
        return hdus
    offsets = binning.source_offset_edges()
    psf = psf_table(events, true_e, offsets, fov)
    hdus.append(
        gadf.create_psf_table_hdu(
            _finite(psf), true_e, offsets, fov, extname=group.extname("psf"), **cards
        )
    )
    lonlat = binning.fov_lonlat_edges()
    bkg3d = background_3d_lonlat(_fov_lonlat(background), reco_e, lonlat, lonlat, group.t_obs)
    hdus.append(
        gadf.create_background_3d_hdu(
            _finite(bkg3d),
            reco_e,
            lonlat,
            lonlat,
            alignment="ALTAZ",
            extname=group.extname("bkg_3d"),
            **cards,
        )
    )
    return hdus


def group_hdus(
    event_type: int,
    gammas: QTable,
    background: QTable,
    gamma_info: object,
    cuts: CutSet,
    config: IRFConfig,
    header: dict,
) -> list[fits.BinTableHDU]:
    """The IRF HDUs of one event-type group (gammas and background weighted, uncut)."""
    from pyirf.benchmarks import angular_resolution, energy_bias_resolution
    from pyirf.io import gadf
    from pyirf.irf import background_2d

    binning = config.binning
    true_e, reco_e, fov = (
        binning.true_energy.edges(),
        binning.reco_energy.edges(),
        binning.fov_offset_edges(),
    )
    t_obs = config.sensitivity.observation_time_h * u.h
    bkg = background[_selection(background, cuts, event_type, theta=False)]
    selected = {
        flavour.point_like: gammas[_selection(gammas, cuts, event_type, theta=flavour.point_like)]
        for flavour in FLAVOURS
    }
    point, full = selected[True], selected[False]
    diffuse = (gamma_info.viewcone_max - gamma_info.viewcone_min).to_value(u.deg) > 1e-6
    cards = dict(header)
    if event_type != ALL_TYPES:
        cards["EVTYPE"] = event_type
    group = _Group(
        event_type=event_type,
        cuts=cuts,
        gamma_info=gamma_info,
        binning=binning,
        gamma_fov=fov if diffuse else _source_bin(fov, gamma_info.viewcone_max),
        diffuse=diffuse,
        t_obs=t_obs,
        cards=cards,
    )
    hdus: list[fits.BinTableHDU] = []
    for flavour in FLAVOURS:
        if getattr(config.irf, flavour.setting):
            hdus.extend(_response_hdus(flavour, selected[flavour.point_like], bkg, group))
        if flavour.point_like:
            background_rate = background_2d(bkg, reco_e, fov, t_obs)
            hdus.append(
                gadf.create_background_2d_hdu(
                    _finite(background_rate), reco_e, fov, extname=group.extname("bkg"), **cards
                )
            )
    if config.irf.benchmarks:
        hdus.append(
            _benchmark_hdu(
                angular_resolution(full, true_e), hdu_name("angular_resolution", event_type)
            )
        )
        hdus.append(
            _benchmark_hdu(
                energy_bias_resolution(point if len(point) else full, true_e),
                hdu_name("energy_bias_resolution", event_type),
            )
        )
    return hdus


def _source_bin(fov: u.Quantity, offset: u.Quantity) -> u.Quantity:
    """The edges of the one FoV-offset bin holding a point source at ``offset``."""
    index = int(np.clip(np.searchsorted(fov, offset, side="right") - 1, 0, fov.size - 2))
    return fov[index : index + 2]


def _effective_area(
    events: QTable, info: object, true_e: u.Quantity, fov: u.Quantity, diffuse: bool
) -> u.Quantity:
    """Effective area [true energy, FoV offset]; a point source fills its one offset bin."""
    from pyirf.irf import effective_area_per_energy, effective_area_per_energy_and_fov

    if diffuse:
        return effective_area_per_energy_and_fov(events, info, true_e, fov)
    return effective_area_per_energy(events, info, true_e)[:, np.newaxis]


def _selection(events: QTable, cuts: CutSet, event_type: int, theta: bool) -> np.ndarray:
    """Events passing the cuts (each with its type's cuts), of ``event_type`` if not -1."""
    mask = cuts.selection(events, theta=theta)
    if event_type != ALL_TYPES:
        mask &= np.asarray(events["event_type"]) == event_type
    return mask


def _rad_max(cuts: CutSet, event_type: int, reco_e: u.Quantity) -> u.Quantity:
    """The theta cut per reconstructed-energy bin of ``reco_e`` (the cuts' own binning is
    looked up at the bin centres; all-event IRFs with per-type cuts take the widest cut)."""
    groups = cuts.groups if event_type == ALL_TYPES else [cuts.group(event_type)]
    centres = np.sqrt(reco_e[:-1] * reco_e[1:]).to_value(u.TeV)
    values = []
    for g in groups:
        high = g.theta["high"].to_value(u.TeV)
        index = np.clip(np.searchsorted(high, centres, side="right"), 0, len(high) - 1)
        values.append(g.theta["cut"].to_value(u.deg)[index])
    return np.max(values, axis=0) * u.deg


def irf_hdus(
    gammas: QTable,
    background: QTable,
    gamma_info: object,
    cuts: CutSet,
    config: IRFConfig,
    header: dict,
) -> list[fits.BinTableHDU]:
    """Every IRF HDU: all events first, then each event type of the cuts."""
    types = [ALL_TYPES] + [t for t in cuts.event_types if t != ALL_TYPES]
    hdus = []
    for event_type in types:
        hdus.extend(group_hdus(event_type, gammas, background, gamma_info, cuts, config, header))
    return hdus
