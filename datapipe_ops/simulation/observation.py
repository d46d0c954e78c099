"""A simulated observation block: a source and the cosmic-ray background, as ACADA delivers it.

The array tracks a sky position (the target offset by the wobble) from ``start_time`` for
``duration_s``; data are taken during the good time intervals. The block is cut into time
slices (``time_slice_s``); within a slice the pointing (alt/az) is held at its value at the
slice centre. In every slice each particle species is thrown at its *real* rate:

* source photons: ``∫F(E) dE · πR²`` with ``F`` the target's spectrum (default: the HEGRA Crab
  spectrum), from the target's direction in the field of view;
* cosmic rays (default protons and electrons with the CTA IRF-document spectra):
  ``∫F(E) dE · Ω_cone · πR²`` from directions uniform in the view cone around the pointing,

the number of showers being Poisson-distributed and their times uniform in the slice. Triggered
events of all species are merged in time order and numbered 1, 2, … .

Outputs, in a dataset directory with a manifest (kind ``observation``):

* ``<name>.dl0.h5`` — waveforms, trigger table (times), pointing, observation block and GTIs;
  **no truth**: nothing in it tells a photon from a proton;
* ``<name>.coefficients.h5`` — the CalibPipe coefficients valid over the block;
* ``<name>.truth.h5`` — beside it but not in the manifest: the shower table (particle, energy,
  direction, core of every triggered event, same ``event_id``), the true images and the thrown
  rates per species, for the science checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.table import QTable, vstack
from astropy.time import Time

from datapipe_ops.bdms.manifest import (
    add_to_manifest,
    manifest_path,
    read_manifest,
    start_manifest,
    verify_dataset,
)
from datapipe_ops.config import config_hash
from datapipe_ops.errors import DataPipeError
from datapipe_ops.faults import stop_point
from datapipe_ops.instrument import load_site
from datapipe_ops.instrument.frames import horizontal_to_telescope, icrs_to_horizontal
from datapipe_ops.io import ProductWriter, layout, open_product, read_table
from datapipe_ops.io.outputs import check_output_directory, check_outputs
from datapipe_ops.progress import progress_bar
from datapipe_ops.simulation.config import PRIMARY_ID, ObservationConfig
from datapipe_ops.simulation.pipeline import (
    ArrayModel,
    BatchEvents,
    TelescopeEvents,
    build_array,
    simulate_batch,
)
from datapipe_ops.simulation.production import child_seed, resolve_subarray
from datapipe_ops.simulation.products import (
    EventWriter,
    derived_path,
    shower_rows,
    write_coefficients_file,
    write_instrument,
)
from datapipe_ops.simulation.showers import ShowerBatch, pointing_basis, sample_showers
from datapipe_ops.simulation.spectra import TabulatedSpectrum, named_spectrum, power_law


@dataclass(frozen=True)
class Species:
    """One particle population of the observation and its thrown rate."""

    label: str
    particle: str
    spectrum_name: str
    spectrum: TabulatedSpectrum
    max_scatter_m: float
    viewcone_deg: float
    rate_hz: float
    from_target: bool


def observation_species(config: ObservationConfig, source: str = "<config>") -> list[Species]:
    """The source photons and the background species with their thrown rates."""
    target = config.target
    if target.spectrum == "power_law":
        spectrum = power_law(target.power_law_normalization_per_tev_cm2_s, target.power_law_index)
    else:
        spectrum = named_spectrum(target.spectrum, source)
    table = TabulatedSpectrum.from_spectrum(spectrum, target.energy.min_tev, target.energy.max_tev)
    species = [
        Species(
            label=f"{target.name}_gamma",
            particle="gamma",
            spectrum_name=target.spectrum,
            spectrum=table,
            max_scatter_m=target.max_scatter_range_m,
            viewcone_deg=0.0,
            rate_hz=table.rate_hz(target.max_scatter_range_m),
            from_target=True,
        )
    ]
    for background in config.background:
        tab = TabulatedSpectrum.from_spectrum(
            named_spectrum(background.spectrum, source),
            background.energy.min_tev,
            background.energy.max_tev,
        )
        species.append(
            Species(
                label=background.particle,
                particle=background.particle,
                spectrum_name=background.spectrum,
                spectrum=tab,
                max_scatter_m=background.max_scatter_range_m,
                viewcone_deg=background.viewcone_max_deg,
                rate_hz=tab.rate_hz(background.max_scatter_range_m, background.viewcone_max_deg),
                from_target=False,
            )
        )
    return species


def pointing_position(config: ObservationConfig) -> SkyCoord:
    """The tracked sky position: the target offset by the wobble (position angle from north)."""
    target = SkyCoord(config.target.ra_deg * u.deg, config.target.dec_deg * u.deg, frame="icrs")
    return target.directional_offset_by(
        config.wobble_angle_deg * u.deg, config.wobble_offset_deg * u.deg
    )


def _slices(config: ObservationConfig, duration: float) -> list[tuple[float, float]]:
    """Time slices [s from start] covering the GTIs (clipped to ``duration``)."""
    slices = []
    for gti_start, gti_stop in config.good_time_intervals():
        stop = min(gti_stop, duration)
        edges = np.arange(gti_start, stop, config.time_slice_s)
        for first in edges:
            slices.append((float(first), float(min(first + config.time_slice_s, stop))))
    return [s for s in slices if s[1] > s[0]]


@dataclass(frozen=True)
class ObservationSummary:
    """What :func:`simulate_observation` wrote (``n_tel_events`` is -1 when the observation
    already existed and nothing was simulated)."""

    path: Path
    coefficients_path: Path
    truth_path: Path
    obs_id: int
    n_events: int
    n_tel_events: int
    thrown: dict[str, int]
    triggered: dict[str, int]


def _merge(
    parts: list[tuple[Species, ShowerBatch, BatchEvents, np.ndarray]],
    array: ArrayModel,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, dict[int, TelescopeEvents], QTable, list[str]]:
    """Merge the triggered events of several species in time order."""
    times = np.concatenate([t[events.shower_index] for _, _, events, t in parts])
    order = np.argsort(times, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    offsets = np.cumsum([0] + [len(events) for _, _, events, _ in parts])
    tels = np.concatenate([events.tels_with_trigger for _, _, events, _ in parts])[order]
    showers = vstack(
        [
            shower_rows(batch.select(events.shower_index), 0, np.zeros(len(events), np.int64))
            for _, batch, events, _ in parts
        ]
    )[order]
    labels = list(np.concatenate([[s.label] * len(e) for s, _, e, _ in parts])[order])
    telescopes: dict[int, TelescopeEvents] = {}
    for model in array.models:
        for tel_id in model.tel_ids:
            tel_id = int(tel_id)
            rows = np.concatenate(
                [
                    rank[offsets[i] + e.telescopes[tel_id].event_row]
                    for i, (_, _, e, _) in enumerate(parts)
                ]
            ).astype(np.int64)
            sort = np.argsort(rows, kind="stable")

            def stack(name: str, tel_id: int = tel_id, sort: np.ndarray = sort) -> np.ndarray:
                return np.concatenate(
                    [getattr(e.telescopes[tel_id], name) for _, _, e, _ in parts]
                )[sort]

            telescopes[tel_id] = TelescopeEvents(
                tel_id=tel_id,
                event_row=rows[sort],
                true_image=stack("true_image"),
                peak_time=stack("peak_time"),
                impact_m=stack("impact_m"),
                model=model,
                seed=int(rng.integers(0, 2**31 - 1)),
            )
    return times[order], tels, telescopes, showers, labels


def simulate_observation(
    config: ObservationConfig,
    output: str | Path,
    seed: int | None = None,
    duration_s: float | None = None,
    show_progress: bool = True,
    overwrite: bool = False,
) -> ObservationSummary:
    """Simulate the observation block of ``config`` into the dataset directory ``output``.

    Re-running with the same configuration, seed and duration is a no-op once the dataset is
    complete and intact (and completes it otherwise). Another observation in the directory,
    or files of this observation's names without a manifest, are refused unless ``overwrite``.
    """
    directory = check_output_directory(output)
    seed_sequence = np.random.SeedSequence(config.seed if seed is None else int(seed))
    duration = float(config.duration_s if duration_s is None else duration_s)
    subarray = resolve_subarray(config)
    site = load_site(subarray.site)
    species = observation_species(config)
    array = build_array(subarray, config, site.height_m, child_seed(seed_sequence, 0))
    start = Time(config.start_time, scale="utc")
    stop = start + duration * u.s
    pointing = pointing_position(config)
    slices = _slices(config, duration)
    mids = np.array([0.5 * (a + b) for a, b in slices])
    obstimes = start + mids * u.s
    p_alt, p_az = icrs_to_horizontal(pointing.ra.deg, pointing.dec.deg, obstimes, subarray.site)
    t_alt, t_az = icrs_to_horizontal(
        config.target.ra_deg, config.target.dec_deg, obstimes, subarray.site
    )
    t_lon, t_lat = horizontal_to_telescope(t_alt, t_az, p_alt, p_az)

    name = config.name
    dl0_path = directory / f"{name}.dl0.h5"
    truth_path = derived_path(dl0_path, "truth")
    resolved = config.model_copy(
        update={"seed": int(seed_sequence.entropy), "duration_s": duration}
    )
    digest = config_hash(resolved)
    done = _existing(directory, digest, dl0_path, truth_path, overwrite)
    if done is not None:
        return done
    coefficients_path = derived_path(dl0_path, "coefficients")
    if not overwrite and not manifest_path(directory).exists():
        check_outputs([coefficients_path, dl0_path, truth_path])
    stop_point("stage:start")
    start_manifest(directory, name, "observation", n_files_expected=2)
    coefficients = write_coefficients_file(
        coefficients_path, array, config, start, stop, "simulate observation"
    )
    thrown = {s.label: 0 for s in species}
    triggered = {s.label: 0 for s in species}
    attrs = {"obs_id": int(config.obs_id), "simulated": False}
    with (
        ProductWriter(
            dl0_path, "DL0", stage="simulate observation", config=config, attrs=attrs
        ) as dl0,
        ProductWriter(truth_path, "TRUTH", stage="simulate observation", config=config) as truth,
    ):
        write_instrument(dl0, array)
        events = EventWriter(
            dl0=dl0,
            truth=truth,
            array=array,
            obs_id=config.obs_id,
            compression=config.waveform_compression,
        )
        with progress_bar(f"observe {name}", len(slices), show_progress) as advance:
            for k, (t0, t1) in enumerate(slices):
                rng = np.random.default_rng(child_seed(seed_sequence, 1, k))
                basis = pointing_basis(np.deg2rad(p_alt[k]), np.deg2rad(p_az[k]))
                parts = []
                for sp in species:
                    n = int(rng.poisson(sp.rate_hz * (t1 - t0)))
                    thrown[sp.label] += n
                    if sp.from_target:
                        x = np.cos(np.deg2rad(t_lat[k])) * np.cos(np.deg2rad(t_lon[k]))
                        y = np.cos(np.deg2rad(t_lat[k])) * np.sin(np.deg2rad(t_lon[k]))
                        z = np.sin(np.deg2rad(t_lat[k]))
                        offset = np.rad2deg(np.arccos(np.clip(x, -1, 1)))
                        angle = np.rad2deg(np.arctan2(y, z))
                        cone = (0.0, 0.0)
                    else:
                        offset, angle, cone = 0.0, 0.0, (0.0, sp.viewcone_deg)
                    # batches of chunk_size showers keep the memory bounded
                    for first in range(0, n, config.chunk_size):
                        size = min(config.chunk_size, n - first)
                        showers = sample_showers(
                            rng,
                            size,
                            sp.particle,
                            (0.0, 0.0, 0.0),
                            sp.max_scatter_m,
                            basis,
                            config.physics,
                            viewcone_deg=cone,
                            offset_deg=offset,
                            offset_angle_deg=angle,
                            energy_tev=sp.spectrum.sample(rng, size),
                        )
                        times = rng.uniform(t0, t1, size)
                        result = simulate_batch(rng, showers, array, config, basis)
                        triggered[sp.label] += len(result)
                        parts.append((sp, showers, result, times))
                times, tels, telescopes, showers_table, _ = _merge(parts, array, rng)
                first_id = events.n_events + 1
                event_id = np.arange(first_id, first_id + times.size, dtype=np.int64)
                showers_table["obs_id"] = config.obs_id
                showers_table["event_id"] = event_id
                events.write(event_id, start + times * u.s, tels, telescopes, showers_table)
                advance(1)
                stop_point("stage:chunk")
        events.finish()
        _write_observation_tables(dl0, config, start, stop, duration, pointing, subarray.site)
        truth.write_table(layout.SIMULATION_RUN, _species_table(config, species, thrown, duration))
    add_to_manifest(
        directory,
        coefficients,
        level="CALIBRATION",
        meta={
            "obs_id": config.obs_id,
            "start": start.utc.isot,
            "stop": stop.utc.isot,
            "config_hash": digest,
        },
    )
    add_to_manifest(
        directory,
        dl0_path,
        level="DL0",
        n_events=events.n_events,
        meta={
            "obs_id": config.obs_id,
            "start": start.utc.isot,
            "stop": stop.utc.isot,
            "target": config.target.name,
            "coefficients": coefficients.name,
            "config_hash": digest,
        },
    )
    return ObservationSummary(
        path=dl0_path,
        coefficients_path=coefficients,
        truth_path=truth_path,
        obs_id=config.obs_id,
        n_events=events.n_events,
        n_tel_events=events.n_tel_events,
        thrown=thrown,
        triggered=triggered,
    )


def _existing(
    directory: Path, digest: str, dl0_path: Path, truth_path: Path, overwrite: bool = False
) -> ObservationSummary | None:
    """The summary of an intact observation already made with this configuration (re-running
    is then a no-op); None if there is none. Another configuration in the directory is refused
    unless ``overwrite`` (then None: it is made afresh).
    """
    if not manifest_path(directory).exists():
        return None
    manifest = read_manifest(directory)
    if any(f.meta.get("config_hash") != digest for f in manifest.files):
        if overwrite:
            return None
        raise DataPipeError(
            "the dataset directory already holds an observation made with another "
            "configuration, seed or duration; write to a new directory, or give --overwrite "
            "to replace it",
            path=manifest_path(directory),
        )
    if not manifest.complete or verify_dataset(directory) or not truth_path.exists():
        return None
    entry = manifest.file(dl0_path.name)
    with open_product(truth_path, level="TRUTH") as h5:
        species = read_table(h5, layout.SIMULATION_RUN)
        primaries = np.asarray(read_table(h5, layout.SHOWER)["true_shower_primary_id"])
    thrown = {str(s["species"]): int(s["n_showers"]) for s in species}
    triggered = {
        str(s["species"]): int(np.count_nonzero(primaries == s["shower_primary_id"]))
        for s in species
    }
    return ObservationSummary(
        path=dl0_path,
        coefficients_path=directory / entry.meta["coefficients"],
        truth_path=truth_path,
        obs_id=int(entry.meta["obs_id"]),
        n_events=int(entry.n_events or 0),
        n_tel_events=-1,
        thrown=thrown,
        triggered=triggered,
    )


def _write_observation_tables(
    writer: ProductWriter,
    config: ObservationConfig,
    start: Time,
    stop: Time,
    duration: float,
    pointing: SkyCoord,
    site: str,
) -> None:
    """Pointing monitoring, the observation block and the GTIs."""
    offsets = np.append(np.arange(0.0, duration, config.pointing_interval_s), duration)
    times = start + offsets * u.s
    alt, az = icrs_to_horizontal(pointing.ra.deg, pointing.dec.deg, times, site)
    n = offsets.size
    writer.write_table(
        layout.POINTING,
        QTable(
            {
                "time": times,
                "array_altitude": alt * u.deg,
                "array_azimuth": az * u.deg,
                "array_ra": np.full(n, pointing.ra.deg) * u.deg,
                "array_dec": np.full(n, pointing.dec.deg) * u.deg,
            }
        ),
    )
    gtis = [(g0, min(g1, duration)) for g0, g1 in config.good_time_intervals() if g0 < duration]
    writer.write_table(
        layout.GTI,
        QTable(
            {
                "start": start + np.array([g[0] for g in gtis]) * u.s,
                "stop": start + np.array([g[1] for g in gtis]) * u.s,
            }
        ),
    )
    mid = n // 2
    site_info = load_site(site)
    writer.write_table(
        layout.OBSERVATION,
        QTable(
            {
                "obs_id": np.array([config.obs_id], dtype=np.int32),
                "target_name": [config.target.name],
                "target_ra": [config.target.ra_deg] * u.deg,
                "target_dec": [config.target.dec_deg] * u.deg,
                "pointing_ra": [pointing.ra.deg] * u.deg,
                "pointing_dec": [pointing.dec.deg] * u.deg,
                "wobble_offset": [config.wobble_offset_deg] * u.deg,
                "wobble_angle": [config.wobble_angle_deg] * u.deg,
                "start": Time([start.tai.mjd], format="mjd", scale="tai"),
                "stop": Time([stop.tai.mjd], format="mjd", scale="tai"),
                "duration": [duration] * u.s,
                "livetime": [sum(g1 - g0 for g0, g1 in gtis)] * u.s,
                "altitude": [alt[mid]] * u.deg,
                "azimuth": [az[mid]] * u.deg,
                "zenith": [90.0 - alt[mid]] * u.deg,
                "zenith_min": [90.0 - alt.max()] * u.deg,
                "zenith_max": [90.0 - alt.min()] * u.deg,
                "nsb_level": [config.nsb_scale],
                "site": [site],
                "site_latitude": [site_info.latitude_deg] * u.deg,
                "site_longitude": [site_info.longitude_deg] * u.deg,
                "site_height": [site_info.height_m] * u.m,
            }
        ),
    )


def _species_table(
    config: ObservationConfig, species: list[Species], thrown: dict[str, int], duration: float
) -> QTable:
    """What was thrown per species (the truth file's run table)."""
    return QTable(
        {
            "obs_id": np.full(len(species), config.obs_id, dtype=np.int32),
            "species": [s.label for s in species],
            "particle": [s.particle for s in species],
            "shower_primary_id": np.array([PRIMARY_ID[s.particle] for s in species], np.int16),
            "spectrum": [s.spectrum_name for s in species],
            "energy_min": [s.spectrum.energy_tev[0] for s in species] * u.TeV,
            "energy_max": [s.spectrum.energy_tev[-1] for s in species] * u.TeV,
            "max_scatter_range": [s.max_scatter_m for s in species] * u.m,
            "max_viewcone_radius": [s.viewcone_deg for s in species] * u.deg,
            "rate": [s.rate_hz for s in species] * u.Hz,
            "n_showers": np.array([thrown[s.label] for s in species], dtype=np.int64),
            "duration": np.full(len(species), duration) * u.s,
        }
    )
