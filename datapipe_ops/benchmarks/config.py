"""Configuration of the benchmarks and of their comparison (``include/config/benchmarks/``)."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from datapipe_ops.config import StageConfig

#: per-figure tolerances of include/config/benchmarks/default.yaml
DEFAULT_TOLERANCES = {
    "angular_resolution": 0.05,
    "energy_resolution": 0.05,
    "effective_area": 0.05,
    "sensitivity": 0.10,
    "auc": 0.02,
}


class ComparisonConfig(StageConfig):
    """When a figure counts as changed against its reference."""

    default_tolerance: float = Field(0.05, ge=0, description="Relative, curves with a direction.")
    distribution_tolerance: float = Field(
        0.05, ge=0, description="Total-variation distance of normalised distributions."
    )
    absolute_tolerance: float = Field(0.02, ge=0, description="Curves best at zero (bias).")
    tolerances: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_TOLERANCES),
        description="Per-figure tolerances (replace the defaults when given).",
    )
    min_events_per_bin: int = Field(10, ge=0)

    def tolerance(self, figure: str, better: str | None) -> float:
        """The tolerance of ``figure``, whose curves are better ``better`` (None: a shape)."""
        if figure in self.tolerances:
            return self.tolerances[figure]
        if better is None:
            return self.distribution_tolerance
        if better == "zero":
            return self.absolute_tolerance
        return self.default_tolerance


class DL0Settings(StageConfig):
    """DL0: pedestal and noise from the leading samples, peak positions, trigger rates."""

    baseline_samples: int = Field(5, ge=1)
    max_events_per_telescope: int = Field(500, ge=1)
    signal_threshold_sigma: float = Field(5.0, gt=0)
    time_bin_s: float = Field(10.0, gt=0)


class DL1Settings(StageConfig):
    """DL1: when an image survived the cleaning."""

    min_pixels: int = Field(3, ge=1)


class DL2Settings(StageConfig):
    """DL2 and models: the true/reconstructed energy bins."""

    energy_min_tev: float = Field(0.02, gt=0)
    energy_max_tev: float = Field(200.0, gt=0)
    bins_per_decade: int = Field(5, ge=1)

    def energy_edges(self) -> np.ndarray:
        """Logarithmic bin edges [TeV]."""
        decades = np.log10(self.energy_max_tev / self.energy_min_tev)
        n_bins = max(1, int(np.ceil(decades * self.bins_per_decade - 1e-9)))
        return np.geomspace(self.energy_min_tev, self.energy_max_tev, n_bins + 1)


class DL3Settings(StageConfig):
    """DL3: θ² histogram, counts map and event-rate binning."""

    theta2_max_deg2: float = Field(0.3, gt=0)
    theta2_bins: int = Field(30, ge=2)
    on_radius_deg: float = Field(0.2, gt=0)
    map_size_deg: float = Field(5.0, gt=0)
    map_bins: int = Field(50, ge=2)
    time_bin_s: float = Field(60.0, gt=0)


class BenchmarkConfig(StageConfig):
    """Every benchmark and the comparison; an empty file is a valid configuration."""

    comparison: ComparisonConfig = ComparisonConfig()
    dl0: DL0Settings = DL0Settings()
    dl1: DL1Settings = DL1Settings()
    dl2: DL2Settings = DL2Settings()
    dl3: DL3Settings = DL3Settings()
