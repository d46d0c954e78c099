"""``datapipe report``: a campaign's one-page HTML report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from datapipe_ops.cli.options import CatalogURL, NoRegister, Overwrite


def report(
    campaign: Annotated[str, typer.Option("--campaign", help="The campaign to report on.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The HTML page to write.")],
    benchmarks: Annotated[
        list[Path] | None,
        typer.Option("--benchmarks", help="Benchmark output directories to include (repeat)."),
    ] = None,
    overwrite: Overwrite = False,
    catalog: CatalogURL = None,
    no_register: NoRegister = False,
) -> None:
    """One self-contained HTML page: products, quality flags, benchmarks with their plots and
    verdicts, provenance; registered in the catalog (level BENCHMARK, kind report)."""
    from datapipe_ops.benchmarks.report import write_report

    summary = write_report(
        campaign,
        output,
        list(benchmarks or []),
        overwrite=overwrite,
        register=not no_register,
        catalog_url=catalog,
    )
    registered = "" if summary.product_id is None else f", catalog id {summary.product_id}"
    typer.echo(f"{summary.output}: report of campaign {campaign}{registered}")
