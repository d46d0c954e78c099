"""``datapipe catalog``: create, list, show, trace and register data products."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from datapipe_ops.cli.options import CatalogURL

if TYPE_CHECKING:
    from datapipe_ops.catalog import LineageNode, Product, ProductQuery

app = typer.Typer(
    help="The product catalog: every product, its lineage, datasets, calibration and quality.",
    no_args_is_help=True,
)

# Options shared with `datapipe dataset` ------------------------------------------------------

LevelOpt = Annotated[
    str | None, typer.Option(help="DL0, DL1, DL2, DL3, IRF, MODEL, BENCHMARK, QUALITY, ...")
]
CampaignOpt = Annotated[str | None, typer.Option(help="Campaign name.")]
KindOpt = Annotated[str | None, typer.Option(help="Product kind, e.g. gamma-diffuse.")]
ParticleOpt = Annotated[str | None, typer.Option(help="Particle, e.g. gamma, proton.")]
ZenithMinOpt = Annotated[float | None, typer.Option(help="Lowest zenith angle [deg].")]
ZenithMaxOpt = Annotated[float | None, typer.Option(help="Highest zenith angle [deg].")]
StartOpt = Annotated[
    str | None, typer.Option(help="Earliest time_start: a date (whole UTC day) or ISO time.")
]
StopOpt = Annotated[
    str | None, typer.Option(help="Latest time_start: a date (inclusive) or ISO time.")
]
QualityOpt = Annotated[str | None, typer.Option(help="Only this quality flag: good|warning|bad.")]
ExcludeBadOpt = Annotated[
    bool, typer.Option("--exclude-bad", help="Drop products flagged bad (keep unflagged ones).")
]
ObsIdOpt = Annotated[list[int] | None, typer.Option("--obs-id", help="Observation id (repeat).")]
KEYWORD_ONLY = inspect.Parameter.KEYWORD_ONLY


#: The product-selection options: parameter name, option type, default, ProductQuery field.
_QUERY_OPTIONS: tuple[tuple[str, Any, Any, str], ...] = (
    ("level", LevelOpt, None, "level"),
    ("campaign", CampaignOpt, None, "campaign"),
    ("kind", KindOpt, None, "kind"),
    ("particle", ParticleOpt, None, "particle"),
    ("zenith_min", ZenithMinOpt, None, "zenith_min"),
    ("zenith_max", ZenithMaxOpt, None, "zenith_max"),
    ("start", StartOpt, None, "start"),
    ("stop", StopOpt, None, "stop"),
    ("quality", QualityOpt, None, "quality_flag"),
    ("exclude_bad", ExcludeBadOpt, False, "exclude_bad"),
    ("obs_id", ObsIdOpt, None, "obs_ids"),
)
_REQUIRED_LEVEL = Annotated[str, typer.Option(help=LevelOpt.__metadata__[0].help)]


def product_query(**criteria: Any) -> ProductQuery:
    """A ProductQuery from its fields (a bad value is a one-line CatalogError)."""
    from datapipe_ops.catalog.models import ProductQuery, build

    if criteria.get("obs_ids") == []:
        criteria["obs_ids"] = None
    return build(ProductQuery, **criteria)


def with_product_query(
    *, level_required: bool = False
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Give a command the product-selection options (``--level``, ``--campaign``, …,
    ``--obs-id``) of ``catalog list`` and ``dataset create``; the command receives them as one
    ``query`` keyword, a :class:`~datapipe_ops.catalog.ProductQuery`.
    """

    def decorate(command: Callable[..., None]) -> Callable[..., None]:
        own = []
        for parameter in inspect.signature(command).parameters.values():
            if parameter.name == "query":
                continue
            annotation = parameter.annotation
            if isinstance(annotation, str):  # postponed annotations: evaluate as typing would
                annotation = eval(annotation, command.__globals__)
            own.append(parameter.replace(kind=KEYWORD_ONLY, annotation=annotation))
        options = [
            inspect.Parameter(name, KEYWORD_ONLY, annotation=option, default=default)
            for name, option, default, _ in _QUERY_OPTIONS
        ]
        if level_required:
            required = {"annotation": _REQUIRED_LEVEL, "default": inspect.Parameter.empty}
            options[0] = options[0].replace(**required)

        def run(**values: Any) -> None:
            fields = {field: values.pop(name) for name, _, _, field in _QUERY_OPTIONS}
            command(query=product_query(**fields), **values)

        run.__name__, run.__doc__ = command.__name__, command.__doc__
        run.__module__ = command.__module__
        run.__signature__ = inspect.Signature([*options, *own])  # type: ignore[attr-defined]
        return run

    return decorate


def human_size(n_bytes: int) -> str:
    """``1536`` → ``1.5 KiB``."""
    size = float(n_bytes)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def _blank(value: Any, fmt: str = "{}") -> str:
    return "" if value is None else fmt.format(getattr(value, "value", value))


