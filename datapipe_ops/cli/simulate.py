"""``datapipe simulate``: simulated DL0 runs, productions and observations (the SimPipe and
ACADA stand-ins). Thin wrappers over :mod:`datapipe_ops.simulation`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from datapipe_ops.cli.options import Quiet

app = typer.Typer(
    help="Simulate DL0: one run, a production (dataset + manifest) or an observation block.",
    no_args_is_help=True,
)

ProductionConfigOption = Annotated[
    Path,
    typer.Option(
        "--config",
        "-c",
        help="YAML configuration with the particle components (required: a production has no "
        "built-in components; include/config/simulation/demo.yaml is an example).",
    ),
]
ObservationConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="YAML configuration (default: the built-in observation defaults)."
    ),
]
OverwriteOption = Annotated[
    bool,
    typer.Option(
        "--overwrite", help="Replace existing output (without it, existing output is refused)."
    ),
]
SeedOption = Annotated[
    int | None, typer.Option("--seed", help="Seed (default: the configuration's 'seed').")
]


def _production_config(path: Path):
    from datapipe_ops.config import load_config
    from datapipe_ops.simulation.config import SimulationConfig

    return load_config(path, SimulationConfig)


@app.command("run")
def run(
    output: Annotated[Path, typer.Option("--output", "-o", help="The DL0 file to write.")],
    config: ProductionConfigOption,
    component: Annotated[
        str | None,
        typer.Option("--component", help="Particle component of the config (default: first)."),
    ] = None,
    file_index: Annotated[
        int, typer.Option("--file-index", min=0, help="Which file of the production to make.")
    ] = 0,
    n_showers: Annotated[
        int | None, typer.Option("--n-showers", min=1, help="Override the component's n_showers.")
    ] = None,
    obs_id: Annotated[
        int | None, typer.Option("--obs-id", min=1, help="Default: obs_id_start + file index.")
    ] = None,
    seed: SeedOption = None,
    overwrite: OverwriteOption = False,
    quiet: Quiet = False,
) -> None:
    """Simulate one run (one DL0 file and its <name>.coefficients.h5) of one component.

    The result is identical to file --file-index of `simulate production` with the same
    configuration and seed. Existing files are refused unless --overwrite.
    """
    from datapipe_ops.errors import ConfigError
    from datapipe_ops.simulation.production import file_seed, simulate_run

    settings = _production_config(config)
    try:
        chosen = settings.component(component)
    except KeyError as exc:
        raise ConfigError(f"--component: {exc.args[0]}", path=config) from None
    seed = settings.seed if seed is None else seed
    summary = simulate_run(
        settings,
        chosen,
        output,
        file_seed(seed, chosen.name, file_index),
        obs_id if obs_id is not None else chosen.obs_id_start + file_index,
        run_index=file_index,
        n_showers=n_showers,
        show_progress=not quiet,
        overwrite=overwrite,
    )
    typer.echo(
        f"{summary.path}: {summary.n_events} events ({summary.n_tel_events} telescope events) "
        f"from {summary.n_showers} {summary.particle} showers, obs_id {summary.obs_id}"
    )
    typer.echo(f"{summary.coefficients_path}: CalibPipe coefficients")


@app.command("production")
def production(
    output: Annotated[Path, typer.Option("--output", "-o", help="The dataset directory.")],
    config: ProductionConfigOption,
    n_files: Annotated[
        int | None,
        typer.Option("--n-files", min=1, help="Files per particle component (default: config)."),
    ] = None,
    seed: SeedOption = None,
    overwrite: OverwriteOption = False,
    quiet: Quiet = False,
) -> None:
    """Simulate a production: every file of every component, with a MANIFEST.json.

    Re-running into the same directory with the same configuration keeps the intact files and
    completes the rest; another production there is refused unless --overwrite.
    """
    from datapipe_ops.simulation.production import simulate_production

    settings = _production_config(config)
    manifest = simulate_production(
        settings, output, n_files=n_files, seed=seed, show_progress=not quiet, overwrite=overwrite
    )
    dl0 = [f for f in manifest.files if f.level == "DL0"]
    typer.echo(
        f"{output}: dataset '{manifest.dataset}', {len(dl0)} DL0 file(s), "
        f"{sum(f.n_events or 0 for f in dl0)} events, complete={manifest.complete}"
    )


@app.command("observation")
def observation(
    output: Annotated[Path, typer.Option("--output", "-o", help="The dataset directory.")],
    config: ObservationConfigOption = None,
    duration: Annotated[
        float | None,
        typer.Option("--duration", min=0.001, help="Seconds (default: config duration_s)."),
    ] = None,
    seed: SeedOption = None,
    overwrite: OverwriteOption = False,
    quiet: Quiet = False,
) -> None:
    """Simulate an observation block: DL0 without truth, coefficients, and a truth side file.

    Re-running with the same configuration is a no-op once the dataset is complete; another
    observation in the directory is refused unless --overwrite.
    """
    from datapipe_ops.config import load_config
    from datapipe_ops.simulation.config import ObservationConfig
    from datapipe_ops.simulation.observation import simulate_observation

    settings = load_config(config, ObservationConfig)
    summary = simulate_observation(
        settings,
        output,
        seed=seed,
        duration_s=duration,
        show_progress=not quiet,
        overwrite=overwrite,
    )
    counts = ", ".join(f"{k} {v}" for k, v in summary.triggered.items())
    typer.echo(f"{summary.path}: {summary.n_events} events ({counts}), obs_id {summary.obs_id}")
    typer.echo(f"{summary.coefficients_path}: CalibPipe coefficients")
    typer.echo(f"{summary.truth_path}: truth (not for processing)")
