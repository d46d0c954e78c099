"""Showers: primaries drawn in batches, and the Cherenkov emitters that stand for them.

Geometry is in ctapipe's ground frame (x north, y west, z up, origin at the array centre on the
observation level). A shower is a straight axis through its ground core along the unit vector
``direction`` (pointing from the ground to where the primary comes from).

Sampling (all vectorised numpy on a :class:`numpy.random.Generator`):

* energy from ``dN/dE ∝ E^index`` between ``E_min`` and ``E_max`` (inverse CDF);
* direction uniform in solid angle in a view-cone annulus around the pointing, or fixed (a point
  source at an offset and position angle);
* core uniform in a disc of radius ``R`` in the plane perpendicular to the shower axis (so the
  thrown area seen by the incoming flux is ``πR²``, what pyirf's effective area assumes), then
  projected along the axis onto the ground;
* depth of maximum after Heitler / Greisen, ``X_max = X₀ (ln(E/E_c) - t₀)`` with ``t₀ = 0.5`` for
  photons and ``1.0`` for electrons, plus the fluctuation of the first interaction
  (exponential with the pair-production length ``9/7 X₀`` for photons, ``X₀`` for electrons).

Emission (:func:`emission_lines`): a photon or electron shower is one *emission line* (its axis);
a proton shower is the superposition of electromagnetic sub-showers started by neutral pions:
the first interaction at ``X₁ ~ Exp(λ_p)``, further generations deeper by ``Exp(λ_π)``, energy
fractions from a Dirichlet distribution of the electromagnetic energy, and each sub-shower's
axis tilted from the primary axis by ``p_T / E_sub`` in a random direction. Each line then
becomes :data:`N_EMITTERS` emitters (:func:`emitters`): points on its axis at the depth
quantiles of a Gaussian longitudinal profile around ``X_max`` whose width follows the
Longo–Sestili parameterisation used by the PDG (``σ_t = √(b t_max + 1) / b``, ``b = 0.5``),
scaled by ``physics.profile_width_factor``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from datapipe_ops.simulation.atmosphere import (
    SPEED_OF_LIGHT_M_NS,
    height_of_slant_depth,
    refractivity,
    slant_depth_of_height,
)
from datapipe_ops.simulation.config import PRIMARY_ID, Atmosphere, ShowerPhysics

#: Emitters per emission line, at the mid-quantiles of a standard normal (equal weights).
N_EMITTERS = 4
_QUANTILES = np.array([-1.1503, -0.3186, 0.3186, 1.1503])
#: Depth half-width of one emitter (in units of the profile sigma): the mixture of the four
#: Gaussians then has unit variance (0.712 + 0.42² ≈ 0.89 ≈ 1).
_EMITTER_HALF_WIDTH = 0.42
#: The reference geometry of the photon density: 1 TeV photon, vertical, observed at 2 km a.s.l.
REFERENCE_ENERGY_TEV = 1.0
REFERENCE_ALTITUDE_M = 2000.0


# --------------------------------------------------------------------------------------------
# frames


def altaz_to_vector(alt: np.ndarray, az: np.ndarray) -> np.ndarray:
    """Unit vectors (…, 3) in the ground frame (x north, y west, z up) for alt/az [rad]."""
    alt = np.asarray(alt, dtype=np.float64)
    az = np.asarray(az, dtype=np.float64)
    return np.stack([np.cos(alt) * np.cos(az), -np.cos(alt) * np.sin(az), np.sin(alt)], axis=-1)


def vector_to_altaz(vector: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """alt, az [rad] (az in [0, 2π)) of ground-frame unit vectors (…, 3)."""
    vector = np.asarray(vector, dtype=np.float64)
    alt = np.arcsin(np.clip(vector[..., 2], -1.0, 1.0))
    az = np.mod(np.arctan2(-vector[..., 1], vector[..., 0]), 2 * np.pi)
    return alt, az


def pointing_basis(alt: float, az: float) -> np.ndarray:
    """Rows: pointing direction, +fov_lon and +fov_lat unit vectors of the telescope frame.

    The telescope frame is ctapipe's ``TelescopeFrame`` (an astropy ``SkyOffsetFrame`` of AltAz
    centred on the pointing): ``fov_lon`` grows with azimuth, ``fov_lat`` with altitude.
    """
    ca, sa, cz, sz = np.cos(alt), np.sin(alt), np.cos(az), np.sin(az)
    return np.array(
        [
            [ca * cz, -ca * sz, sa],
            [-sz, -cz, 0.0],
            [-sa * cz, sa * sz, ca],
        ]
    )


def offset_directions(basis: np.ndarray, offset: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Directions at angular ``offset`` [rad] from the pointing, position angle ``angle`` [rad]
    measured from +fov_lat towards +fov_lon (exact spherical offset)."""
    offset = np.asarray(offset, dtype=np.float64)[..., np.newaxis]
    angle = np.asarray(angle, dtype=np.float64)[..., np.newaxis]
    pointing, e_lon, e_lat = basis
    return np.cos(offset) * pointing + np.sin(offset) * (
        np.cos(angle) * e_lat + np.sin(angle) * e_lon
    )