def products_table(products: list[Product], title: str | None = None) -> Any:
    """A rich table of products, one row each; columns empty for every product are left out."""
    from rich.table import Table

    columns: dict[str, list[str]] = {
        "id": [str(p.id) for p in products],
        "level": [p.level.value for p in products],
        "kind": [_blank(p.kind) for p in products],
        "campaign": [_blank(p.campaign) for p in products],
        "particle": [_blank(p.particle) for p in products],
        "obs_id": [_blank(p.obs_id) for p in products],
        "zenith": [_blank(p.zenith_deg, "{:.1f}") for p in products],
        "events": [_blank(p.n_events) for p in products],
        "quality": [_blank(p.quality_flag) for p in products],
    }
    shown = {name: values for name, values in columns.items() if any(values)}
    table = Table(title=title)
    for name in shown:
        justify = "right" if name in ("id", "obs_id", "zenith", "events") else "left"
        table.add_column(name, justify=justify, no_wrap=True, overflow="ellipsis")
    table.add_column("path", overflow="fold", min_width=24)
    for i, product in enumerate(products):
        table.add_row(*(values[i] for values in shown.values()), product.path)
    return table


def _console() -> Any:
    from rich.console import Console

    return Console(highlight=False)


# Commands -------------------------------------------------------------------------------------


@app.command("init")
def init(catalog: CatalogURL = None) -> None:
    """Create the catalog, or bring its schema up to date."""
    from datapipe_ops.catalog import Catalog

    with Catalog(catalog) as cat:
        applied = cat.migrate()
        version = cat.schema_version()
    done = f"applied migration(s) {', '.join(applied)}" if applied else "up to date"
    typer.echo(f"catalog {cat.where}: schema version {version} ({done})")


@app.command("list")
@with_product_query()
def list_products(
    query: ProductQuery,
    limit: Annotated[int | None, typer.Option(help="Show at most this many.")] = None,
    catalog: CatalogURL = None,
) -> None:
    """List the products matching every given criterion, as a table."""
    from datapipe_ops.catalog import Catalog

    with Catalog(catalog) as cat:
        products = cat.list_products(query, limit=limit)
        total = cat.count_products(query) if limit is not None else len(products)
    console = _console()
    if products:
        console.print(products_table(products))
    shown = f"{len(products)} of {total}" if len(products) < total else str(total)
    console.print(f"{shown} product(s)")


@app.command("show")
def show(
    product: Annotated[str, typer.Argument(help="Product path or id.")],
    catalog: CatalogURL = None,
) -> None:
    """Show everything the catalog knows about one product."""
    from datapipe_ops.catalog import Catalog

    with Catalog(catalog) as cat:
        found = cat.get_product(product)
        inputs = cat.lineage(found, depth=1).inputs
        outputs = cat.descendants(found, depth=1).outputs
        metrics = cat.quality_metrics(found)
    for name, value in found.model_dump().items():
        shown = value.isoformat() if hasattr(value, "isoformat") else _blank(value)
        typer.echo(f"{name + ':':<18}{shown}".rstrip())
    for title, nodes in (("inputs", inputs), ("outputs", outputs)):
        typer.echo(f"{title}: {len(nodes)}")
        for node in nodes:
            typer.echo(f"  [{node.product.id}] {node.product.level.value} {node.product.path}")
    typer.echo(f"quality metrics: {len(metrics)}")
    for m in metrics:
        unit = f" {m.unit}" if m.unit else ""
        flag = f" ({m.flag.value})" if m.flag else ""
        typer.echo(f"  {m.name} = {m.value:g}{unit}{flag}")


def lineage_tree(node: LineageNode) -> Any:
    """A rich tree of a lineage walk (labels are plain text, never markup)."""
    from rich.text import Text
    from rich.tree import Tree

    def label(product: Product) -> Text:
        extra = ", ".join(
            x for x in (product.kind, product.particle, product.campaign) if x is not None
        )
        text = Text(f"{product.level.value:<5} ", style="bold")
        text.append(product.path)
        text.append(f"  [id {product.id}{', ' + extra if extra else ''}]", style="dim")
        return text

    def grow(tree: Tree, below: LineageNode) -> None:
        for child in below.next_generation:
            grow(tree.add(label(child.product)), child)

    root = Tree(label(node.product))
    grow(root, node)
    return root


@app.command("lineage")
def lineage(
    product: Annotated[str, typer.Argument(help="Product path or id.")],
    depth: Annotated[
        int | None, typer.Option(min=0, help="Generations to follow (default: all).")
    ] = None,
    descendants: Annotated[
        bool, typer.Option("--descendants", help="Show what was made from it instead.")
    ] = False,
    catalog: CatalogURL = None,
) -> None:
    """Trace a product back to its DL0 inputs (or forward to what was made from it)."""
    from datapipe_ops.catalog import Catalog

    with Catalog(catalog) as cat:
        walk = cat.descendants if descendants else cat.lineage
        tree = walk(product, depth=depth)
    _console().print(lineage_tree(tree))


