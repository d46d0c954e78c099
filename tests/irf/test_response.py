"""Cuts and IRFs of the toy productions: known toy response recovered, GADF readable."""

from __future__ import annotations

import numpy as np
import pytest
import toy_dl2
from astropy import units as u
from astropy.io import fits
from astropy.table import vstack

from datapipe_ops.irf.cuts import read_cuts
from datapipe_ops.irf.events import add_weights, read_particle
from datapipe_ops.irf.response import hdu_name


@pytest.fixture(scope="module")
def gammas(irf_products):
    config = irf_products["config"]
    data = read_particle(irf_products["files"][20.0]["gamma"], "gamma")
    add_weights(data, config.spectra, 50 * u.h)
    return data.events


@pytest.mark.requirement("DPPS-DP-R-090")
def test_cuts_product_per_event_type_with_fixed_efficiency(irf_products, gammas):
    cuts = read_cuts(irf_products["cuts"])
    assert cuts.event_types == [0, 1, 2]
    assert cuts.model_set_id == "toyset-1"
    low, high = cuts.energy_range_tev
    assert 0.0 < low < 0.2 and high > 10.0
    for group in cuts.groups:
        of_type = gammas[np.asarray(gammas["event_type"]) == group.event_type]
        passed = group.selection(of_type, theta=False)
        energy = of_type["reco_energy"].to_value(u.TeV)
        central = (energy > 0.2) & (energy < 5.0)
        assert passed[central].mean() == pytest.approx(0.7, abs=0.04)
    # theta cuts grow with the toy PSF, which grows with the event type
    middle = len(cuts.groups[0].theta) // 2
    thetas = [g.theta["cut"][middle].to_value(u.deg) for g in cuts.groups]
    assert thetas == sorted(thetas)


@pytest.mark.requirement("DPPS-DP-R-091")
def test_effective_area_at_high_energy_is_scatter_area_times_efficiency(irf_products):
    with fits.open(irf_products["irfs"][20.0]) as hdul:
        table = hdul[hdu_name("aeff_fe")].data
        energy = np.sqrt(table["ENERG_LO"][0] * table["ENERG_HI"][0])
        area = table["EFFAREA"][0][0]  # the source's offset bin
    radius = toy_dl2.scatter_radius(20.0)
    expected = np.pi * radius**2 * toy_dl2.EFF_MAX * 0.7  # trigger × gammaness cut
    high = (energy > 1.0) & (energy < 8.0)  # above: too few toy gammas per cut bin
    # a few hundred toy gammas per bin: compare the mean of the bins (statistics ~4 %)
    assert area[high].mean() == pytest.approx(expected, rel=0.1)
    assert area[high] == pytest.approx(np.full(high.sum(), expected), rel=0.25)
    assert np.all(area[energy < 0.02] < 0.1 * expected)  # below the toy threshold


@pytest.mark.requirement("DPPS-DP-R-091")
def test_migration_centred_at_one_plus_bias(irf_products):
    with fits.open(irf_products["irfs"][20.0]) as hdul:
        edisp = hdul[hdu_name("edisp")].data
    migra = np.sqrt(edisp["MIGRA_LO"][0] * edisp["MIGRA_HI"][0])
    matrix = edisp["MATRIX"][0][0]  # [migra, true energy] of the source's offset bin
    energy = np.sqrt(edisp["ENERG_LO"][0] * edisp["ENERG_HI"][0])
    for column in np.flatnonzero((energy > 0.3) & (energy < 10.0)):
        pdf = matrix[:, column]
        cdf = np.cumsum(pdf) / pdf.sum()
        median = migra[np.searchsorted(cdf, 0.5)]
        assert median == pytest.approx(1 + toy_dl2.BIAS, abs=0.07)


def _containment_68(psf_hdu, energy_index):
    rad_lo, rad_hi = psf_hdu.data["RAD_LO"][0], psf_hdu.data["RAD_HI"][0]
    rpsf = psf_hdu.data["RPSF"][0][:, 0, energy_index]
    solid = np.pi * (np.deg2rad(rad_hi) ** 2 - np.deg2rad(rad_lo) ** 2)
    cdf = np.cumsum(rpsf * solid)
    return rad_hi[np.searchsorted(cdf / cdf[-1], 0.68)]


@pytest.mark.requirement("DPPS-DP-R-091")
def test_per_event_type_irfs_exist_and_psfs_are_ordered(irf_products):
    with fits.open(irf_products["irfs"][20.0]) as hdul:
        names = {h.name for h in hdul}
        for event_type in (0, 1, 2):
            for component in (
                "aeff",
                "edisp",
                "rad_max",
                "bkg",
                "psf",
                "aeff_fe",
                "angular_resolution",
                "energy_bias_resolution",
            ):
                assert hdu_name(component, event_type) in names
        energy = np.sqrt(hdul["PSF"].data["ENERG_LO"][0] * hdul["PSF"].data["ENERG_HI"][0])
        for index in np.flatnonzero((energy > 0.1) & (energy < 5.0)):
            radii = [_containment_68(hdul[hdu_name("psf", t)], index) for t in (0, 1, 2)]
            assert radii[0] < radii[1] < radii[2], (energy[index], radii)
        resolution = [hdul[hdu_name("angular_resolution", t)].data for t in (0, 1, 2)]
        assert np.nanmedian(resolution[0]["angular_resolution_68"]) < np.nanmedian(
            resolution[2]["angular_resolution_68"]
        )
        header = hdul[0].header
        assert header["MODELSET"] == "toyset-1" and header["ZENITH"] == pytest.approx(20.0)


@pytest.mark.requirement("DPPS-DP-R-091")
def test_gammapy_reads_every_irf(irf_products):
    from gammapy.irf import (
        PSF3D,
        Background2D,
        Background3D,
        EffectiveAreaTable2D,
        EnergyDispersion2D,
        RadMax2D,
    )

    path = irf_products["irfs"][20.0]
    for cls, name in (
        (EffectiveAreaTable2D, "aeff"),
        (EffectiveAreaTable2D, "aeff_fe"),
        (EnergyDispersion2D, "edisp"),
        (PSF3D, "psf"),
        (RadMax2D, "rad_max"),
        (Background2D, "bkg"),
        (Background3D, "bkg_3d"),
    ):
        irf = cls.read(path, hdu=hdu_name(name))
        assert np.nanmax(irf.data) > 0, name


@pytest.mark.requirement("DPPS-DP-R-091")
def test_background_rate_from_protons_and_electrons(irf_products):
    config = irf_products["config"]
    files = irf_products["files"][20.0]
    protons = read_particle(files["proton"], "proton")
    electrons = read_particle(files["electron"], "electron")
    for data in (protons, electrons):
        add_weights(data, config.spectra, 50 * u.h)
    background = vstack([protons.events, electrons.events])
    assert np.all(background["weight"] > 0)
    with fits.open(irf_products["irfs"][20.0]) as hdul:
        bkg = hdul["BACKGROUND"].data["BKG"][0]
        assert bkg.max() > 0 and hdul["BACKGROUND"].header["TUNIT5"].replace(" ", "") in (
            "MeV-1s-1sr-1",
            "1/(MeVssr)",
        )
