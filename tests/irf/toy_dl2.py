"""Synthetic DL2 products following the DL2 contract, with a known toy instrument response.

Simulated runs (gammas from a point 0.4 deg off-axis, diffuse protons and electrons) carry the
run table, the shower histogram, the shower truth and the four subarray DL2 tables; an
observation carries trigger times, the pointing track, the observation block and its GTIs.

The toy response, per event of true energy ``E`` [TeV] at zenith ``zd``:

- detected (triggered and reconstructed) with probability ``EFF_MAX / (1 + (E0 / E)**3)``,
  ``E0 = 0.05 TeV / cos(zd)**2``; the thrown disc has radius ``SCATTER_M / sqrt(cos zd)``;
- ``reco_energy = E * (1 + BIAS) * exp(N(0, RES))``;
- direction smeared by a 2-D Gaussian of ``sigma = PSF_DEG(E) * (1 + 0.5 * event_type)``,
  event types 0, 1, 2 equally likely;
- gammaness ~ Beta(6, 2) for gammas, Beta(4, 2.5) for electrons, Beta(2, 6) for protons;
- multiplicity 2 … 4 growing with energy.

Nothing here is used by the package: tests and benchmarks import it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.coordinates import AltAz, EarthLocation, SkyCoord
from astropy.table import QTable
from astropy.time import Time

from datapipe_ops.io import ProductWriter, layout

EFF_MAX = 0.9
BIAS = 0.05
RES = 0.12
SCATTER_M = 600.0
N_TELS = 4
SOURCE_OFFSET_DEG = 0.4
GEOMETRY, ENERGY, GAMMANESS, EVENT_TYPE = (
    "StereoDisp",
    "DataPipeEnergy",
    "DataPipeGammaness",
    "DataPipeEventType",
)
SITE = {"lon": -17.8920, "lat": 28.7615, "height": 2200.0}
PRIMARY = {"gamma": 0, "electron": 1, "proton": 101}
GH_BETA = {"gamma": (6.0, 2.0), "electron": (4.0, 2.5), "proton": (2.0, 6.0)}


def psf_deg(energy_tev: np.ndarray) -> np.ndarray:
    """Toy angular resolution of event type 0."""
    return 0.05 + 0.15 / np.sqrt(1.0 + energy_tev / 0.05)


def detection_probability(energy_tev: np.ndarray, zenith_deg: float) -> np.ndarray:
    """Toy trigger and reconstruction probability."""
    e0 = 0.05 / np.cos(np.deg2rad(zenith_deg)) ** 2
    return EFF_MAX / (1.0 + (e0 / energy_tev) ** 3)


def scatter_radius(zenith_deg: float) -> float:
    """Thrown disc radius at ``zenith_deg``."""
    return SCATTER_M / np.sqrt(np.cos(np.deg2rad(zenith_deg)))


@dataclass(frozen=True)
class Run:
    """One simulated run of a particle."""

    particle: str
    n_showers: int
    obs_id: int = 1
    zenith_deg: float = 20.0
    azimuth_deg: float = 180.0
    energy_min_tev: float = 0.02
    energy_max_tev: float = 200.0
    index: float = -2.0
    viewcone_deg: float = 0.0  # 0: a point source SOURCE_OFFSET_DEG off-axis
    seed: int = 1


def _power_law(rng: np.random.Generator, n: int, e_min: float, e_max: float, index: float):
    a, b = e_min ** (index + 1), e_max ** (index + 1)
    return (a + rng.uniform(size=n) * (b - a)) ** (1.0 / (index + 1))


def _offset_direction(alt0, az0, offset_deg, angle_rad):
    """Directions (alt, az) [deg] ``offset_deg`` away from (alt0, az0), small-angle in the
    tangent plane (exact enough for the toy)."""
    dalt = offset_deg * np.cos(angle_rad)
    daz = offset_deg * np.sin(angle_rad) / np.cos(np.deg2rad(alt0 + dalt))
    return alt0 + dalt, (az0 + daz) % 360.0


def _smear(rng, alt, az, sigma_deg):
    n = len(alt)
    dx, dy = rng.normal(0, 1, n) * sigma_deg, rng.normal(0, 1, n) * sigma_deg
    return alt + dx, (az + dy / np.cos(np.deg2rad(alt))) % 360.0


def _reco_tables(rng, particle, obs_id, event_id, energy, alt, az):
    """The four DL2 subarray tables of detected events with true (energy, alt, az)."""
    n = len(event_id)
    event_type = rng.integers(0, 3, n).astype(np.int16)
    sigma = psf_deg(energy) * (1.0 + 0.5 * event_type)
    if particle == "proton":
        sigma = sigma * 2.0
    reco_alt, reco_az = _smear(rng, alt, az, sigma)
    reco_energy = energy * (1.0 + BIAS) * np.exp(rng.normal(0, RES, n))
    if particle == "proton":
        reco_energy *= 0.6
    multiplicity = np.clip(
        2
        + (rng.uniform(size=n) < np.clip(energy / 0.5, 0, 1))
        + (rng.uniform(size=n) < np.clip(energy / 5.0, 0, 1)),
        2,
        N_TELS,
    )
    telescopes = np.arange(N_TELS)[np.newaxis, :] < multiplicity[:, np.newaxis]
    gh = rng.beta(*GH_BETA[particle], n)
    ids = {"obs_id": np.full(n, obs_id, np.int32), "event_id": event_id.astype(np.int64)}
    valid = np.ones(n, bool)
    geometry = QTable(ids)
    geometry[f"{GEOMETRY}_alt"] = reco_alt * u.deg
    geometry[f"{GEOMETRY}_az"] = reco_az * u.deg
    geometry[f"{GEOMETRY}_alt_uncert"] = sigma * u.deg
    geometry[f"{GEOMETRY}_az_uncert"] = sigma * u.deg
    geometry[f"{GEOMETRY}_core_x"] = np.zeros(n) * u.m
    geometry[f"{GEOMETRY}_core_y"] = np.zeros(n) * u.m
    geometry[f"{GEOMETRY}_h_max"] = np.full(n, 10000.0) * u.m
    geometry[f"{GEOMETRY}_is_valid"] = valid
    geometry[f"{GEOMETRY}_telescopes"] = telescopes
    energy_table = QTable(ids)
    energy_table[f"{ENERGY}_energy"] = reco_energy * u.TeV
    energy_table[f"{ENERGY}_energy_uncert"] = reco_energy * RES * u.TeV
    energy_table[f"{ENERGY}_is_valid"] = valid
    energy_table[f"{ENERGY}_telescopes"] = telescopes
    particle_table = QTable(ids)
    particle_table[f"{GAMMANESS}_prediction"] = gh
    particle_table[f"{GAMMANESS}_is_valid"] = valid
    particle_table[f"{GAMMANESS}_telescopes"] = telescopes
    type_table = QTable(ids)
    type_table[f"{EVENT_TYPE}_event_type"] = event_type
    type_table[f"{EVENT_TYPE}_expected_error"] = sigma * u.deg
    type_table[f"{EVENT_TYPE}_is_valid"] = valid
    return {
        layout.dl2_path("geometry", GEOMETRY): geometry,
        layout.dl2_path("energy", ENERGY): energy_table,
        layout.dl2_path("particle_type", GAMMANESS): particle_table,
        layout.dl2_path("event_type", EVENT_TYPE): type_table,
    }


def _write_models(writer: ProductWriter, model_set_id: str | None) -> None:
    if model_set_id is None:
        return
    writer.write_table(
        layout.DL2_MODELS,
        QTable(
            {
                "model_set_id": [model_set_id] * 2,
                "kind": ["energy", "particle_type"],
                "telescope_type": ["LST_LST_LSTCam"] * 2,
                "file_name": ["energy.txt", "gammaness.txt"],
                "sha256": ["0" * 64] * 2,
            }
        ),
    )
    writer.set_attrs(layout.DL2_MODELS, model_set_id=model_set_id)


def write_run(path: str | Path, run: Run, model_set_id: str | None = "toyset-1") -> Path:
    """Write one simulated DL2 run; returns its path."""
    rng = np.random.default_rng([run.seed, PRIMARY[run.particle], run.obs_id])
    n = run.n_showers
    energy = _power_law(rng, n, run.energy_min_tev, run.energy_max_tev, run.index)
    alt0, az0 = 90.0 - run.zenith_deg, run.azimuth_deg
    radius = scatter_radius(run.zenith_deg)
    core = radius * np.sqrt(rng.uniform(size=n))
    if run.viewcone_deg > 0:
        cos_offset = 1 - rng.uniform(size=n) * (1 - np.cos(np.deg2rad(run.viewcone_deg)))
        offset = np.rad2deg(np.arccos(cos_offset))
        viewcone = (0.0, run.viewcone_deg)
    else:
        offset = np.full(n, SOURCE_OFFSET_DEG)
        viewcone = (0.0, 0.0)
    true_alt, true_az = _offset_direction(
        alt0,
        az0,
        offset,
        np.full(n, 0.3) if run.viewcone_deg == 0 else rng.uniform(0, 2 * np.pi, n),
    )
    detected = np.flatnonzero(rng.uniform(size=n) < detection_probability(energy, run.zenith_deg))
    event_id = detected + 1
    start = Time("2026-01-01T00:00:00", scale="utc") + run.obs_id * u.h
    times = start + (detected / 1000.0) * u.s
    with ProductWriter(
        path, "DL2", stage="toy", attrs={"obs_id": run.obs_id, "particle": run.particle}
    ) as writer:
        writer.write_table(
            layout.SIMULATION_RUN,
            QTable(
                {
                    "obs_id": np.array([run.obs_id], np.int32),
                    "particle": [run.particle],
                    "shower_primary_id": np.array([PRIMARY[run.particle]], np.int16),
                    "n_showers": np.array([n], np.int64),
                    "energy_min": [run.energy_min_tev] * u.TeV,
                    "energy_max": [run.energy_max_tev] * u.TeV,
                    "spectral_index": [run.index],
                    "max_scatter_range": [radius] * u.m,
                    "min_scatter_range": [0.0] * u.m,
                    "min_viewcone_radius": [viewcone[0]] * u.deg,
                    "max_viewcone_radius": [viewcone[1]] * u.deg,
                    "source_offset": [0.0 if run.viewcone_deg else SOURCE_OFFSET_DEG] * u.deg,
                    "zenith": [run.zenith_deg] * u.deg,
                    "azimuth": [run.azimuth_deg] * u.deg,
                    "nsb_scale": [1.0],
                }
            ),
        )
        e_edges = np.geomspace(run.energy_min_tev, run.energy_max_tev, 21)
        c_edges = np.linspace(0, radius, 6)
        v_edges = np.array([0.0, max(run.viewcone_deg, SOURCE_OFFSET_DEG + 0.01)])
        hist, _ = np.histogramdd(
            np.column_stack([energy, core, np.minimum(offset, v_edges[-1])]),
            bins=(e_edges, c_edges, v_edges),
        )
        writer.write_table(
            layout.SHOWER_DISTRIBUTION,
            QTable(
                {
                    "obs_id": np.array([run.obs_id], np.int32),
                    "particle": [run.particle],
                    "hist_id": np.array([1], np.int16),
                    "n_entries": np.array([n], np.int64),
                    "bins_energy": e_edges[np.newaxis] * u.TeV,
                    "bins_core_dist": c_edges[np.newaxis] * u.m,
                    "bins_viewcone": v_edges[np.newaxis] * u.deg,
                    "histogram": hist.astype(np.int64)[np.newaxis],
                }
            ),
        )
        ids = {"obs_id": np.full(detected.size, run.obs_id, np.int32), "event_id": event_id}
        shower = QTable(ids)
        shower["true_energy"] = energy[detected] * u.TeV
        shower["true_alt"] = true_alt[detected] * u.deg
        shower["true_az"] = true_az[detected] * u.deg
        shower["true_core_x"] = core[detected] * u.m
        shower["true_core_y"] = np.zeros(detected.size) * u.m
        shower["true_x_max"] = np.full(detected.size, 300.0) * u.g / u.cm**2
        shower["true_shower_primary_id"] = np.full(detected.size, PRIMARY[run.particle], np.int16)
        writer.write_table(layout.SHOWER, shower)
        trigger = QTable(ids)
        trigger["time"] = times
        trigger["event_type"] = np.full(detected.size, 32, np.uint8)
        trigger["tels_with_trigger"] = np.ones((detected.size, N_TELS), bool)
        writer.write_table(layout.TRIGGER, trigger)
        tables = _reco_tables(
            rng,
            run.particle,
            run.obs_id,
            event_id,
            energy[detected],
            true_alt[detected],
            true_az[detected],
        )
        for table_path, table in tables.items():
            writer.write_table(table_path, table)
        _write_models(writer, model_set_id)
    return Path(path)


@dataclass(frozen=True)
class Observation:
    """One observation of a Crab-like source in wobble mode."""

    obs_id: int = 5001
    ra_deg: float = 83.633
    dec_deg: float = 22.0145
    wobble_deg: float = 0.5
    start: str = "2026-01-15T23:00:00"
    duration_s: float = 1200.0
    n_gamma: int = 600
    n_background: int = 1500
    gtis: tuple[tuple[float, float], ...] = ((0.0, 600.0), (620.0, 1200.0))
    seed: int = 3


def write_observation(
    path: str | Path, obs: Observation = Observation(), model_set_id: str | None = "toyset-1"
) -> Path:
    """Write one observation's DL2 product (no truth; trigger times, pointing, GTIs)."""
    rng = np.random.default_rng(obs.seed)
    location = EarthLocation(
        lon=SITE["lon"] * u.deg, lat=SITE["lat"] * u.deg, height=SITE["height"] * u.m
    )
    source = SkyCoord(obs.ra_deg * u.deg, obs.dec_deg * u.deg)
    pointing = source.directional_offset_by(0 * u.deg, obs.wobble_deg * u.deg)
    start = Time(obs.start, scale="utc")
    track = np.arange(0.0, obs.duration_s + 1e-9, 10.0)
    track_times = start + track * u.s
    track_altaz = pointing.transform_to(AltAz(obstime=track_times, location=location))
    n = obs.n_gamma + obs.n_background
    dt = np.sort(rng.uniform(0, obs.duration_s, n))
    in_gti = np.zeros(n, bool)
    for a, b in obs.gtis:
        in_gti |= (dt >= a) & (dt < b)
    dt = dt[in_gti]
    n = dt.size
    is_gamma = rng.uniform(size=n) < obs.n_gamma / (obs.n_gamma + obs.n_background)
    energy = np.where(
        is_gamma, _power_law(rng, n, 0.05, 50.0, -2.6), _power_law(rng, n, 0.05, 50.0, -2.7)
    )
    offset = np.where(
        is_gamma,
        0.0,
        np.rad2deg(np.arccos(1 - rng.uniform(size=n) * (1 - np.cos(np.deg2rad(2.5))))),
    )
    angle = rng.uniform(0, 360, n) * u.deg
    directions = source.directional_offset_by(angle * is_gamma, 0 * u.deg)
    directions = SkyCoord(
        np.where(is_gamma, source.ra.deg, pointing.ra.deg) * u.deg,
        np.where(is_gamma, source.dec.deg, pointing.dec.deg) * u.deg,
    )
    directions = directions.directional_offset_by(angle, offset * u.deg)
    times = start + dt * u.s
    altaz = directions.transform_to(AltAz(obstime=times, location=location))
    event_id = np.arange(1, n + 1) * 3
    tables = _reco_tables(rng, "gamma", obs.obs_id, event_id, energy, altaz.alt.deg, altaz.az.deg)
    gh = tables[layout.dl2_path("particle_type", GAMMANESS)]
    gh[f"{GAMMANESS}_prediction"] = np.where(is_gamma, rng.beta(6, 2, n), rng.beta(2, 6, n))
    mid = track.size // 2
    with ProductWriter(path, "DL2", stage="toy", attrs={"obs_id": obs.obs_id}) as writer:
        writer.write_table(
            layout.POINTING,
            QTable(
                {
                    "time": track_times,
                    "array_altitude": track_altaz.alt.deg * u.deg,
                    "array_azimuth": track_altaz.az.deg * u.deg,
                    "array_ra": np.full(track.size, pointing.ra.deg) * u.deg,
                    "array_dec": np.full(track.size, pointing.dec.deg) * u.deg,
                }
            ),
        )
        if obs.gtis:
            writer.write_table(
                layout.GTI,
                QTable(
                    {
                        "start": start + np.array([g[0] for g in obs.gtis]) * u.s,
                        "stop": start + np.array([g[1] for g in obs.gtis]) * u.s,
                    }
                ),
            )
        writer.write_table(
            layout.OBSERVATION,
            QTable(
                {
                    "obs_id": np.array([obs.obs_id], np.int32),
                    "target_name": ["Crab"],
                    "target_ra": [obs.ra_deg] * u.deg,
                    "target_dec": [obs.dec_deg] * u.deg,
                    "pointing_ra": [pointing.ra.deg] * u.deg,
                    "pointing_dec": [pointing.dec.deg] * u.deg,
                    "start": Time([start.tai.mjd], format="mjd", scale="tai"),
                    "stop": Time(
                        [(start + obs.duration_s * u.s).tai.mjd], format="mjd", scale="tai"
                    ),
                    "duration": [obs.duration_s] * u.s,
                    "livetime": [sum(b - a for a, b in obs.gtis)] * u.s,
                    "altitude": [track_altaz.alt.deg[mid]] * u.deg,
                    "azimuth": [track_altaz.az.deg[mid]] * u.deg,
                    "zenith": [90.0 - track_altaz.alt.deg[mid]] * u.deg,
                    "nsb_level": [1.0],
                    "site": ["CTAO-North"],
                    "site_latitude": [SITE["lat"]] * u.deg,
                    "site_longitude": [SITE["lon"]] * u.deg,
                    "site_height": [SITE["height"]] * u.m,
                }
            ),
        )
        trigger = QTable({"obs_id": np.full(n, obs.obs_id, np.int32), "event_id": event_id})
        trigger["time"] = times
        trigger["event_type"] = np.full(n, 32, np.uint8)
        trigger["tels_with_trigger"] = np.ones((n, N_TELS), bool)
        writer.write_table(layout.TRIGGER, trigger)
        for table_path, table in tables.items():
            writer.write_table(table_path, table)
        _write_models(writer, model_set_id)
    return Path(path)


