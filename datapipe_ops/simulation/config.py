"""Configuration of ``datapipe simulate``: productions (``run``/``production``) and observations.

YAML files live in ``include/config/simulation/``; every key has a documented default, unknown
keys are errors. Load them with :func:`datapipe_ops.config.load_config`::

    load_config("include/config/simulation/demo.yaml", SimulationConfig)
    load_config("include/config/simulation/observation_crab.yaml", ObservationConfig)

The numbers of the physics model (``physics:``) and of each camera's electronics (``cameras:``)
default to the values documented in ``docs/simulation.md``; a file only lists what it changes.
"""

from __future__ import annotations

import itertools
from typing import Any, Literal

from astropy.time import Time
from pydantic import Field, PositiveFloat, PositiveInt, field_validator, model_validator

from datapipe_ops.config import StageConfig

Particle = Literal["gamma", "electron", "proton"]

#: sim_telarray / ctapipe ``shower_primary_id`` of each particle.
PRIMARY_ID: dict[str, int] = {"gamma": 0, "electron": 1, "proton": 101}


class Atmosphere(StageConfig):
    """Isothermal exponential atmosphere (see :mod:`datapipe_ops.simulation.atmosphere`)."""

    depth_sea_level_g_cm2: PositiveFloat = 1030.0
    scale_height_m: PositiveFloat = 8400.0
    n0_minus_1: PositiveFloat = 2.83e-4


class ShowerPhysics(StageConfig):
    """The numbers of the shower and Cherenkov-light model (docs/simulation.md cites each)."""

    radiation_length_g_cm2: PositiveFloat = 36.62
    critical_energy_mev: PositiveFloat = 87.92
    profile_width_factor: PositiveFloat = 0.5
    photon_density_per_m2_tev: PositiveFloat = 100.0
    light_pool_radius_m: PositiveFloat = 120.0
    light_pool_tail_fraction: PositiveFloat = 0.6
    photon_detection_efficiency: float = Field(0.10, gt=0, le=1)
    lateral_spread_m: PositiveFloat = 9.0
    lateral_energy_index: float = 0.08
    lateral_impact_scale_m: PositiveFloat = 300.0
    proton_interaction_length_g_cm2: PositiveFloat = 83.0
    pion_interaction_length_g_cm2: PositiveFloat = 120.0
    hadron_light_fraction: float = Field(0.33, gt=0, le=1)
    hadron_subshowers_at_1tev: PositiveFloat = 2.0
    hadron_max_subshowers: int = Field(8, ge=1, le=32)
    hadron_transverse_momentum_gev: PositiveFloat = 0.35
    hadron_lateral_factor: PositiveFloat = 1.8
    hadron_tail_factor: PositiveFloat = 2.0
    muon_ring_probability_scale: float = Field(1.0, ge=0)


class CameraSimulation(StageConfig):
    """Electronics and trigger of one camera type (per-camera defaults in CAMERA_DEFAULTS)."""

    nsb_rate_ghz: float = Field(0.25, ge=0, description="dark-sky NSB p.e. rate per pixel")
    pedestal_adc: PositiveFloat = 400.0
    pedestal_spread_adc: float = Field(20.0, ge=0)
    gain_adc_per_pe: PositiveFloat = Field(10.0, description="sum of samples per p.e.")
    gain_spread: float = Field(0.08, ge=0, lt=0.5)
    time_offset_spread_ns: float = Field(1.0, ge=0)
    electronic_noise_adc: float = Field(1.5, ge=0)
    spe_resolution: float = Field(0.4, ge=0, le=2)
    adc_max: int = Field(4095, ge=255, le=65535)
    window_offset_ns: float = Field(15.0, ge=0)
    trigger_threshold_pe: PositiveFloat = 6.0
    trigger_multiplicity: int = Field(3, ge=1, le=7)
    trigger_window_ns: PositiveFloat = 4.0
    dead_pixel_fraction: float = Field(0.001, ge=0, lt=0.5)
    extraction_window_samples: PositiveInt = 7


#: Per-camera defaults (a YAML ``cameras:`` entry overrides single keys of these).
CAMERA_DEFAULTS: dict[str, dict[str, Any]] = {
    "LSTCam": {
        "nsb_rate_ghz": 0.25,
        "gain_adc_per_pe": 10.0,
        "window_offset_ns": 15.0,
        "trigger_threshold_pe": 6.0,
        "extraction_window_samples": 7,
    },
    "NectarCam": {
        "nsb_rate_ghz": 0.25,
        "gain_adc_per_pe": 12.0,
        "window_offset_ns": 22.0,
        "trigger_threshold_pe": 6.0,
        "extraction_window_samples": 8,
    },
    "FlashCam": {
        "nsb_rate_ghz": 0.25,
        "gain_adc_per_pe": 8.0,
        "window_offset_ns": 40.0,
        "trigger_threshold_pe": 6.0,
        "extraction_window_samples": 4,
    },
    "CHEC": {
        "nsb_rate_ghz": 0.04,
        "gain_adc_per_pe": 20.0,
        "window_offset_ns": 50.0,
        "trigger_threshold_pe": 5.0,
        "extraction_window_samples": 12,
    },
}


