"""``datapipe dl1-to-dl2``: stereo geometry (and a model set's reconstruction) from DL1."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from datapipe_ops.cli.options import CatalogURL, Config, NoRegister, Overwrite, Quiet


def dl1_to_dl2(
    input_path: Annotated[
        Path, typer.Option("--input", "-i", help="The DL1 product (one run or merged) to read.")
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="The DL2 product to write.")],
    model_set: Annotated[
        str | None,
        typer.Option(
            "--model-set",
            "-m",
            help="Model set to apply: its directory, its catalog id (or unique prefix), or "
            "'latest'. Without it only the geometry is reconstructed.",
            show_default=False,
        ),
    ] = None,
    config: Config = None,
    chunk_size: Annotated[
        int | None,
        typer.Option("--chunk-size", min=1, help="Subarray events per chunk (default: config)."),
    ] = None,
    overwrite: Overwrite = False,
    catalog: CatalogURL = None,
    no_register: NoRegister = False,
    quiet: Quiet = False,
) -> None:
    """Reconstruct the stereo geometry of every event of a DL1 product (and, with a model set,
    energy, gammaness, the disp direction and event type) into a DL2 product.

    Passes the instrument, simulation, trigger, pointing and DL1 parameter tables through,
    records provenance and registers the product with its lineage in the catalog.
    """
    from datapipe_ops.config import load_config
    from datapipe_ops.reco.config import DL1ToDL2Config
    from datapipe_ops.reco.stage import dl1_to_dl2 as run_stage

    settings = load_config(config, DL1ToDL2Config)
    if chunk_size is not None:
        settings = settings.model_copy(update={"chunk_size": chunk_size})
    summary = run_stage(
        input_path,
        output,
        settings,
        model_set=model_set,
        overwrite=overwrite,
        register=not no_register,
        catalog_url=catalog,
        show_progress=not quiet,
    )
    models = "" if summary.model_set_id is None else f", model set {summary.model_set_id}"
    registered = "" if summary.product_id is None else f", catalog id {summary.product_id}"
    typer.echo(
        f"{summary.output}: {summary.n_events} events, {summary.n_valid} with a valid "
        f"geometry{models}{registered}"
    )
