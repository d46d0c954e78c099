"""``datapipe model-set``: list and show the registered model sets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="Model sets: list the registered ones, show one's card, assemble one from parts.",
    no_args_is_help=True,
)

CatalogOption = Annotated[
    str | None,
    typer.Option(
        "--catalog", help="Catalog URL (default: $DATAPIPE_CATALOG_URL).", show_default=False
    ),
]


@app.command("list")
def list_sets(catalog: CatalogOption = None) -> None:
    """One line per registered model set: id, kinds, registration time, directory."""
    from datapipe_ops.reco.models.model_set import list_model_sets

    sets = list_model_sets(catalog)
    if not sets:
        typer.echo("no model sets registered")
    for entry in sets:
        created = entry["created_at"].strftime("%Y-%m-%d %H:%M:%S") if entry["created_at"] else ""
        typer.echo(f"{entry['id']}  {','.join(entry['kinds']):<36} {created}  {entry['path']}")


@app.command("show")
def show(
    model_set: Annotated[
        str, typer.Argument(help="Model set id (or prefix), 'latest' or directory.")
    ],
    catalog: CatalogOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole card as JSON.")] = False,
) -> None:
    """The card of a model set: models, features, CV metrics, training products."""
    from datapipe_ops.reco.models.model_set import load_model_set

    loaded = load_model_set(model_set, catalog)
    card = loaded.card
    if as_json:
        typer.echo(json.dumps(card, indent=2, sort_keys=True))
        return
    typer.echo(f"model set {loaded.id}  {loaded.directory}")
    typer.echo(
        f"kinds: {', '.join(card['kinds'])}; telescope types: {', '.join(card['telescope_types'])}"
    )
    typer.echo(
        f"software {card['software_version']}, LightGBM {card['lightgbm_version']}, "
        f"config hash {card['config_hash']}"
    )
    typer.echo(f"trained on {card['n_training_events']} events:")
    for product in card["training_products"]:
        typer.echo(f"  {product['sha256'][:12]}  {product['path']}")
    typer.echo("models:")
    for entry in card["models"]:
        metrics = ", ".join(f"{k} {v:.4g}" for k, v in entry.get("metrics", {}).items())
        typer.echo(f"  {entry['file']:<40} n={entry.get('n_train', 0):<7} {metrics}")
    typer.echo(
        "cross-validation: " + ", ".join(f"{k} {v:.4g}" for k, v in card["cv_metrics"].items())
    )
    for plot in card.get("plots", []):
        typer.echo(f"plot: {loaded.directory / plot}")


@app.command("assemble")
def assemble(
    parts: Annotated[
        list[str],
        typer.Argument(
            help="Partial model sets (directory, id, or a `datapipe train -o` directory holding "
            "one set), each of other kinds.",
            show_default=False,
        ),
    ],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Directory of model sets (default: <data root>/models); the set goes to <id>/.",
            show_default=False,
        ),
    ] = None,
    exist_ok: Annotated[
        bool,
        typer.Option("--exist-ok", help="A set of the same id already there is kept (a retry)."),
    ] = False,
    catalog: CatalogOption = None,
    no_register: Annotated[
        bool, typer.Option("--no-register", help="Do not register the model set.")
    ] = False,
) -> None:
    """One immutable model set from parts trained kind by kind on the same products with the
    same configuration; registered with lineage to the training products. The id is the last
    line."""
    from datapipe_ops.reco.models.assemble import assemble_model_set

    summary = assemble_model_set(
        parts, output, register=not no_register, catalog_url=catalog, exist_ok=exist_ok
    )
    registered = "" if summary.product_id is None else f", catalog id {summary.product_id}"
    typer.echo(
        f"model set {summary.model_set_id} ({', '.join(summary.kinds)}) from "
        f"{len(summary.parts)} parts: {summary.directory}{registered}"
    )
    typer.echo(summary.model_set_id)
