"""What the DataPipe view shows, read from the product catalog (plain functions, no Airflow).

Each function takes an open :class:`~datapipe_ops.catalog.Catalog` and returns plain data for a
page: campaign summaries, a product search, one product with its lineage and metrics, the
quality flags of the observations night by night, a metric's values over time, the reports.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from datapipe_ops.catalog import Catalog
from datapipe_ops.catalog.lineage import LineageNode
from datapipe_ops.catalog.models import (
    Level,
    Product,
    ProductQuery,
    QualityFlag,
    QualityMetric,
)

#: at most this many products are scanned by a text search, and shown
SEARCH_SCAN, SEARCH_SHOW = 20_000, 200
#: products whose metrics a trend reads at the most
TREND_PRODUCTS = 2_000
#: a report is a benchmark product written as one HTML page
REPORT_SUFFIXES = (".html", ".htm")
#: the kinds of file a report page may link beside it (never the data products next to it)
ASSET_SUFFIXES = frozenset({".png", ".svg", ".jpg", ".jpeg", ".json", ".csv", ".css", ".html"})


@dataclass(frozen=True)
class CampaignSummary:
    """A campaign and how many products of each level it has."""

    name: str
    kind: str
    description: str | None
    counts: dict[str, int]

    @property
    def total(self) -> int:
        """All its products."""
        return sum(self.counts.values())


def campaign_summaries(catalog: Catalog) -> list[CampaignSummary]:
    """Every campaign, newest first, with its product counts per level."""
    summaries = []
    for campaign in catalog.list_campaigns():
        counts = {}
        for level in Level:
            n = catalog.count_products(ProductQuery(campaign=campaign.name, level=level))
            if n:
                counts[level.value] = n
        summaries.append(
            CampaignSummary(campaign.name, campaign.kind.value, campaign.description, counts)
        )
    return sorted(summaries, key=lambda s: s.name)


@dataclass(frozen=True)
class SearchResult:
    """Products matching a search, and whether more matched than are shown."""

    products: list[Product]
    truncated: bool


def search_products(
    catalog: Catalog,
    text: str = "",
    level: str | None = None,
    campaign: str | None = None,
    flag: str | None = None,
) -> SearchResult:
    """Products of ``level`` / ``campaign`` / quality ``flag`` whose path contains ``text``
    (case-insensitive), newest first."""
    query = ProductQuery(level=level or None, campaign=campaign or None, quality_flag=flag or None)
    candidates = catalog.list_products(query, limit=SEARCH_SCAN)
    needle = text.strip().lower()
    matches = [p for p in reversed(candidates) if needle in p.path.lower()]
    return SearchResult(matches[:SEARCH_SHOW], len(matches) > SEARCH_SHOW)


@dataclass(frozen=True)
class ProductDetail:
    """One product with its metrics, the products it was made from and those made from it."""

    product: Product
    metrics: list[QualityMetric]
    inputs: LineageNode
    outputs: LineageNode

    @property
    def is_report(self) -> bool:
        """Whether the product is a report page the view can show."""
        return is_report(self.product)


def product_detail(catalog: Catalog, product_id: int, output_depth: int = 2) -> ProductDetail:
    """The product ``product_id``: metrics, full ancestry, ``output_depth`` generations of
    descendants. :class:`~datapipe_ops.errors.CatalogError` if it is not registered."""
    product = catalog.get_product(product_id)
    return ProductDetail(
        product,
        catalog.quality_metrics(product.id),
        catalog.lineage(product.id),
        catalog.descendants(product.id, depth=output_depth),
    )


def night_of(moment: datetime) -> date:
    """The observing night a time belongs to: the date of the evening (noon to noon, UTC)."""
    return (moment - timedelta(hours=12)).date()


@dataclass
class Night:
    """The observations of one night: quality flags per level and the products flagged bad."""

    night: date
    flags: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    bad: list[Product] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        """``bad`` if any product is bad, else ``warning`` if any is, else ``good`` (or
        ``unflagged`` when nothing was judged)."""
        seen = Counter()
        for counts in self.flags.values():
            seen.update(counts)
        for flag in (QualityFlag.BAD.value, QualityFlag.WARNING.value, QualityFlag.GOOD.value):
            if seen[flag]:
                return flag
        return "unflagged"


def nights(catalog: Catalog, campaign: str | None = None) -> list[Night]:
    """Observation products (those with an observation id and a start time) night by night,
    newest night first."""
    by_night: dict[date, Night] = {}
    for product in catalog.list_products(ProductQuery(campaign=campaign or None)):
        if product.obs_id is None or product.time_start is None:
            continue
        key = night_of(product.time_start)
        entry = by_night.setdefault(key, Night(key))
        flag = product.quality_flag.value if product.quality_flag else "unflagged"
        entry.flags[product.level.value][flag] += 1
        if product.quality_flag is QualityFlag.BAD:
            entry.bad.append(product)
    return sorted(by_night.values(), key=lambda n: n.night, reverse=True)


@dataclass(frozen=True)
class TrendPoint:
    """One product's value of a metric."""

    time: datetime
    value: float
    flag: str | None
    product_id: int


def metric_names(catalog: Catalog, campaign: str | None = None) -> list[str]:
    """The metric names recorded for the observation products (of ``campaign``)."""
    names: set[str] = set()
    for product in _observations(catalog, campaign):
        names.update(m.name for m in catalog.quality_metrics(product.id))
    return sorted(names)


def metric_trend(catalog: Catalog, metric: str, campaign: str | None = None) -> list[TrendPoint]:
    """The values of ``metric`` over the observation products (of ``campaign``), by time."""
    points = []
    for product in _observations(catalog, campaign):
        for m in catalog.quality_metrics(product.id):
            if m.name == metric:
                flag = m.flag.value if m.flag else None
                points.append(TrendPoint(product.time_start, m.value, flag, product.id))
    return sorted(points, key=lambda p: p.time)


def _observations(catalog: Catalog, campaign: str | None) -> list[Product]:
    products = catalog.list_products(ProductQuery(campaign=campaign or None))
    observed = [p for p in products if p.obs_id is not None and p.time_start is not None]
    return observed[-TREND_PRODUCTS:]


def is_report(product: Product) -> bool:
    """Whether ``product`` is a report page (a benchmark product written as HTML)."""
    return product.level is Level.BENCHMARK and Path(product.path).suffix in REPORT_SUFFIXES


def reports(catalog: Catalog) -> list[Product]:
    """Every registered report, newest first."""
    found = catalog.list_products(ProductQuery(level=Level.BENCHMARK))
    return [p for p in reversed(found) if is_report(p)]


def report_file(product: Product, asset: str = "") -> Path | None:
    """The report page of ``product`` (``asset`` empty) or a file beside it that the page links
    (a relative path inside the report's directory, of an :data:`ASSET_SUFFIXES` kind); None
    if it is not one, or not there."""
    if not is_report(product):
        return None
    page = Path(product.path)
    if not asset:
        return page if page.is_file() else None
    directory = page.parent.resolve()
    target = (directory / asset).resolve()
    inside = target.is_relative_to(directory) and target.suffix.lower() in ASSET_SUFFIXES
    if not inside or not target.is_file():
        return None
    return target
