"""``datapipe optimize-cuts``, ``compute-irf``, ``sensitivity``, ``interpolate-irf`` and
``tailored-irf``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from datapipe_ops.cli.options import CatalogURL, Config, NoRegister, Overwrite

Gammas = Annotated[
    list[Path], typer.Option("--gammas", help="Simulated gamma DL2 runs (repeat the option).")
]
Protons = Annotated[
    list[Path] | None,
    typer.Option("--protons", help="Simulated proton DL2 runs (repeat the option)."),
]
Electrons = Annotated[
    list[Path] | None,
    typer.Option("--electrons", help="Simulated electron DL2 runs (repeat the option)."),
]
Output = Annotated[Path, typer.Option("--output", "-o", help="The product to write.")]
Cuts = Annotated[Path, typer.Option("--cuts", help="The cuts product (datapipe optimize-cuts).")]


def _files(gammas: list[Path], protons: list[Path] | None, electrons: list[Path] | None):
    return {"gamma": gammas, "proton": protons or [], "electron": electrons or []}


def _report(summary) -> None:
    registered = "" if summary.product_id is None else f", catalog id {summary.product_id}"
    typer.echo(f"{summary.output}: {summary.details}{registered}")


def optimize_cuts(
    gammas: Gammas,
    output: Output,
    protons: Protons = None,
    electrons: Electrons = None,
    config: Config = None,
    overwrite: Overwrite = False,
    catalog: CatalogURL = None,
    no_register: NoRegister = False,
) -> None:
    """Find the gammaness and direction cuts (per event type if configured) on simulated DL2.

    Writes the cuts product (FITS) with the valid energy and offset ranges and the model set.
    """
    from datapipe_ops.config import load_config
    from datapipe_ops.irf.config import IRFConfig
    from datapipe_ops.irf.stage import optimize_cuts as run_stage

    settings = load_config(config, IRFConfig)
    _report(
        run_stage(
            _files(gammas, protons, electrons),
            output,
            settings,
            overwrite=overwrite,
            register=not no_register,
            catalog_url=catalog,
        )
    )


def compute_irf(
    gammas: Gammas,
    cuts: Cuts,
    output: Output,
    protons: Protons = None,
    electrons: Electrons = None,
    config: Config = None,
    overwrite: Overwrite = False,
    catalog: CatalogURL = None,
    no_register: NoRegister = False,
) -> None:
    """Compute point-like and full-enclosure IRFs (GADF) of simulated DL2 after the cuts."""
    from datapipe_ops.config import load_config
    from datapipe_ops.irf.config import IRFConfig
    from datapipe_ops.irf.stage import compute_irf as run_stage

    settings = load_config(config, IRFConfig)
    _report(
        run_stage(
            _files(gammas, protons, electrons),
            cuts,
            output,
            settings,
            overwrite=overwrite,
            register=not no_register,
            catalog_url=catalog,
        )
    )


def sensitivity(
    gammas: Gammas,
    cuts: Cuts,
    output: Output,
    protons: Protons = None,
    electrons: Electrons = None,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="PNG plot (default: output with .png).")
    ] = None,
    config: Config = None,
    overwrite: Overwrite = False,
    catalog: CatalogURL = None,
    no_register: NoRegister = False,
) -> None:
    """Differential point-source sensitivity (FITS table and PNG plot with the Crab flux)."""
    from datapipe_ops.config import load_config
    from datapipe_ops.irf.config import IRFConfig
    from datapipe_ops.irf.stage import sensitivity as run_stage

    settings = load_config(config, IRFConfig)
    _report(
        run_stage(
            _files(gammas, protons, electrons),
            cuts,
            output,
            settings,
            plot=plot,
            overwrite=overwrite,
            register=not no_register,
            catalog_url=catalog,
        )
    )


def interpolate_irf(
    output: Output,
    irf: Annotated[
        list[Path] | None,
        typer.Option("--irf", help="IRF products of the set's nodes (repeat)."),
    ] = None,
    irf_set: Annotated[
        str | None,
        typer.Option(
            "--irf-set", help="An IRF set (id, prefix, directory or 'latest') instead of --irf."
        ),
    ] = None,
    dl2: Annotated[
        Path | None,
        typer.Option("--dl2", help="The observation's DL2 product (its zenith is used)."),
    ] = None,
    zenith: Annotated[
        float | None, typer.Option("--zenith", help="Zenith angle [deg] instead of --dl2.")
    ] = None,
    config: Config = None,
    overwrite: Overwrite = False,
    catalog: CatalogURL = None,
    no_register: NoRegister = False,
) -> None:
    """Interpolate an IRF set (zenith nodes) to one observation's zenith (in cos zenith)."""
    from datapipe_ops.config import load_config
    from datapipe_ops.errors import InputFileError
    from datapipe_ops.irf.config import InterpolationConfig
    from datapipe_ops.irf.interpolation import interpolate_irf as run_stage

    if bool(irf) == (irf_set is not None):
        raise InputFileError("give either the IRF set (--irf-set) or its nodes (--irf)")
    if irf_set is not None:
        from datapipe_ops.irf.irf_set import resolve_irf_set

        irf = resolve_irf_set(irf_set, catalog).irf_paths
    settings = load_config(config, InterpolationConfig)
    _report(
        run_stage(
            irf,
            output,
            dl2=dl2,
            zenith_deg=zenith,
            config=settings,
            overwrite=overwrite,
            register=not no_register,
            catalog_url=catalog,
        )
    )


def tailored_irf(
    input_path: Annotated[
        Path, typer.Option("--input", "-i", help="The observation's DL2 product.")
    ],
    model_set: Annotated[
        str,
        typer.Option(
            "--model-set", help="The observation's model set (id, id prefix, directory, latest)."
        ),
    ],
    cuts: Cuts,
    output: Output,
    config: Config = None,
    work_dir: Annotated[
        Path | None,
        typer.Option(
            "--work-dir",
            help="Where the intermediate files go (a fresh sub-directory, removed at the end; "
            "default: the output's directory).",
        ),
    ] = None,
    overwrite: Overwrite = False,
    catalog: CatalogURL = None,
    no_register: NoRegister = False,
) -> None:
    """IRFs of one observation, simulated for its own pointing track and NSB level.

    Simulates gammas and protons along the observation's pointing track, processes them with
    its model set and computes the IRFs with the cuts; usable as dl2-to-dl3 --irf.
    """
    from datapipe_ops.config import load_config
    from datapipe_ops.tailored.config import TailoredConfig
    from datapipe_ops.tailored.stage import tailored_irf as run_stage

    settings = load_config(config, TailoredConfig)
    _report(
        run_stage(
            input_path,
            model_set,
            cuts,
            output,
            settings,
            work_dir=work_dir,
            overwrite=overwrite,
            register=not no_register,
            catalog_url=catalog,
        )
    )
