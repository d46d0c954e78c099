"""``datapipe merge``: merge DL1 or DL2 products into one."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from datapipe_ops.cli.options import CatalogURL, NoRegister, Overwrite, Quiet


def merge(
    inputs: Annotated[
        list[Path], typer.Argument(help="The DL1 or DL2 products to merge.", show_default=False)
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="The merged product to write.")],
    overwrite: Overwrite = False,
    catalog: CatalogURL = None,
    no_register: NoRegister = False,
    quiet: Quiet = False,
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
