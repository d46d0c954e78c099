"""Configuration of the IRF stages: event selection, binning, spectra, cuts, IRFs, sensitivity.

One :class:`IRFConfig` serves ``datapipe optimize-cuts``, ``compute-irf`` and ``sensitivity``
(the YAML files live in ``include/config/irf/``); ``interpolate-irf`` reads
:class:`InterpolationConfig`. Every value has a default, so an empty file is a valid
configuration.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from astropy import units as u
from pydantic import Field, model_validator

from datapipe_ops.config import StageConfig
from datapipe_ops.reco import names

#: Algorithm names of the DL2 tables read by default (the DL1→DL2 stage's names).
DEFAULT_GEOMETRY = names.DEFAULT_GEOMETRY
DEFAULT_ENERGY = names.ENERGY_ALGORITHM
DEFAULT_GAMMANESS = names.GAMMANESS_ALGORITHM
DEFAULT_EVENT_TYPE = names.EVENT_TYPE_ALGORITHM


class DL2Algorithms(StageConfig):
    """Which reconstruction of a DL2 product to read (``/dl2/event/subarray/<kind>/<name>``)."""

    geometry: str = DEFAULT_GEOMETRY
    energy: str = DEFAULT_ENERGY
    gammaness: str = DEFAULT_GAMMANESS
    event_type: str | None = Field(
        DEFAULT_EVENT_TYPE, description="None: every event is of type 0 (no event-type table)."
    )


class QualityCuts(StageConfig):
    """Cuts applied to every event before anything else (and recorded in the cuts product)."""

    min_multiplicity: int = Field(2, ge=1, description="Telescopes in the reconstruction.")
    require_valid: bool = Field(True, description="Drop events any reconstruction flags invalid.")
    max_fov_offset_deg: float = Field(
        5.0, gt=0, description="Reconstructed direction at most this far from the pointing."
    )


class EnergyBinning(StageConfig):
    """Logarithmic energy bins: ``bins_per_decade`` between ``min_tev`` and ``max_tev``."""

    min_tev: float = Field(0.02, gt=0)
    max_tev: float = Field(200.0, gt=0)
    bins_per_decade: int = Field(5, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> EnergyBinning:
        if self.max_tev <= self.min_tev:
            raise ValueError(f"max_tev {self.max_tev} is not above min_tev {self.min_tev}")
        return self

    def edges(self) -> u.Quantity:
        """The bin edges [TeV] (the last edge is ``max_tev`` or just above it)."""
        decades = np.log10(self.max_tev / self.min_tev)
        n_bins = max(1, int(np.ceil(decades * self.bins_per_decade - 1e-9)))
        return np.geomspace(self.min_tev, self.max_tev, n_bins + 1) * u.TeV


class Binning(StageConfig):
    """The axes of the IRFs."""

    true_energy: EnergyBinning = EnergyBinning(min_tev=0.01, max_tev=300.0)
    reco_energy: EnergyBinning = EnergyBinning()
    fov_offset_max_deg: float = Field(5.0, gt=0)
    fov_offset_bins: int = Field(5, ge=1)
    migration_min: float = Field(0.2, gt=0)
    migration_max: float = Field(5.0, gt=1)
    migration_bins: int = Field(30, ge=2)
    source_offset_max_deg: float = Field(1.0, gt=0)
    source_offset_bins: int = Field(100, ge=2)
    background_fov_bins: int = Field(10, ge=1, description="DETX/DETY bins of BKG_3D per side.")

    def fov_offset_edges(self) -> u.Quantity:
        """FoV offset bin edges [deg] from 0."""
        return np.linspace(0.0, self.fov_offset_max_deg, self.fov_offset_bins + 1) * u.deg

    def migration_edges(self) -> np.ndarray:
        """Energy migration (reco / true) bin edges, logarithmic."""
        return np.geomspace(self.migration_min, self.migration_max, self.migration_bins + 1)

    def source_offset_edges(self) -> u.Quantity:
        """PSF source offset bin edges [deg]."""
        return np.linspace(0.0, self.source_offset_max_deg, self.source_offset_bins + 1) * u.deg

    def fov_lonlat_edges(self) -> u.Quantity:
        """DETX / DETY bin edges [deg] of the 3-D background, symmetric around the pointing."""
        r = self.fov_offset_max_deg
        return np.linspace(-r, r, self.background_fov_bins + 1) * u.deg


class Spectra(StageConfig):
    """Physical spectra the simulated particles are weighted to (names of pyirf spectra)."""

    gamma: Literal["CRAB_HEGRA", "CRAB_MAGIC_JHEAP2015"] = "CRAB_HEGRA"
    proton: Literal["IRFDOC_PROTON_SPECTRUM"] = "IRFDOC_PROTON_SPECTRUM"
    electron: Literal["IRFDOC_ELECTRON_SPECTRUM"] = "IRFDOC_ELECTRON_SPECTRUM"


class SensitivitySettings(StageConfig):
    """Point-source differential sensitivity (also the figure of merit of the cut optimisation)."""

    observation_time_h: float = Field(50.0, gt=0)
    alpha: float = Field(0.2, gt=0, le=1, description="ON / OFF exposure ratio.")
    min_significance: float = Field(5.0, gt=0)
    min_signal_events: float = Field(10.0, ge=0)
    min_excess_over_background: float = Field(0.05, ge=0)
    background_radius_deg: float = Field(
        1.0, gt=0, description="Background events counted within this FoV offset."
    )

    def kwargs(self) -> dict[str, float]:
        """The keyword arguments of ``pyirf.sensitivity.calculate_sensitivity``."""
        return {
            "min_significance": self.min_significance,
            "min_signal_events": self.min_signal_events,
            "min_excess_over_background": self.min_excess_over_background,
        }


class CutSettings(StageConfig):
    """How the gammaness and direction cuts are found."""

    method: Literal["optimize", "optimize_gh", "efficiency"] = Field(
        "optimize",
        description=(
            "optimize: gammaness, theta and multiplicity for best sensitivity (pyirf "
            "optimize_cuts); optimize_gh: gammaness for best sensitivity at a fixed theta "
            "containment (optimize_gh_cut); efficiency: fixed efficiencies "
            "(calculate_percentile_cut)."
        ),
    )
    gh_efficiency: float = Field(0.7, gt=0, le=1)
    theta_containment: float = Field(0.68, gt=0, le=1)
    gh_efficiencies: list[float] = Field(
        default_factory=lambda: [round(x, 2) for x in np.arange(0.3, 0.96, 0.05)]
    )
    theta_containments: list[float] = Field(default_factory=lambda: [0.5, 0.68, 0.8, 0.9])
    multiplicities: list[int] = Field(default_factory=lambda: [2, 3, 4])
    theta_min_deg: float = Field(0.02, gt=0)
    theta_max_deg: float = Field(0.32, gt=0)
    min_events: int = Field(10, ge=1, description="Fewer signal events in a bin: fill value.")
    min_gamma_events_valid: int = Field(
        10, ge=1, description="An energy bin is in the valid range with this many gammas."
    )
    event_types: list[int] | None = Field(
        None, description="Cuts (and IRFs) per event type; None: one set for all events."
    )


class IRFSettings(StageConfig):
    """Which IRF flavours and benchmarks ``compute-irf`` writes."""

    point_like: bool = True
    full_enclosure: bool = True
    benchmarks: bool = True


class IRFConfig(StageConfig):
    """Configuration of ``datapipe optimize-cuts``, ``compute-irf`` and ``sensitivity``."""

    algorithms: DL2Algorithms = DL2Algorithms()
    quality: QualityCuts = QualityCuts()
    binning: Binning = Binning()
    spectra: Spectra = Spectra()
    cuts: CutSettings = CutSettings()
    irf: IRFSettings = IRFSettings()
    sensitivity: SensitivitySettings = SensitivitySettings()
    chunk_size: int = Field(500_000, ge=1, description="DL2 rows read at a time.")


class InterpolationConfig(StageConfig):
    """How ``datapipe interpolate-irf`` turns an IRF set into the IRFs of one observation."""

    allow_nearest: bool = Field(
        False, description="Outside the grid, take the nearest node (within max_distance)."
    )
    max_cos_zenith_distance: float = Field(
        0.05, ge=0, description="Largest |cos zd - cos zd_node| the nearest node may be away."
    )
    node_tolerance: float = Field(
        1e-6, ge=0, description="Within this in cos zenith the observation is at a node."
    )
