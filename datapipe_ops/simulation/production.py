"""Simulated productions: one run per file, many files per dataset (``datapipe simulate``).

:func:`simulate_run` writes one DL0 file (a run of one particle component) and its CalibPipe
coefficients file ``<name>.coefficients.h5``; :func:`simulate_production` writes every file of
every component of a configuration into a dataset directory with a ``MANIFEST.json`` updated
after each file, the shape in which BDMS delivers SimPipe productions.

Seeds: file ``i`` of component ``c`` uses the seed sequence
``SeedSequence(seed, spawn_key=(crc32(c), i))``, so a file does not depend on how many files
are made nor on the order of the components, and ``simulate run --component c --file-index i``
reproduces file ``i`` of the production. Inside a run, batch ``b`` draws from
``spawn_key + (1, b)`` and the noise streams from ``spawn_key + (0,)``.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.table import QTable
from astropy.time import Time

from datapipe_ops.bdms.manifest import (
    Manifest,
    add_to_manifest,
    manifest_path,
    read_manifest,
    start_manifest,
)
from datapipe_ops.checksum import sha256_file
from datapipe_ops.config import config_hash
from datapipe_ops.errors import ConfigError, DataPipeError
from datapipe_ops.faults import stop_point
from datapipe_ops.instrument import SubarrayDescription, load_site, load_subarray
from datapipe_ops.io import ProductWriter, layout
from datapipe_ops.io.outputs import absolute_path, check_output_directory, check_outputs
from datapipe_ops.progress import progress_bar
from datapipe_ops.simulation.config import (
    PRIMARY_ID,
    CommonSimulation,
    ParticleSource,
    SimulationConfig,
)
from datapipe_ops.simulation.pipeline import build_array, simulate_batch
from datapipe_ops.simulation.products import (
    EventWriter,
    ShowerHistogram,
    derived_path,
    shower_rows,
    write_coefficients_file,
    write_instrument,
)
from datapipe_ops.simulation.showers import pointing_basis, sample_showers

#: Runs of a production start this far apart (or further, if a run lasts longer).
RUN_SPACING_S = 3600.0


def child_seed(parent: np.random.SeedSequence, *keys: int) -> np.random.SeedSequence:
    """The seed sequence ``parent`` extended by ``keys`` (stable, independent of spawn order)."""
    return np.random.SeedSequence(
        entropy=parent.entropy, spawn_key=(*parent.spawn_key, *(int(k) for k in keys))
    )


def file_seed(seed: int, component: str, file_index: int) -> np.random.SeedSequence:
    """The seed sequence of file ``file_index`` of ``component`` in a production seeded ``seed``."""
    return np.random.SeedSequence(
        entropy=int(seed), spawn_key=(zlib.crc32(component.encode()), int(file_index))
    )


def resolve_subarray(config: CommonSimulation, source: str = "<config>") -> SubarrayDescription:
    """The configured subarray (restricted to ``config.telescopes``), checked against the
    cameras the simulation knows."""
    subarray = load_subarray(config.subarray)
    if config.telescopes is not None:
        try:
            subarray = subarray.select(config.telescopes)
        except KeyError as exc:
            raise ConfigError(f"key 'telescopes': {exc.args[0]}", path=source) from None
    for name in subarray.camera_types:
        if name not in config.cameras:
            raise ConfigError(
                f"subarray '{subarray.name}' has camera '{name}' without simulation settings",
                path=source,
            )
    return subarray


@dataclass(frozen=True)
class RunSummary:
    """What :func:`simulate_run` wrote."""

    path: Path
    coefficients_path: Path
    obs_id: int
    particle: str
    n_showers: int
    n_events: int
    n_tel_events: int
    start: Time
    stop: Time


def run_table(
    obs_id: int,
    component: ParticleSource,
    config: SimulationConfig,
    n_showers: int,
    altitude_m: float,
    start: Time,
    stop: Time,
) -> QTable:
    """The simulation run table row: what pyirf needs to compute effective areas."""
    energy = component.energy
    return QTable(
        {
            "obs_id": np.array([obs_id], dtype=np.int32),
            "particle": [component.particle],
            "shower_primary_id": np.array([PRIMARY_ID[component.particle]], dtype=np.int16),
            "n_showers": np.array([n_showers], dtype=np.int64),
            "energy_min": [energy.min_tev] * u.TeV,
            "energy_max": [energy.max_tev] * u.TeV,
            "spectral_index": [energy.index],
            "max_scatter_range": [component.max_scatter_range_m] * u.m,
            "min_scatter_range": [0.0] * u.m,
            "min_viewcone_radius": [component.viewcone_min_deg] * u.deg,
            "max_viewcone_radius": [component.viewcone_max_deg] * u.deg,
            "source_offset": [component.offset_deg] * u.deg,
            "zenith": [config.pointing.zenith_deg] * u.deg,
            "azimuth": [config.pointing.azimuth_deg] * u.deg,
            "observation_level": [altitude_m] * u.m,
            "nsb_scale": [config.nsb_scale],
            "camera_seed": np.array([config.camera_seed], dtype=np.int64),
            "run_start": Time([start.tai.mjd], format="mjd", scale="tai"),
            "run_stop": Time([stop.tai.mjd], format="mjd", scale="tai"),
        }
    )


def simulate_run(
    config: SimulationConfig,
    component: ParticleSource,
    output: str | Path,
    seed: np.random.SeedSequence,
    obs_id: int,
    run_index: int = 0,
    n_showers: int | None = None,
    show_progress: bool = True,
    stage: str = "simulate run",
    overwrite: bool = False,
) -> RunSummary:
    """Simulate one run of ``component`` into the DL0 file ``output`` (+ its coefficients).

    Both files are checked before the first shower (:func:`~datapipe_ops.io.outputs.
    check_outputs`: existing ones are refused unless ``overwrite``) and each appears in one
    rename when complete.
    """
    output = absolute_path(output)
    n_showers = component.n_showers if n_showers is None else int(n_showers)
    subarray = resolve_subarray(config)
    check_outputs([derived_path(output, "coefficients"), output], overwrite=overwrite)
    stop_point("stage:start")
    site = load_site(subarray.site)
    alt = np.deg2rad(90.0 - config.pointing.zenith_deg)
    az = np.deg2rad(config.pointing.azimuth_deg)
    basis = pointing_basis(alt, az)
    array = build_array(subarray, config, site.height_m, child_seed(seed, 0))
    duration = n_showers / config.shower_rate_hz
    spacing = max(RUN_SPACING_S, float(np.ceil(duration)))
    start = Time(config.start_time, scale="utc") + run_index * spacing * u.s
    stop = start + duration * u.s
    coefficients = write_coefficients_file(
        derived_path(output, "coefficients"), array, config, start, stop, stage
    )
    energy = component.energy
    histogram = ShowerHistogram.for_range(
        (energy.min_tev, energy.max_tev),
        component.max_scatter_range_m,
        (component.viewcone_min_deg, component.viewcone_max_deg)
        if component.diffuse
        else (component.offset_deg, component.offset_deg),
        config.histogram,
    )
    attrs = {"obs_id": int(obs_id), "particle": component.particle, "simulated": True}
    with ProductWriter(output, "DL0", stage=stage, config=config, attrs=attrs) as writer:
        write_instrument(writer, array)
        writer.write_table(
            layout.SIMULATION_RUN,
            run_table(obs_id, component, config, n_showers, site.height_m, start, stop),
        )
        events = EventWriter(
            dl0=writer,
            truth=writer,
            array=array,
            obs_id=obs_id,
            compression=config.waveform_compression,
        )
        with progress_bar(f"simulate {output.name}", n_showers, show_progress) as advance:
            for batch, first in enumerate(range(0, n_showers, config.chunk_size)):
                size = min(config.chunk_size, n_showers - first)
                rng = np.random.default_rng(child_seed(seed, 1, batch))
                showers = sample_showers(
                    rng,
                    size,
                    component.particle,
                    (energy.min_tev, energy.max_tev, energy.index),
                    component.max_scatter_range_m,
                    basis,
                    config.physics,
                    viewcone_deg=(component.viewcone_min_deg, component.viewcone_max_deg),
                    offset_deg=component.offset_deg,
                    offset_angle_deg=component.offset_angle_deg,
                )
                histogram.fill(showers)
                result = simulate_batch(rng, showers, array, config, basis)
                index = first + result.shower_index
                event_id = index + 1
                events.write(
                    event_id,
                    start + (index / config.shower_rate_hz) * u.s,
                    result.tels_with_trigger,
                    result.telescopes,
                    shower_rows(showers.select(result.shower_index), obs_id, event_id),
                )
                advance(size)
                stop_point("stage:chunk")
        events.finish()
        writer.write_table(layout.SHOWER_DISTRIBUTION, histogram.table(obs_id, component.particle))
    return RunSummary(
        path=output,
        coefficients_path=coefficients,
        obs_id=int(obs_id),
        particle=component.particle,
        n_showers=n_showers,
        n_events=events.n_events,
        n_tel_events=events.n_tel_events,
        start=start,
        stop=stop,
    )


def production_files(config: SimulationConfig, n_files: int | None = None) -> list[tuple]:
    """(component, file index, obs_id, run index, file name) of every file of a production."""
    plan = []
    run_index = 0
    for component in config.particles:
        for index in range(component.n_files if n_files is None else n_files):
            obs_id = component.obs_id_start + index
            name = f"{component.name}_run{obs_id:06d}.dl0.h5"
            plan.append((component, index, obs_id, run_index, name))
            run_index += 1
    return plan


def _intact(directory: Path, manifest: Manifest, name: str, digest: str) -> bool:
    try:
        entry = manifest.file(name)
    except KeyError:
        return False
    path = directory / name
    return (
        entry.meta.get("config_hash") == digest
        and path.is_file()
        and path.stat().st_size == entry.size
        and sha256_file(path) == entry.sha256
    )


def simulate_production(
    config: SimulationConfig,
    output: str | Path,
    n_files: int | None = None,
    seed: int | None = None,
    show_progress: bool = True,
    overwrite: bool = False,
) -> Manifest:
    """Write every file of a production into the dataset directory ``output``.

    ``n_files`` overrides each component's ``n_files``; ``seed`` the configured seed. The
    manifest is rewritten after every file; files already listed with the same configuration
    hash and an intact checksum are kept (a killed production resumes where it stopped, a
    complete one is left as it is). A dataset made with another configuration, or files of the
    production's names not listed in its manifest, are refused unless ``overwrite`` (then the
    dataset starts afresh).
    """
    directory = check_output_directory(output)
    seed = config.seed if seed is None else int(seed)
    plan = production_files(config, n_files)
    resolved = config.model_copy(update={"seed": seed})
    digest = config_hash(resolved)
    expected = 2 * len(plan)
    names = [n for *_, n in plan] + [derived_path(n, "coefficients").name for *_, n in plan]
    manifest = None
    if manifest_path(directory).exists():
        manifest = read_manifest(directory)
        foreign = [f.name for f in manifest.files if f.meta.get("config_hash") != digest]
        if (foreign or manifest.n_files_expected != expected) and not overwrite:
            raise DataPipeError(
                "the dataset directory already holds a production made with another "
                "configuration, seed or number of files; write to a new directory, or give "
                "--overwrite to replace it",
                path=manifest_path(directory),
            )
        if foreign or manifest.n_files_expected != expected:
            manifest = None
    if manifest is None:
        if not overwrite:
            check_outputs([directory / name for name in names])
        manifest = start_manifest(directory, config.name, "simulation", expected)
    for component, index, obs_id, run_index, name in plan:
        coefficients_name = derived_path(directory / name, "coefficients").name
        if _intact(directory, manifest, name, digest) and _intact(
            directory, manifest, coefficients_name, digest
        ):
            continue
        summary = simulate_run(
            resolved,
            component,
            directory / name,
            file_seed(seed, component.name, index),
            obs_id,
            run_index=run_index,
            show_progress=show_progress,
            stage="simulate production",
            overwrite=True,  # a file of this production not (intact) in its manifest
        )
        meta = {
            "obs_id": obs_id,
            "particle": component.particle,
            "component": component.name,
            "config_hash": digest,
            "start": summary.start.utc.isot,
            "stop": summary.stop.utc.isot,
        }
        add_to_manifest(
            directory,
            summary.coefficients_path,
            level="CALIBRATION",
            meta={**meta, "for": name},
        )
        manifest = add_to_manifest(
            directory,
            summary.path,
            level="DL0",
            n_events=summary.n_events,
            meta={
                **meta,
                "n_showers": summary.n_showers,
                "n_tel_events": summary.n_tel_events,
                "coefficients": coefficients_name,
            },
        )
    return manifest