def write_production(
    directory: Path,
    zenith_deg: float = 20.0,
    scale: float = 1.0,
    model_set_id: str | None = "toyset-1",
) -> dict[str, list[Path]]:
    """Gamma (point), proton and electron (diffuse) runs at one zenith: {particle: [paths]}."""
    directory.mkdir(parents=True, exist_ok=True)
    tag = f"zd{zenith_deg:g}"
    runs = {
        "gamma": [
            Run("gamma", int(40000 * scale), obs_id=1, zenith_deg=zenith_deg),
            Run("gamma", int(40000 * scale), obs_id=2, zenith_deg=zenith_deg),
        ],
        "proton": [
            Run(
                "proton",
                int(100000 * scale),
                obs_id=3,
                zenith_deg=zenith_deg,
                energy_min_tev=0.03,
                viewcone_deg=6.0,
                index=-2.0,
            )
        ],
        "electron": [
            Run(
                "electron",
                int(30000 * scale),
                obs_id=4,
                zenith_deg=zenith_deg,
                energy_min_tev=0.02,
                energy_max_tev=20.0,
                viewcone_deg=6.0,
            )
        ],
    }
    return {
        particle: [
            write_run(directory / f"{particle}_{tag}_run{r.obs_id}.dl2.h5", r, model_set_id)
            for r in items
        ]
        for particle, items in runs.items()
    }


def build_irf_products(
    directory: Path, zeniths=(20.0, 40.0), scale: float = 0.5, event_types=(0, 1, 2)
) -> dict:
    """Toy productions at ``zeniths``, fixed-efficiency cuts (per event type) from the first,
    and the IRFs of each: {"files": {zenith: {particle: paths}}, "cuts": path,
    "irfs": {zenith: path}, "config": IRFConfig}. Nothing is registered."""
    from datapipe_ops.irf.config import IRFConfig
    from datapipe_ops.irf.stage import compute_irf, optimize_cuts

    config = IRFConfig.model_validate(
        {"cuts": {"method": "efficiency", "event_types": list(event_types) or None}}
    )
    files = {zd: write_production(directory / f"zd{zd:g}", zd, scale=scale) for zd in zeniths}
    cuts = directory / "cuts.fits"
    optimize_cuts(files[zeniths[0]], cuts, config, register=False)
    irfs = {}
    for zd in zeniths:
        irfs[zd] = directory / f"irf_zd{zd:g}.fits.gz"
        compute_irf(files[zd], cuts, irfs[zd], config, register=False)
    return {"files": files, "cuts": cuts, "irfs": irfs, "config": config}