def perpendicular_basis(direction: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors (…, 3) spanning the plane perpendicular to each ``direction``."""
    direction = np.atleast_2d(direction)
    helper = np.zeros_like(direction)
    steep = np.abs(direction[:, 2]) > 0.999
    helper[~steep, 2] = 1.0
    helper[steep, 0] = 1.0
    first = np.cross(direction, helper)
    first /= np.linalg.norm(first, axis=-1, keepdims=True)
    second = np.cross(direction, first)
    return first, second


def ground_intersection(point: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """Where the lines ``point + s · direction`` cross the ground plane z = 0 (…, 3)."""
    scale = point[..., 2] / direction[..., 2]
    return point - scale[..., np.newaxis] * direction


# --------------------------------------------------------------------------------------------
# primaries


def sample_power_law(
    rng: np.random.Generator, n: int, e_min: float, e_max: float, index: float
) -> np.ndarray:
    """``n`` energies from ``dN/dE ∝ E^index`` in ``[e_min, e_max]`` (inverse CDF)."""
    u = rng.random(n)
    gamma = index + 1.0
    if abs(gamma) < 1e-9:
        return e_min * (e_max / e_min) ** u
    lo, hi = e_min**gamma, e_max**gamma
    return (lo + u * (hi - lo)) ** (1.0 / gamma)


def sample_cone(
    rng: np.random.Generator, n: int, min_rad: float, max_rad: float
) -> tuple[np.ndarray, np.ndarray]:
    """Offsets uniform in solid angle in the annulus ``[min_rad, max_rad]``, and position angles."""
    cos_offset = rng.uniform(np.cos(max_rad), np.cos(min_rad), n)
    angle = rng.uniform(0.0, 2 * np.pi, n)
    return np.arccos(np.clip(cos_offset, -1.0, 1.0)), angle


def sample_cores(
    rng: np.random.Generator, direction: np.ndarray, max_radius: float
) -> tuple[np.ndarray, np.ndarray]:
    """Ground cores (n, 3) of axes uniform in a disc of ``max_radius`` perpendicular to them.

    Returns the ground core points and the distance from the array centre in the shower plane.
    """
    n = direction.shape[0]
    radius = max_radius * np.sqrt(rng.random(n))
    phi = rng.uniform(0.0, 2 * np.pi, n)
    first, second = perpendicular_basis(direction)
    in_plane = (radius * np.cos(phi))[:, None] * first + (radius * np.sin(phi))[:, None] * second
    return ground_intersection(in_plane, direction), radius


def shower_maximum(
    rng: np.random.Generator, energy_tev: np.ndarray, particle: str, physics: ShowerPhysics
) -> tuple[np.ndarray, np.ndarray]:
    """First-interaction depth and depth of maximum (slant, g cm⁻²) of EM or proton showers.

    For protons the returned ``X_max`` is the one of the leading sub-shower; the sub-showers
    themselves are built by :func:`emission_lines`.
    """
    x0 = physics.radiation_length_g_cm2
    ln_y = np.log(np.maximum(energy_tev * 1e6 / physics.critical_energy_mev, 2.0))
    if particle == "gamma":
        length = 9.0 / 7.0 * x0
        first = rng.exponential(length, energy_tev.shape)
        return first, x0 * (ln_y - 0.5) + first - length
    if particle == "electron":
        first = rng.exponential(x0, energy_tev.shape)
        return first, x0 * (ln_y - 1.0) + first - x0
    first = rng.exponential(physics.proton_interaction_length_g_cm2, energy_tev.shape)
    # leading pi0 sub-shower with ~1/6 of the energy (Heitler-Matthews)
    ln_sub = np.log(np.maximum(energy_tev * 1e6 / 6.0 / physics.critical_energy_mev, 2.0))
    return first, first + x0 * (ln_sub - 0.5)


@dataclass(frozen=True)
class ShowerBatch:
    """A batch of simulated showers (plain arrays, one entry per shower)."""

    particle: str
    energy_tev: np.ndarray
    alt: np.ndarray
    az: np.ndarray
    direction: np.ndarray
    core: np.ndarray
    core_distance_m: np.ndarray
    viewcone_offset_deg: np.ndarray
    first_interaction: np.ndarray
    x_max: np.ndarray

    def __len__(self) -> int:
        return int(self.energy_tev.shape[0])

    @property
    def primary_id(self) -> int:
        """sim_telarray / ctapipe primary id of the particle."""
        return PRIMARY_ID[self.particle]

    def select(self, mask: np.ndarray) -> ShowerBatch:
        """The showers where ``mask`` is True (or at the given indices)."""
        return ShowerBatch(
            particle=self.particle,
            **{
                name: getattr(self, name)[mask]
                for name in (
                    "energy_tev",
                    "alt",
                    "az",
                    "direction",
                    "core",
                    "core_distance_m",
                    "viewcone_offset_deg",
                    "first_interaction",
                    "x_max",
                )
            },
        )


def sample_showers(
    rng: np.random.Generator,
    n: int,
    particle: str,
    energy: tuple[float, float, float],
    max_scatter_m: float,
    basis: np.ndarray,
    physics: ShowerPhysics,
    viewcone_deg: tuple[float, float] = (0.0, 0.0),
    offset_deg: float = 0.0,
    offset_angle_deg: float = 0.0,
    energy_tev: np.ndarray | None = None,
) -> ShowerBatch:
    """Draw ``n`` showers of ``particle`` around the pointing of ``basis``.

    ``energy`` is ``(E_min [TeV], E_max [TeV], index)`` of the power law, unless the energies
    are given (``energy_tev``, e.g. drawn from a physical spectrum). A positive
    ``viewcone_deg[1]`` makes the showers diffuse (uniform in solid angle in the annulus);
    otherwise they all come from the point at ``offset_deg`` and position angle
    ``offset_angle_deg`` from the pointing.
    """
    if energy_tev is None:
        e_min, e_max, index = energy
        energy_tev = sample_power_law(rng, n, e_min, e_max, index)
    energy_tev = np.asarray(energy_tev, dtype=np.float64)
    if viewcone_deg[1] > 0:
        cone = np.deg2rad(viewcone_deg)
        offset, angle = sample_cone(rng, n, cone[0], cone[1])
    else:
        offset = np.full(n, np.deg2rad(offset_deg))
        angle = np.full(n, np.deg2rad(offset_angle_deg))
    direction = offset_directions(basis, offset, angle)
    direction /= np.linalg.norm(direction, axis=-1, keepdims=True)
    core, radius = sample_cores(rng, direction, max_scatter_m)
    alt, az = vector_to_altaz(direction)
    first, x_max = shower_maximum(rng, energy_tev, particle, physics)
    return ShowerBatch(
        particle=particle,
        energy_tev=energy_tev,
        alt=alt,
        az=az,
        direction=direction,
        core=core,
        core_distance_m=radius,
        viewcone_offset_deg=np.rad2deg(offset),
        first_interaction=first,
        x_max=x_max,
    )


# --------------------------------------------------------------------------------------------
# emission


@dataclass(frozen=True)
class EmissionLines:
    """Axes that emit Cherenkov light: one per EM shower, several per hadron shower.

    Lines are sorted by shower; those of shower ``i`` are ``offsets[i]:offsets[i + 1]``.
    ``x_max`` and ``sigma_x`` are slant depths along the line's own direction; ``start`` is the
    point where the line's particles are created and ``start_s`` the distance of that point
    from the primary's ground core along the primary axis (for arrival times).
    """

    offsets: np.ndarray
    core: np.ndarray
    direction: np.ndarray
    energy_tev: np.ndarray
    light_fraction: np.ndarray
    x_max: np.ndarray
    sigma_x: np.ndarray
    start: np.ndarray
    start_s: np.ndarray
    lateral_factor: np.ndarray
    tail_factor: np.ndarray

    def __len__(self) -> int:
        return int(self.core.shape[0])


def _profile_sigma(energy_tev: np.ndarray, physics: ShowerPhysics) -> np.ndarray:
    """Longitudinal RMS [g cm⁻²] of an EM shower (Longo-Sestili gamma profile, b = 0.5)."""
    x0 = physics.radiation_length_g_cm2
    t_max = np.log(np.maximum(energy_tev * 1e6 / physics.critical_energy_mev, 2.0)) - 0.5
    b = 0.5
    return physics.profile_width_factor * x0 * np.sqrt(b * np.maximum(t_max, 0.5) + 1.0) / b


def emission_lines(
    rng: np.random.Generator,
    showers: ShowerBatch,
    physics: ShowerPhysics,
    atmosphere: Atmosphere,
    altitude_m: float,
) -> EmissionLines:
    """The emission lines of a batch of showers (see the module docstring)."""
    n = len(showers)
    cos_z = showers.direction[:, 2]
    first_height = height_of_slant_depth(showers.first_interaction, cos_z, atmosphere)
    first_s = np.maximum(first_height - altitude_m, 1.0) / cos_z
    first_point = showers.core + first_s[:, None] * showers.direction
    if showers.particle != "proton":
        return EmissionLines(
            offsets=np.arange(n + 1, dtype=np.int64),
            core=showers.core.copy(),
            direction=showers.direction.copy(),
            energy_tev=showers.energy_tev.copy(),
            light_fraction=np.ones(n),
            x_max=showers.x_max.copy(),
            sigma_x=_profile_sigma(showers.energy_tev, physics),
            start=first_point,
            start_s=first_s,
            lateral_factor=np.ones(n),
            tail_factor=np.ones(n),
        )
    # hadrons: sub-showers
    mean_sub = np.clip(physics.hadron_subshowers_at_1tev + np.log(showers.energy_tev), 0.5, None)
    n_sub = np.minimum(1 + rng.poisson(mean_sub), physics.hadron_max_subshowers)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(n_sub, out=offsets[1:])
    total = int(offsets[-1])
    owner = np.repeat(np.arange(n), n_sub)
    rank = np.arange(total) - offsets[owner]
    # energy fractions: normalised gamma(0.7) draws per shower (a Dirichlet distribution)
    weights = rng.gamma(0.7, 1.0, total)
    weights /= np.bincount(owner, weights, minlength=n)[owner]
    sub_energy = showers.energy_tev[owner] * weights
    # starting depth along the primary axis: first interaction, deeper generations later
    extra = rng.exponential(physics.pion_interaction_length_g_cm2, total) * (rank > 0)
    start_depth = showers.first_interaction[owner] + extra
    start_height = height_of_slant_depth(start_depth, cos_z[owner], atmosphere)
    start_s = np.maximum(start_height - altitude_m, 1.0) / cos_z[owner]
    start = showers.core[owner] + start_s[:, None] * showers.direction[owner]
    # direction tilted by p_T / E (rad), random azimuth around the primary axis
    p_t = rng.exponential(physics.hadron_transverse_momentum_gev, total)
    tilt = np.minimum(p_t / np.maximum(sub_energy * 1e3, 1e-3), np.deg2rad(6.0))
    phi = rng.uniform(0, 2 * np.pi, total)
    first_axis, second_axis = perpendicular_basis(showers.direction[owner])
    direction = np.cos(tilt)[:, None] * showers.direction[owner] + np.sin(tilt)[:, None] * (
        np.cos(phi)[:, None] * first_axis + np.sin(phi)[:, None] * second_axis
    )
    direction /= np.linalg.norm(direction, axis=-1, keepdims=True)
    core = ground_intersection(start, direction)
    cos_sub = direction[:, 2]
    start_line_depth = slant_depth_of_height(start_height, cos_sub, atmosphere)
    x0 = physics.radiation_length_g_cm2
    ln_y = np.log(np.maximum(sub_energy * 1e6 / physics.critical_energy_mev, 2.0))
    x_max = start_line_depth + x0 * np.maximum(ln_y - 0.5, 0.5)
    return EmissionLines(
        offsets=offsets,
        core=core,
        direction=direction,
        energy_tev=sub_energy,
        light_fraction=np.full(total, physics.hadron_light_fraction),
        x_max=x_max,
        sigma_x=_profile_sigma(sub_energy, physics),
        start=start,
        start_s=start_s,
        lateral_factor=np.full(total, physics.hadron_lateral_factor),
        tail_factor=np.full(total, physics.hadron_tail_factor),
    )


@dataclass(frozen=True)
class Emitters:
    """Point-like Cherenkov emitters on each line: arrays (n_lines, N_EMITTERS[, 3]).

    ``weight`` is the fraction of the line's light (0 below the ground); ``sigma_s`` the RMS
    extent along the axis [m]; ``t_emit`` the emission time [ns] relative to the primary
    reaching its ground core. Per line: ``pool_radius`` [m] of the light-pool plateau,
    ``plateau_density`` [photons m⁻²], ``tail_length`` [m] of the fall-off beyond it and
    ``lateral_m`` the lateral RMS of the emission at 1 TeV-equivalent and zero impact.
    """

    position: np.ndarray
    sigma_s: np.ndarray
    t_emit: np.ndarray
    weight: np.ndarray
    pool_radius: np.ndarray
    plateau_density: np.ndarray
    tail_length: np.ndarray
    lateral_m: np.ndarray


def _pool_scale(height_max: np.ndarray, distance: np.ndarray, atmosphere: Atmosphere) -> np.ndarray:
    """Distance to the maximum times the Cherenkov angle there: the light-pool radius scale."""
    eta = refractivity(height_max, atmosphere)
    return distance * np.arccos(1.0 / (1.0 + eta))


def reference_pool_scale(physics: ShowerPhysics, atmosphere: Atmosphere) -> float:
    """The light-pool scale of a mean 1 TeV vertical photon shower observed at 2 km a.s.l."""
    x0 = physics.radiation_length_g_cm2
    ln_y = np.log(REFERENCE_ENERGY_TEV * 1e6 / physics.critical_energy_mev)
    x_max = x0 * (ln_y - 0.5)
    height = height_of_slant_depth(np.array([x_max]), np.array([1.0]), atmosphere)
    return float(_pool_scale(height, height - REFERENCE_ALTITUDE_M, atmosphere)[0])


def emitters(
    lines: EmissionLines, physics: ShowerPhysics, atmosphere: Atmosphere, altitude_m: float
) -> Emitters:
    """Emitters and light-pool parameters of emission lines (see :class:`Emitters`).

    The photon density on the plateau is ``ρ_ref · E_eq/TeV · (R_ref / R)²`` where
    ``ρ_ref = physics.photon_density_per_m2_tev`` is the literature density of a 1 TeV photon
    shower at 2 km a.s.l. inside its light pool of radius ``R_ref = physics.light_pool_radius_m``,
    and ``R = R_ref · (D θ_c) / (D θ_c)_ref`` scales with the distance ``D`` to the shower maximum
    and the Cherenkov angle there (a pool twice as far is twice as wide and four times dimmer).
    """
    n = len(lines)
    cos_z = lines.direction[:, 2]
    ground_depth = slant_depth_of_height(np.full(n, altitude_m), cos_z, atmosphere)
    depth = lines.x_max[:, None] + lines.sigma_x[:, None] * _QUANTILES[None, :]
    depth = np.maximum(depth, 5.0)
    half = _EMITTER_HALF_WIDTH * lines.sigma_x[:, None]
    weight = np.where(depth < ground_depth[:, None], 1.0 / N_EMITTERS, 0.0)
    min_height = altitude_m + 100.0
    height = np.maximum(height_of_slant_depth(depth, cos_z[:, None], atmosphere), min_height)
    upper = np.maximum(
        height_of_slant_depth(np.maximum(depth - half, 1.0), cos_z[:, None], atmosphere), height
    )
    lower = np.maximum(height_of_slant_depth(depth + half, cos_z[:, None], atmosphere), min_height)
    s = (height - altitude_m) / cos_z[:, None]
    sigma_s = np.maximum(0.5 * (upper - lower) / cos_z[:, None], 1.0)
    position = lines.core[:, None, :] + s[..., None] * lines.direction[:, None, :]
    # emission time: the front reaches the line's start point at -start_s / c, then travels
    # down the line at c
    along = np.einsum("lkc,lc->lk", lines.start[:, None, :] - position, lines.direction)
    t_emit = (along - lines.start_s[:, None]) / SPEED_OF_LIGHT_M_NS
    # light pool
    height_max = np.maximum(height_of_slant_depth(lines.x_max, cos_z, atmosphere), min_height)
    distance = (height_max - altitude_m) / cos_z
    scale = _pool_scale(height_max, distance, atmosphere)
    radius = physics.light_pool_radius_m * scale / reference_pool_scale(physics, atmosphere)
    energy_eq = lines.energy_tev * lines.light_fraction
    plateau = (
        physics.photon_density_per_m2_tev
        * energy_eq
        / REFERENCE_ENERGY_TEV
        * (physics.light_pool_radius_m / radius) ** 2
    )
    tail = physics.light_pool_tail_fraction * radius * lines.tail_factor
    lateral = (
        physics.lateral_spread_m
        * np.maximum(lines.energy_tev, 1e-4) ** physics.lateral_energy_index
        * lines.lateral_factor
    )
    return Emitters(
        position=position,
        sigma_s=sigma_s,
        t_emit=t_emit,
        weight=weight,
        pool_radius=radius,
        plateau_density=plateau,
        tail_length=tail,
        lateral_m=lateral,
    )