class Pointing(StageConfig):
    """Fixed pointing of a simulation run (all telescopes parallel)."""

    zenith_deg: float = Field(20.0, ge=0, le=70)
    azimuth_deg: float = Field(0.0, ge=-360, le=360)


class EnergyRange(StageConfig):
    """Power-law energy distribution ``dN/dE ∝ E^index`` between ``min_tev`` and ``max_tev``."""

    min_tev: PositiveFloat
    max_tev: PositiveFloat
    index: float = Field(-2.0, ge=-5, le=0)

    @model_validator(mode="after")
    def _ordered(self) -> EnergyRange:
        if self.max_tev <= self.min_tev:
            raise ValueError(f"max_tev ({self.max_tev}) must exceed min_tev ({self.min_tev})")
        return self


class ParticleSource(StageConfig):
    """One component of a production: a particle type thrown in ``n_files`` files."""

    name: str = Field(pattern=r"^[A-Za-z0-9_-]+$")
    particle: Particle
    n_showers: PositiveInt
    energy: EnergyRange
    max_scatter_range_m: PositiveFloat
    viewcone_min_deg: float = Field(0.0, ge=0, le=20)
    viewcone_max_deg: float = Field(0.0, ge=0, le=20)
    offset_deg: float = Field(0.0, ge=0, le=10, description="point source offset from pointing")
    offset_angle_deg: float = Field(0.0, description="position angle of the offset, from +fov_lat")
    n_files: PositiveInt = 1
    obs_id_start: PositiveInt = 1

    @model_validator(mode="after")
    def _cone(self) -> ParticleSource:
        if self.viewcone_max_deg < self.viewcone_min_deg:
            raise ValueError("viewcone_max_deg must not be below viewcone_min_deg")
        if self.viewcone_max_deg > 0 and self.offset_deg > 0:
            raise ValueError("give either offset_deg (point source) or a view cone, not both")
        return self

    @property
    def diffuse(self) -> bool:
        """True for a view cone (diffuse), False for a point source."""
        return self.viewcone_max_deg > 0


class ArrayTrigger(StageConfig):
    """Array (stereo) trigger: an event is kept when this many telescopes triggered."""

    min_telescopes: int = Field(2, ge=1)


class Histogram(StageConfig):
    """Binning of the shower-distribution histogram (energy × core distance × view cone)."""

    energy_bins_per_decade: PositiveInt = 10
    core_distance_bins: PositiveInt = 20
    viewcone_bins: PositiveInt = 10


def _check_time(value: str) -> str:
    try:
        Time(value, scale="utc")
    except ValueError as exc:
        raise ValueError(f"not an ISO time: {exc}") from None
    return value


class CommonSimulation(StageConfig):
    """Settings shared by productions and observations."""

    name: str = Field("simulation", pattern=r"^[A-Za-z0-9_.-]+$")
    seed: int = Field(0, ge=0)
    camera_seed: int = Field(1, ge=0, description="per-pixel camera truth depends on this only")
    subarray: str = "demo"
    telescopes: list[int] | None = Field(None, description="subset of the subarray's tel_ids")
    atmosphere: Atmosphere = Atmosphere()
    physics: ShowerPhysics = ShowerPhysics()
    trigger: ArrayTrigger = ArrayTrigger()
    nsb_scale: float = Field(1.0, ge=0, le=100, description="NSB relative to dark sky")
    chunk_size: int = Field(2000, ge=10, le=100000, description="showers per batch")
    waveform_compression: Literal["blosc-lz4", "lzf", "szip", "gzip", "none"] = Field(
        "blosc-lz4", description="HDF5 filter of the waveform arrays (see datapipe_ops.io.tables)"
    )
    cameras: dict[str, CameraSimulation] = Field(default_factory=dict)

    @field_validator("cameras", mode="before")
    @classmethod
    def _merge_camera_defaults(cls, value: Any) -> Any:
        if value is None:
            value = {}
        if not isinstance(value, dict):
            return value
        unknown = sorted(set(value) - set(CAMERA_DEFAULTS))
        if unknown:
            raise ValueError(f"unknown camera {unknown[0]!r} (known: {', '.join(CAMERA_DEFAULTS)})")
        merged: dict[str, Any] = {}
        for name, defaults in CAMERA_DEFAULTS.items():
            override = value.get(name) or {}
            if isinstance(override, CameraSimulation):
                merged[name] = override
            elif isinstance(override, dict):
                merged[name] = {**defaults, **override}
            else:
                merged[name] = override
        return merged

    def camera(self, name: str) -> CameraSimulation:
        """The electronics settings of camera type ``name``."""
        return self.cameras[name]


