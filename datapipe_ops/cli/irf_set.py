"""``datapipe irf-set``: create, list and show IRF sets (the zenith nodes of one model set)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="IRF sets: make one from compute-irf products, list the registered ones, show one.",
    no_args_is_help=True,
)

CatalogOption = Annotated[
    str | None,
    typer.Option(
        "--catalog", help="Catalog URL (default: $DATAPIPE_CATALOG_URL).", show_default=False
    ),
]


@app.command("create")
def create(
    irf: Annotated[
        list[Path], typer.Option("--irf", help="compute-irf product of one zenith node (repeat).")
    ],
    output_root: Annotated[
        Path | None,
        typer.Option(
            "--output-root", "-o", help="Directory of IRF sets (default: <data root>/irf_sets)."
        ),
    ] = None,
    cuts: Annotated[
        Path | None,
        typer.Option(
            "--cuts", help="The cuts product (default: found in the catalog or next to the IRFs)."
        ),
    ] = None,
    campaign: Annotated[
        str | None, typer.Option("--campaign", help="Campaign to register the set under.")
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Write the set again if it exists.")
    ] = False,
    catalog: CatalogOption = None,
    no_register: Annotated[
        bool, typer.Option("--no-register", help="Do not register the set in the catalog.")
    ] = False,
) -> None:
    """Make an IRF set of node IRFs sharing model set and cuts; the id is the last line."""
    from datapipe_ops.irf.irf_set import create_irf_set

    irf_set = create_irf_set(
        irf,
        output_root,
        catalog,
        cuts=cuts,
        overwrite=overwrite,
        register=not no_register,
        campaign=campaign,
    )
    zeniths = ", ".join(f"{z:g}" for z in irf_set.zeniths)
    typer.echo(
        f"{irf_set.manifest}: IRF set of model set {irf_set.model_set_id or 'NONE'}, "
        f"nodes {zeniths} deg"
    )
    typer.echo(irf_set.id)


@app.command("list")
def list_sets(catalog: CatalogOption = None) -> None:
    """One line per registered IRF set: id, model set, zeniths, registration time, directory."""
    from datapipe_ops.irf.irf_set import list_irf_sets

    sets = list_irf_sets(catalog)
    if not sets:
        typer.echo("no IRF sets registered")
    for entry in sets:
        created = entry["created_at"].strftime("%Y-%m-%d %H:%M:%S") if entry["created_at"] else ""
        zeniths = ",".join(f"{z:g}" for z in entry["zeniths"])
        typer.echo(
            f"{entry['id']}  model set {entry['model_set_id'] or 'NONE':<16}  "
            f"zenith {zeniths:<12} {created}  {entry['path']}"
        )


@app.command("show")
def show(
    irf_set: Annotated[str, typer.Argument(help="IRF set id (or prefix), 'latest' or directory.")],
    catalog: CatalogOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the manifest as JSON.")] = False,
) -> None:
    """The model set, cuts and nodes of an IRF set (every member checked unchanged)."""
    from datapipe_ops.irf.irf_set import resolve_irf_set

    resolved = resolve_irf_set(irf_set, catalog)
    if as_json:
        typer.echo(json.dumps(json.loads(resolved.manifest.read_text()), indent=2, sort_keys=True))
        return
    typer.echo(f"IRF set {resolved.id}  {resolved.directory}")
    typer.echo(f"model set: {resolved.model_set_id or 'NONE'}")
    typer.echo(f"cuts: {resolved.cuts}")
    for node in resolved.nodes:
        typer.echo(f"  zenith {node.zenith_deg:6.2f} deg  {node.path}")
