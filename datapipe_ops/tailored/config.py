"""Configuration of ``datapipe tailored-irf`` (``include/config/irf/tailored.yaml``)."""

from __future__ import annotations

from pydantic import Field, PositiveFloat, PositiveInt

from datapipe_ops.config import StageConfig
from datapipe_ops.irf.config import IRFConfig


class Energy(StageConfig):
    """Thrown power law ``dN/dE ∝ E^index`` between ``min_tev`` and ``max_tev``."""

    min_tev: PositiveFloat
    max_tev: PositiveFloat
    index: float = Field(-2.0, ge=-5, le=0)


class ThrownGammas(StageConfig):
    """Point-like gammas at the observation's wobble offset (all pointings together)."""

    n_showers: PositiveInt = 40000
    energy: Energy = Energy(min_tev=0.02, max_tev=200.0)
    max_scatter_range_m: PositiveFloat = 700.0


class ThrownBackground(StageConfig):
    """A diffuse background particle (all pointings together)."""

    n_showers: PositiveInt = 80000
    energy: Energy = Energy(min_tev=0.05, max_tev=300.0)
    max_scatter_range_m: PositiveFloat = 900.0
    viewcone_max_deg: float = Field(8.0, gt=0, le=20)


class TailoredConfig(StageConfig):
    """What ``datapipe tailored-irf`` simulates for one observation, and how its IRFs are made.

    The observation's pointing track is cut into ``n_pointings`` runs of equal duration, each
    simulated at the track's mean alt/az over its part of the good time intervals, with the
    observation's NSB level; the showers are shared equally between the runs.
    """

    seed: int = Field(0, ge=0, description="with the obs_id, seeds every run of the production")
    subarray: str = Field("demo", description="must hold the observation's telescopes")
    n_pointings: PositiveInt = Field(4, le=100, description="runs along the pointing track")
    chunk_size: int = Field(4000, ge=10, le=100000, description="showers per batch")
    gammas: ThrownGammas = ThrownGammas()
    protons: ThrownBackground = ThrownBackground()
    electrons: ThrownBackground | None = Field(
        None, description="electrons too (null: gammas and protons only)"
    )
    irf: IRFConfig = Field(
        default_factory=IRFConfig, description="compute-irf's configuration (docs/irf.md)"
    )