class SimulationConfig(CommonSimulation):
    """A production: particle components thrown at a fixed pointing (run, production)."""

    pointing: Pointing = Pointing()
    start_time: str = "2025-01-01T00:00:00"
    shower_rate_hz: PositiveFloat = Field(1000.0, description="nominal rate of thrown showers")
    histogram: Histogram = Histogram()
    particles: list[ParticleSource] = Field(min_length=1)

    @field_validator("start_time")
    @classmethod
    def _start(cls, value: str) -> str:
        return _check_time(value)

    @model_validator(mode="after")
    def _unique_names(self) -> SimulationConfig:
        names = [p.name for p in self.particles]
        if len(set(names)) != len(names):
            raise ValueError(f"particle component names must be unique, got {names}")
        obs_ranges = sorted((p.obs_id_start, p.obs_id_start + p.n_files) for p in self.particles)
        for (_, stop), (start, _) in itertools.pairwise(obs_ranges):
            if start < stop:
                raise ValueError("obs_id ranges (obs_id_start … + n_files) of components overlap")
        return self

    def component(self, name: str | None) -> ParticleSource:
        """The component called ``name`` (the first one when ``name`` is None)."""
        if name is None:
            return self.particles[0]
        for particle in self.particles:
            if particle.name == name:
                return particle
        known = ", ".join(p.name for p in self.particles)
        raise KeyError(f"no particle component {name!r} (known: {known})")


class Target(StageConfig):
    """The observed source: position and spectrum."""

    name: str = "Crab"
    ra_deg: float = Field(83.6331, ge=0, lt=360)
    dec_deg: float = Field(22.0145, ge=-90, le=90)
    spectrum: str = Field("CRAB_HEGRA", description="a pyirf.spectral constant or 'power_law'")
    power_law_normalization_per_tev_cm2_s: PositiveFloat = 2.83e-11
    power_law_index: float = Field(-2.62, ge=-5, le=0)
    energy: EnergyRange = EnergyRange(min_tev=0.02, max_tev=100.0, index=-2.62)
    max_scatter_range_m: PositiveFloat = 600.0


class Background(StageConfig):
    """A diffuse cosmic-ray component thrown at its real rate (flux × area × solid angle)."""

    particle: Particle
    spectrum: str = Field(description="a pyirf.spectral constant, e.g. IRFDOC_PROTON_SPECTRUM")
    energy: EnergyRange
    viewcone_max_deg: float = Field(gt=0, le=20)
    max_scatter_range_m: PositiveFloat


class ObservationConfig(CommonSimulation):
    """An observation block: a source at a wobble offset plus cosmic-ray background."""

    name: str = Field("crab_observation", pattern=r"^[A-Za-z0-9_.-]+$")
    obs_id: PositiveInt = 10001
    target: Target = Target()
    wobble_offset_deg: float = Field(0.4, ge=0, le=5)
    wobble_angle_deg: float = 0.0
    start_time: str = "2025-11-20T02:30:00"
    duration_s: PositiveFloat = Field(600.0, le=86400)
    gtis: list[tuple[float, float]] | None = Field(
        None, description="good time intervals as [start, stop] seconds from start_time"
    )
    pointing_interval_s: PositiveFloat = 1.0
    time_slice_s: PositiveFloat = Field(1.0, description="pointing held fixed within a slice")
    background: list[Background] = Field(
        default_factory=lambda: [
            Background(
                particle="proton",
                spectrum="IRFDOC_PROTON_SPECTRUM",
                energy=EnergyRange(min_tev=0.05, max_tev=100.0, index=-2.62),
                viewcone_max_deg=4.0,
                max_scatter_range_m=600.0,
            ),
            Background(
                particle="electron",
                spectrum="IRFDOC_ELECTRON_SPECTRUM",
                energy=EnergyRange(min_tev=0.02, max_tev=20.0, index=-3.0),
                viewcone_max_deg=4.0,
                max_scatter_range_m=600.0,
            ),
        ]
    )

    @field_validator("start_time")
    @classmethod
    def _start(cls, value: str) -> str:
        return _check_time(value)

    @model_validator(mode="after")
    def _check_gtis(self) -> ObservationConfig:
        for start, stop in self.gtis or []:
            if not 0 <= start < stop <= self.duration_s:
                raise ValueError(
                    f"GTI [{start}, {stop}] must satisfy 0 <= start < stop <= duration_s"
                )
        return self

    def good_time_intervals(self) -> list[tuple[float, float]]:
        """GTIs in seconds from the start (the whole block when none are configured)."""
        return list(self.gtis) if self.gtis else [(0.0, float(self.duration_s))]
