"""Instrument response functions as GADF HDUs, computed with pyirf from weighted DL2 events.

:func:`irf_hdus` builds, for every event-type group of the cuts (and for all events), the
point-like (effective area and energy dispersion after the gammaness and direction cuts,
RAD_MAX) and full-enclosure (effective area and energy dispersion after the gammaness cut, PSF
table) responses, the background rate (2-D, and 3-D in the FoV for full enclosure) and the
benchmarks (angular resolution, energy bias and resolution), through pyirf's GADF writers.

HDU names (:func:`hdu_name`): ``EFFECTIVE AREA``, ``ENERGY DISPERSION``, ``RAD_MAX``,
``BACKGROUND`` for the point-like set; ``EFFECTIVE AREA FE``, ``ENERGY DISPERSION FE``,
``PSF``, ``BACKGROUND 3D`` for full enclosure; ``ANGULAR RESOLUTION``, ``ENERGY BIAS
RESOLUTION``; the HDUs of one event type end in `` TYPE<n>``.
"""

from __future__ import annotations

import numpy as np
from astropy import units as u
from astropy.io import fits
from astropy.table import QTable

from datapipe_ops.irf.config import IRFConfig
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
    from pyirf.irf import (
        background_2d,
        background_3d_lonlat,
        energy_dispersion,
        psf_table,
    )

    binning = config.binning
    true_e, reco_e = binning.true_energy.edges(), binning.reco_energy.edges()
    fov, migra = binning.fov_offset_edges(), binning.migration_edges()
    t_obs = config.sensitivity.observation_time_h * u.h
    gh_only = _selection(gammas, cuts, event_type, theta=False)
    with_theta = _selection(gammas, cuts, event_type, theta=True)
    bkg = background[_selection(background, cuts, event_type, theta=False)]
    point, full = gammas[with_theta], gammas[gh_only]
    diffuse = (gamma_info.viewcone_max - gamma_info.viewcone_min).to_value(u.deg) > 1e-6
    gamma_fov = fov if diffuse else _source_bin(fov, gamma_info.viewcone_max)
    hdus: list[fits.BinTableHDU] = []
    cards = dict(header)
    if event_type != ALL_TYPES:
        cards["EVTYPE"] = event_type
    if config.irf.point_like:
        aeff = _effective_area(point, gamma_info, true_e, gamma_fov, diffuse)
        hdus.append(
            gadf.create_aeff2d_hdu(
                _finite(aeff),
                true_e,
                gamma_fov,
                point_like=True,
                extname=hdu_name("aeff", event_type),
                **cards,
            )
        )
        edisp = energy_dispersion(point, true_e, gamma_fov, migra)
        hdus.append(
            gadf.create_energy_dispersion_hdu(
                _finite(edisp),
                true_e,
                migra,
                gamma_fov,
                point_like=True,
                extname=hdu_name("edisp", event_type),
                **cards,
            )
        )
        theta_cut = _rad_max(cuts, event_type, reco_e)
        hdus.append(
            gadf.create_rad_max_hdu(
                np.repeat(theta_cut[:, np.newaxis], gamma_fov.size - 1, axis=1),
                reco_e,
                gamma_fov,
                extname=hdu_name("rad_max", event_type),
                **cards,
            )
        )
    background_rate = background_2d(bkg, reco_e, fov, t_obs)
    hdus.append(
        gadf.create_background_2d_hdu(
            _finite(background_rate), reco_e, fov, extname=hdu_name("bkg", event_type), **cards
        )
    )
    if config.irf.full_enclosure:
        aeff = _effective_area(full, gamma_info, true_e, gamma_fov, diffuse)
        hdus.append(
            gadf.create_aeff2d_hdu(
                _finite(aeff),
                true_e,
                gamma_fov,
                point_like=False,
                extname=hdu_name("aeff_fe", event_type),
                **cards,
            )
        )
        edisp = energy_dispersion(full, true_e, gamma_fov, migra)
        hdus.append(
            gadf.create_energy_dispersion_hdu(
                _finite(edisp),
                true_e,
                migra,
                gamma_fov,
                point_like=False,
                extname=hdu_name("edisp_fe", event_type),
                **cards,
            )
        )
        psf = psf_table(full, true_e, binning.source_offset_edges(), gamma_fov)
        hdus.append(
            gadf.create_psf_table_hdu(
                _finite(psf),
                true_e,
                binning.source_offset_edges(),
                gamma_fov,
                extname=hdu_name("psf", event_type),
                **cards,
            )
        )
        lonlat = binning.fov_lonlat_edges()
        bkg3d = background_3d_lonlat(_fov_lonlat(bkg), reco_e, lonlat, lonlat, t_obs)
        hdus.append(
            gadf.create_background_3d_hdu(
                _finite(bkg3d),
                reco_e,
                lonlat,
                lonlat,
                alignment="ALTAZ",
                extname=hdu_name("bkg_3d", event_type),
                **cards,
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
