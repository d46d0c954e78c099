"""The FastAPI app of the DataPipe view, mounted by Airflow's API server under ``/datapipe``.

Pages (HTML, rendered with Jinja2; every route needs a user Airflow's auth manager lets read the
``DataPipe`` view, see :mod:`datapipe_airflow.ui.access`):

``/``                       campaigns with their product counts, latest nights, latest reports
``/products``               product search: path text, level, campaign, quality flag
``/products/{id}``          one product: its record, metrics, inputs (full lineage), outputs
``/quality``                quality flags night by night; a metric's trend (``?metric=``)
``/quality/trend.png``      the trend plot of one metric
``/reports``                every registered report
``/reports/{id}/``          a report page, and (``/reports/{id}/<file>``) the files it links

The catalog is the one of the deployment (:func:`datapipe_ops.settings.catalog_url`, i.e.
``DATAPIPE_CATALOG_URL``), opened per request.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from datapipe_airflow.ui import queries
from datapipe_airflow.ui.access import Viewer
from datapipe_ops.catalog import Catalog
from datapipe_ops.catalog.models import Level, QualityFlag
from datapipe_ops.errors import CatalogError

TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=select_autoescape(["html"]),
)


def open_catalog() -> Iterator[Catalog]:
    """The deployment's catalog for one request."""
    catalog = Catalog()
    try:
        yield catalog
    finally:
        catalog.close()


CatalogDep = Annotated[Catalog, Depends(open_catalog)]


def page(name: str, request: Request, **context: object) -> HTMLResponse:
    """Render template ``name`` with the links made relative to where the app is mounted."""
    root = request.scope.get("root_path", "").rstrip("/")
    html = TEMPLATES.get_template(name).render(root=root, **context)
    return HTMLResponse(html)


app = FastAPI(
    title="DataPipe",
    description="Campaigns, products and lineage, quality flags and reports of DataPipe.",
    docs_url=None,
    redoc_url=None,
    openapi_url=None,
)


@app.get("/", response_class=HTMLResponse)
def overview(request: Request, user: Viewer, catalog: CatalogDep) -> HTMLResponse:
    """Campaigns, the latest nights and reports."""
    return page(
        "overview.html",
        request,
        campaigns=queries.campaign_summaries(catalog),
        nights=queries.nights(catalog)[:7],
        reports=queries.reports(catalog)[:10],
    )


@app.get("/products", response_class=HTMLResponse)
def products(
    request: Request,
    user: Viewer,
    catalog: CatalogDep,
    q: str = "",
    level: Annotated[str, Query()] = "",
    campaign: Annotated[str, Query()] = "",
    flag: Annotated[str, Query()] = "",
) -> HTMLResponse:
    """Search the products."""
    try:
        result = queries.search_products(catalog, q, level, campaign, flag)
    except ValueError as exc:  # an unknown level or flag
        raise HTTPException(422, str(exc).splitlines()[0]) from None
    return page(
        "products.html",
        request,
        result=result,
        q=q,
        level=level,
        campaign=campaign,
        flag=flag,
        levels=[lv.value for lv in Level],
        flags=[f.value for f in QualityFlag],
        campaigns=[c.name for c in catalog.list_campaigns()],
    )


@app.get("/products/{product_id}", response_class=HTMLResponse)
def product(request: Request, product_id: int, user: Viewer, catalog: CatalogDep) -> HTMLResponse:
    """One product with its lineage."""
    try:
        detail = queries.product_detail(catalog, product_id)
    except CatalogError:
        raise HTTPException(404, f"no product {product_id} in the catalog") from None
    return page("product.html", request, detail=detail)


@app.get("/quality", response_class=HTMLResponse)
def quality(
    request: Request, user: Viewer, catalog: CatalogDep, campaign: str = "", metric: str = ""
) -> HTMLResponse:
    """Quality flags per night, and one metric's trend."""
    names = queries.metric_names(catalog, campaign)
    chosen = metric if metric in names else (names[0] if names else "")
    points = queries.metric_trend(catalog, chosen, campaign) if chosen else []
    return page(
        "quality.html",
        request,
        nights=queries.nights(catalog, campaign),
        campaign=campaign,
        campaigns=[c.name for c in catalog.list_campaigns()],
        metrics=names,
        metric=chosen,
        points=points,
    )


@app.get("/quality/trend.png")
def trend_plot(user: Viewer, catalog: CatalogDep, metric: str, campaign: str = "") -> Response:
    """PNG: the values of ``metric`` over time, coloured by their flag."""
    points = queries.metric_trend(catalog, metric, campaign)
    return Response(trend_png(metric, points), media_type="image/png")


def trend_png(metric: str, points: list[queries.TrendPoint]) -> bytes:
    """The trend plot of a metric as PNG bytes."""
    from matplotlib.figure import Figure

    colours = {"good": "tab:green", "warning": "tab:orange", "bad": "tab:red", None: "tab:blue"}
    figure = Figure(figsize=(8, 3), layout="constrained")
    axes = figure.add_subplot()
    if points:
        axes.plot([p.time for p in points], [p.value for p in points], color="0.7", lw=1)
        for flag, colour in colours.items():
            chosen = [p for p in points if p.flag == flag]
            if chosen:
                axes.scatter(
                    [p.time for p in chosen],
                    [p.value for p in chosen],
                    color=colour,
                    label=flag or "unflagged",
                    zorder=3,
                )
        axes.legend(loc="best", fontsize="small")
    else:
        axes.text(0.5, 0.5, "no values", ha="center", va="center", transform=axes.transAxes)
    axes.set_title(metric)
    axes.set_xlabel("time (UTC)")
    figure.autofmt_xdate()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


@app.get("/reports", response_class=HTMLResponse)
def report_list(request: Request, user: Viewer, catalog: CatalogDep) -> HTMLResponse:
    """Every registered report."""
    return page("reports.html", request, reports=queries.reports(catalog))


@app.get("/reports/{product_id}/{asset:path}")
def report(product_id: int, user: Viewer, catalog: CatalogDep, asset: str = "") -> FileResponse:
    """A report page (``asset`` empty) or a file it links, from beside the report."""
    found = catalog.find_product(product_id)
    target = None if found is None else queries.report_file(found, asset)
    if target is None:
        raise HTTPException(404, f"no report file {asset or 'page'} for product {product_id}")
    return FileResponse(target)