@app.command("register")
def register(
    path: Annotated[Path, typer.Argument(help="The product file.")],
    level: Annotated[str, typer.Option(help="DL0, DL1, DL2, DL3, IRF, MODEL, ...")],
    input_: Annotated[
        list[str] | None,
        typer.Option("--input", "-i", help="A registered input product (repeat)."),
    ] = None,
    kind: KindOpt = None,
    campaign: CampaignOpt = None,
    particle: ParticleOpt = None,
    obs_id: Annotated[int | None, typer.Option(help="Observation id.")] = None,
    n_events: Annotated[int | None, typer.Option(help="Number of events.")] = None,
    zenith: Annotated[float | None, typer.Option(help="Zenith angle [deg].")] = None,
    azimuth: Annotated[float | None, typer.Option(help="Azimuth angle [deg].")] = None,
    time_start: Annotated[str | None, typer.Option(help="Start time (ISO, UTC).")] = None,
    time_stop: Annotated[str | None, typer.Option(help="Stop time (ISO, UTC).")] = None,
    config_hash: Annotated[str | None, typer.Option(help="Hash of the stage config.")] = None,
    dag_id: Annotated[str | None, typer.Option(help="Airflow DAG id.")] = None,
    run_id: Annotated[str | None, typer.Option(help="Airflow DAG run id.")] = None,
    task_id: Annotated[str | None, typer.Option(help="Airflow task id.")] = None,
    quality: QualityOpt = None,
    catalog: CatalogURL = None,
) -> None:
    """Register a product file (sha256 and size computed) with its inputs."""
    from datapipe_ops.catalog import Catalog, ProductRecord

    given = {
        "kind": kind,
        "campaign": campaign,
        "particle": particle,
        "obs_id": obs_id,
        "n_events": n_events,
        "zenith_deg": zenith,
        "azimuth_deg": azimuth,
        "time_start": time_start,
        "time_stop": time_stop,
        "config_hash": config_hash,
        "dag_id": dag_id,
        "run_id": run_id,
        "task_id": task_id,
        "quality_flag": quality,
    }
    record = ProductRecord.from_file(
        path, level=level, **{k: v for k, v in given.items() if v is not None}
    )
    with Catalog(catalog) as cat:
        product_id = cat.register_product(record, inputs=input_ or ())
    typer.echo(f"registered {record.path} as product {product_id}")


@app.command("register-inputs")
def register_inputs(
    product: Annotated[
        list[str],
        typer.Option(
            "--product",
            help='One product as JSON, e.g. \'{"path": "/d/a.dl0.h5", "level": "DL0", '
            '"obs_id": 1}\' (repeat). With "sha256" and "size_bytes" (from a verified '
            "manifest) the file is not read again.",
        ),
    ],
    campaign: Annotated[str, typer.Option(help="The campaign the products belong to.")],
    campaign_kind: Annotated[
        str | None,
        typer.Option(help="Create the campaign with this kind if it does not exist yet."),
    ] = None,
    catalog: CatalogURL = None,
) -> None:
    """Register a campaign's input products in one transaction (all of them or none).

    Idempotent: registering them again updates the same rows. This is the one task by which
    a campaign DAG registers its inputs; each stage registers its own product and lineage.
    """
    from datapipe_ops.catalog import Catalog

    records = [input_record(text, campaign) for text in product]
    with Catalog(catalog) as cat:
        if campaign_kind is not None:
            cat.ensure_campaign(campaign, campaign_kind)
        cat.register_products(records)
    typer.echo(f"registered {len(records)} input product(s) in campaign {campaign}")


def input_record(text: str, campaign: str | None = None) -> Any:
    """The ProductRecord of one ``--product`` JSON object (one-line errors otherwise)."""
    import json

    from datapipe_ops import __version__
    from datapipe_ops.catalog import ProductRecord, orchestration_context
    from datapipe_ops.catalog.models import build
    from datapipe_ops.errors import CatalogError, InputFileError

    try:
        fields = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CatalogError(f"--product is not valid JSON: {exc.msg}", path=text[:80]) from None
    if not isinstance(fields, dict) or "path" not in fields or "level" not in fields:
        raise CatalogError("--product needs a JSON object with 'path' and 'level'", text[:80])
    fields = {k: v for k, v in fields.items() if v is not None}
    if campaign is not None:
        fields["campaign"] = campaign
    path = Path(fields["path"])
    if fields.get("sha256") is None or fields.get("size_bytes") is None:
        computed = ("path", "sha256", "size_bytes")  # both computed from the file
        return ProductRecord.from_file(
            path, **{k: v for k, v in fields.items() if k not in computed}
        )
    if not path.is_file():
        raise InputFileError("no such file", path=path)
    context = {"software_version": __version__, **orchestration_context()}
    return build(ProductRecord, **(context | fields))


@app.command("campaign")
def campaign(
    name: Annotated[str, typer.Argument(help="Campaign name.")],
    kind: Annotated[str, typer.Option(help="simulation, observation, training or reprocessing.")],
    description: Annotated[str | None, typer.Option(help="What the campaign is for.")] = None,
    catalog: CatalogURL = None,
) -> None:
    """Create a campaign if it does not exist yet."""
    from datapipe_ops.catalog import Catalog

    with Catalog(catalog) as cat:
        found = cat.ensure_campaign(name, kind, description)
    typer.echo(f"campaign {found.name} ({found.kind.value})")
