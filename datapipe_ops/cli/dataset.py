"""``datapipe dataset``: named, immutable selections of products (UC-130-1.1)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from datapipe_ops.cli.catalog import human_size, with_product_query
from datapipe_ops.cli.options import CatalogURL

if TYPE_CHECKING:
    from datapipe_ops.catalog import ProductQuery

app = typer.Typer(
    help="Datasets: named, immutable selections of catalog products.", no_args_is_help=True
)

NameArg = Annotated[str, typer.Argument(help="Dataset name (letters, digits, . _ -).")]


@app.command("create")
@with_product_query(level_required=True)
def create(
    name: NameArg,
    query: ProductQuery,
    description: Annotated[str | None, typer.Option(help="What the dataset is for.")] = None,
    catalog: CatalogURL = None,
) -> None:
    """Select the matching products into a new dataset and print its size."""
    from datapipe_ops.catalog import Catalog

    with Catalog(catalog) as cat:
        dataset = cat.create_dataset(name, query, description=description)
    typer.echo(
        f"dataset {dataset.name}: {dataset.n_products} product(s), {human_size(dataset.size_bytes)}"
    )


@app.command("show")
def show(
    name: NameArg,
    paths: Annotated[
        bool, typer.Option("--paths", help="Print only the member paths, one per line.")
    ] = False,
    catalog: CatalogURL = None,
) -> None:
    """Show a dataset: its query and members (or only the paths, for a stage's input list)."""
    from datapipe_ops.catalog import Catalog

    with Catalog(catalog) as cat:
        dataset = cat.get_dataset(name)
    if paths:
        for path in dataset.paths:
            typer.echo(path)
        return
    from rich.console import Console
    from rich.table import Table

    typer.echo(f"dataset:     {dataset.name}")
    typer.echo(f"created at:  {dataset.created_at.isoformat() if dataset.created_at else ''}")
    if dataset.description:
        typer.echo(f"description: {dataset.description}")
    typer.echo(f"query:       {dataset.query.describe()}")
    typer.echo(f"products:    {dataset.n_products}, {human_size(dataset.size_bytes)}")
    table = Table()
    for column in ("id", "level", "sha256", "size"):
        table.add_column(column, no_wrap=True)
    table.add_column("path", overflow="fold")
    for m in dataset.members or ():
        sha = (m.sha256 or "")[:12]
        size = "" if m.size_bytes is None else human_size(m.size_bytes)
        table.add_row(str(m.product_id), m.level.value, sha, size, m.path)
    Console(highlight=False).print(table)


@app.command("list")
def list_datasets(catalog: CatalogURL = None) -> None:
    """List every dataset."""
    from rich.console import Console
    from rich.table import Table

    from datapipe_ops.catalog import Catalog

    with Catalog(catalog) as cat:
        datasets = cat.list_datasets()
    console = Console(highlight=False)
    if datasets:
        table = Table()
        for column in ("name", "products", "created", "query"):
            table.add_column(column, overflow="fold")
        for d in datasets:
            created = d.created_at.strftime("%Y-%m-%d %H:%M") if d.created_at else ""
            table.add_row(d.name, str(d.n_products), created, d.query.describe())
        console.print(table)
    console.print(f"{len(datasets)} dataset(s)")
