"""A 1D point-like spectral analysis of DL3 observations with gammapy (the science check of DL3).

:func:`fit_spectrum` opens a DL3 directory as a gammapy data store, builds one ON/OFF spectrum
dataset per observation (ON: a point region at the target whose radius is the IRFs' RAD_MAX
per energy; OFF: wobble regions at the same offset from the pointing), fits a power law with
WStat to all of them jointly and returns the index, the flux at the reference energy (with
errors) and the detection significance.

The datasets are fitted jointly, not stacked: gammapy stacks ON/OFF datasets by deriving the
stacked OFF acceptance from alpha x n_off, so an observation whose OFF regions hold no event
(a short bright one, the background after cuts is ~0) stacks to alpha = 0 in every bin, and
WStat with alpha = 0 and n_off = 0 has no minimum (the fit then fails or stays at its start).
:func:`plot_spectrum` draws the flux points with the fitted and the injected spectra.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class SpectrumFit:
    """The fitted power law and the detection."""

    index: float
    index_error: float
    amplitude: float  # 1 / (TeV cm2 s) at reference_tev
    amplitude_error: float
    reference_tev: float
    n_on: int
    n_off: int
    alpha: float
    excess: float
    significance_wstat: float
    significance_lima: float
    datasets: object = None
    model: object = None

    def sigma_from(self, index: float, amplitude: float) -> tuple[float, float]:
        """How many standard errors the fit is from an index and amplitude."""
        return (
            abs(self.index - index) / self.index_error,
            abs(self.amplitude - amplitude) / self.amplitude_error,
        )


def fit_spectrum(
    dl3_dir: Path,
    ra_deg: float,
    dec_deg: float,
    reference_tev: float = 1.0,
    energy_range_tev: tuple[float, float] = (0.05, 100.0),
    n_off_regions: int = 3,
) -> SpectrumFit:
    """Fit a power law to the target at (ra, dec) in every observation of ``dl3_dir``."""
    import astropy.units as u
    from astropy.coordinates import SkyCoord
    from gammapy.data import DataStore
    from gammapy.datasets import Datasets, SpectrumDataset
    from gammapy.makers import (
        ReflectedRegionsBackgroundMaker,
        SafeMaskMaker,
        SpectrumDatasetMaker,
        WobbleRegionsFinder,
    )
    from gammapy.maps import MapAxis, RegionGeom
    from gammapy.modeling import Fit
    from gammapy.modeling.models import PowerLawSpectralModel, SkyModel
    from gammapy.stats import WStatCountsStatistic
    from regions import PointSkyRegion

    store = DataStore.from_dir(dl3_dir)
    observations = store.get_observations(required_irf="point-like")
    target = SkyCoord(ra_deg * u.deg, dec_deg * u.deg, frame="icrs")
    e_min, e_max = energy_range_tev
    reco_axis = MapAxis.from_energy_bounds(e_min, e_max, nbin=5, per_decade=True, unit="TeV")
    true_axis = MapAxis.from_energy_bounds(
        e_min / 2, e_max * 2, nbin=10, per_decade=True, unit="TeV", name="energy_true"
    )
    geom = RegionGeom.create(region=PointSkyRegion(target), axes=[reco_axis])
    empty = SpectrumDataset.create(geom=geom, energy_axis_true=true_axis)
    maker = SpectrumDatasetMaker(
        containment_correction=False, selection=["counts", "exposure", "edisp"]
    )
    background = ReflectedRegionsBackgroundMaker(
        region_finder=WobbleRegionsFinder(n_off_regions=n_off_regions)
    )
    safe = SafeMaskMaker(methods=["aeff-max"], aeff_percent=10)
    datasets = Datasets()
    for observation in observations:
        dataset = maker.run(empty.copy(name=f"obs{observation.obs_id}"), observation)
        dataset_on_off = background.run(dataset, observation)
        datasets.append(safe.run(dataset_on_off, observation))
    model = PowerLawSpectralModel(
        index=2.5, amplitude=1e-11 * u.Unit("cm-2 s-1 TeV-1"), reference=reference_tev * u.TeV
    )
    datasets.models = [SkyModel(spectral_model=model, name="target")]
    result = Fit().run(datasets)
    if not result.success:
        raise RuntimeError(f"the spectral fit did not converge: {result.message}")
    n_on, n_off, alpha = _on_off_counts(datasets)
    lima = WStatCountsStatistic(n_on, n_off, alpha)
    index = model.parameters["index"]
    amplitude = model.parameters["amplitude"]
    unit = u.Unit("cm-2 s-1 TeV-1")
    return SpectrumFit(
        index=float(index.value),
        index_error=float(index.error),
        amplitude=float(amplitude.quantity.to_value(unit)),
        amplitude_error=float((amplitude.error * amplitude.unit).to_value(unit)),
        reference_tev=reference_tev,
        n_on=n_on,
        n_off=n_off,
        alpha=alpha,
        excess=float(lima.n_sig),
        significance_wstat=_sqrt_ts(datasets, model.parameters["amplitude"]),
        significance_lima=float(np.nan_to_num(lima.sqrt_ts)),
        datasets=datasets,
        model=model,
    )


def _on_off_counts(datasets) -> tuple[int, int, float]:
    """ON and OFF counts in the safe energy range of every dataset, and the mean alpha there."""
    n_on = n_off = 0
    alphas = []
    for data in datasets:
        mask = data.mask_safe.data.squeeze().astype(bool)
        n_on += int(np.sum(data.counts.data.squeeze()[mask]))
        n_off += int(np.sum(data.counts_off.data.squeeze()[mask]))
        alphas.append(data.alpha.data.squeeze()[mask])
    alpha_bins = np.concatenate(alphas) if alphas else np.array([])
    return n_on, n_off, float(np.mean(alpha_bins)) if alpha_bins.size else 0.0


def _sqrt_ts(datasets, amplitude) -> float:
    """sqrt(TS) of the fitted source: WStat without the source minus WStat at the best fit."""
    best = datasets.stat_sum()
    value = amplitude.value
    amplitude.value = 0.0
    try:
        without = datasets.stat_sum()
    finally:
        amplitude.value = value
    return float(np.sqrt(max(without - best, 0.0)))


def plot_spectrum(
    fit: SpectrumFit,
    injected_index: float,
    injected_amplitude: float,
    injected_reference_tev: float,
    path: Path,
    title: str,
) -> None:
    """E² dN/dE: flux points of the stacked dataset, the fitted and the injected power laws."""
    import astropy.units as u
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from gammapy.estimators import FluxPointsEstimator
    from gammapy.modeling.models import PowerLawSpectralModel

    edges = fit.datasets[0].counts.geom.axes["energy"].edges  # one reco axis for all
    safe = np.any([d.mask_safe.data.squeeze() for d in fit.datasets], axis=0)
    counts = np.sum([d.counts.data.squeeze() for d in fit.datasets], axis=0)
    with_counts = safe & (counts > 0)  # not beyond the last event
    low, high = edges[:-1][safe].min(), edges[1:][with_counts if with_counts.any() else safe].max()
    estimator = FluxPointsEstimator(
        energy_edges=np.geomspace(low.to_value(u.TeV), high.to_value(u.TeV), 7) * u.TeV,
        source="target",
        selection_optional=[],
    )
    points = estimator.run(fit.datasets)
    fig, ax = plt.subplots(figsize=(7, 5), layout="constrained")
    points.plot(ax=ax, sed_type="e2dnde", label="flux points (DL3, WStat)")
    energy_bounds = [low.to_value(u.TeV), high.to_value(u.TeV)] * u.TeV
    fit.model.plot(energy_bounds, ax=ax, sed_type="e2dnde", label="fitted power law")
    fit.model.plot_error(energy_bounds, ax=ax, sed_type="e2dnde", alpha=0.3)
    injected = PowerLawSpectralModel(
        index=injected_index,
        amplitude=injected_amplitude * u.Unit("cm-2 s-1 TeV-1"),
        reference=injected_reference_tev * u.TeV,
    )
    injected.plot(energy_bounds, ax=ax, sed_type="e2dnde", ls="--", color="k", label="injected")
    ax.set_title(title)
    ax.legend()
    fig.savefig(path, dpi=100)
    plt.close(fig)
