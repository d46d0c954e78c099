"""``datapipe merge``: merge DL1 or DL2 products into one."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def merge(
    inputs: Annotated[
        list[Path], typer.Argument(help="The DL1 or DL2 products to merge.", show_default=False)
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="The merged product to write.")],
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace the output if it exists.")
    ] = False,
    catalog: Annotated[
        str | None,
        typer.Option(
            "--catalog",
            help="Catalog URL (default: $DATAPIPE_CATALOG_URL, else <data root>/catalog.sqlite).",
            show_default=False,
        ),
    ] = None,
    no_register: Annotated[
        bool, typer.Option("--no-register", help="Do not register the product in the catalog.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")] = False,
) -> None:
    """Merge DL1 or DL2 products of the same instrument, schema and processing configuration.

    Event and run tables are concatenated, shower-distribution histograms summed; the
    provenance lists every input with its checksum and the product is registered with lineage
    to all of them.
    """
    from datapipe_ops.merge.stage import merge_products

    summary = merge_products(
        inputs,
        output,
        overwrite=overwrite,
        register=not no_register,
        catalog_url=catalog,
        show_progress=not quiet,
    )
    registered = "" if summary.product_id is None else f", catalog id {summary.product_id}"
    typer.echo(
        f"{summary.output}: {summary.n_events} events from {summary.n_inputs} products{registered}"
    )
