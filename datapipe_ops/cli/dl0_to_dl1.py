"""``datapipe dl0-to-dl1``: calibrate DL0 waveforms into DL1 images and image parameters."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def _default_coefficients(input_path: Path) -> Path:
    """``run.dl0.h5`` → ``run.coefficients.h5`` (where ``datapipe simulate`` puts them)."""
    name = input_path.name
    for suffix in (".dl0.h5", ".h5"):
        if name.endswith(suffix):
            return input_path.with_name(name[: -len(suffix)] + ".coefficients.h5")
    return input_path.with_name(name + ".coefficients.h5")


def dl0_to_dl1(
    input_path: Annotated[Path, typer.Option("--input", "-i", help="The DL0 product to read.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The DL1 product to write.")],
    coefficients: Annotated[
        Path | None,
        typer.Option(
            "--coefficients",
            help="CalibPipe coefficients (default: <input stem>.coefficients.h5 beside the input).",
            show_default=False,
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="YAML configuration (default: built-in defaults)."),
    ] = None,
    chunk_size: Annotated[
        int | None,
        typer.Option("--chunk-size", min=1, help="Telescope events per chunk (default: config)."),
    ] = None,
    catalog: Annotated[
        str | None,
        typer.Option(
            "--catalog",
            help="Catalog URL (default: $DATAPIPE_CATALOG_URL, else <data root>/catalog.sqlite).",
            show_default=False,
        ),
    ] = None,
    campaign: Annotated[
        str | None,
        typer.Option(help="Register the product in this catalog campaign (it must exist)."),
    ] = None,
    no_register: Annotated[
        bool, typer.Option("--no-register", help="Do not register the product in the catalog.")
    ] = False,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite",
            help="Replace an existing output (without it an existing output is refused; "
            "an output that is one of the inputs is refused always).",
        ),
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")] = False,
) -> None:
    """Calibrate, extract, clean and parameterise every telescope event of a DL0 product.

    Writes DL1 parameters per telescope (and images if the configuration says so), passes the
    instrument, simulation and trigger tables through, records provenance and registers the
    product with its inputs in the catalog. Everything is checked before the first event
    (inputs, coefficients, configuration, output, catalog); the output appears in one rename.
    """
    from datapipe_ops.calib.config import DL0ToDL1Config
    from datapipe_ops.calib.stage import dl0_to_dl1 as run_stage
    from datapipe_ops.config import load_config

    settings = load_config(config, DL0ToDL1Config)
    summary = run_stage(
        input_path,
        output,
        coefficients if coefficients is not None else _default_coefficients(input_path),
        settings,
        chunk_size=chunk_size,
        register=not no_register,
        catalog_url=catalog,
        campaign=campaign,
        overwrite=overwrite,
        show_progress=not quiet,
    )
    registered = "" if summary.product_id is None else f", catalog id {summary.product_id}"
    typer.echo(
        f"{summary.output}: {summary.n_telescope_events} telescope events of "
        f"{summary.n_events} events, {summary.n_valid} with valid parameters{registered}"
    )
