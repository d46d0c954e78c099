"""A metric over time, read back from the catalog, as rows and as a PNG plot."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from datapipe_ops.io.atomic import atomic_output
from datapipe_ops.quality.config import QualityConfig


@dataclass(frozen=True)
class TrendPoint:
    """One product's value of the metric."""

    time: datetime
    value: float
    unit: str | None
    flag: str | None
    product_id: int
    obs_id: int | None
    path: str


def trend(
    name: str,
    campaign: str | None = None,
    since: datetime | str | None = None,
    catalog_url: str | None = None,
    limit: int | None = None,
) -> list[TrendPoint]:
    """The values of metric ``name`` over the products (of ``campaign``, since ``since``), by
    the products' start times."""
    from datapipe_ops.catalog import Catalog

    with Catalog(catalog_url) as catalog:
        rows = catalog.metric_trend(name, campaign=campaign, since=since, limit=limit)
    return [
        TrendPoint(
            product.time_start,
            metric.value,
            metric.unit,
            metric.flag and metric.flag.value,
            product.id,
            product.obs_id,
            product.path,
        )
        for product, metric in rows
    ]


_COLOURS = {"good": "tab:green", "warning": "tab:orange", "bad": "tab:red", None: "tab:gray"}


def plot_trend(
    points: list[TrendPoint], name: str, output: Path, config: QualityConfig | None = None
) -> Path:
    """Plot ``points`` (coloured by flag, with the thresholds of ``config``) into a PNG,
    written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    config = config or QualityConfig()
    figure, axes = plt.subplots(figsize=(8, 3.5), layout="constrained")
    for flag, colour in _COLOURS.items():
        chosen = [p for p in points if p.flag == flag]
        if chosen:
            axes.scatter([p.time for p in chosen], [p.value for p in chosen], s=18,
                         color=colour, label=flag or "not judged", zorder=3)  # fmt: skip
    if points:
        axes.plot([p.time for p in points], [p.value for p in points], color="0.7", lw=0.8)
    threshold = config.threshold(name)
    if threshold is not None:
        for limit, colour in ((threshold.warn, "tab:orange"), (threshold.bad, "tab:red")):
            if limit is not None:
                axes.axhline(limit, color=colour, ls="--", lw=1)
    unit = next((p.unit for p in points if p.unit), None)
    axes.set_ylabel(f"{name} [{unit}]" if unit else name)
    axes.set_xlabel("product start (UTC)")
    axes.set_title(f"{name}: {len(points)} value(s)")
    if points:
        axes.legend(loc="best", fontsize="small")
    figure.autofmt_xdate()
    with atomic_output(output) as tmp:
        figure.savefig(tmp, format="png", dpi=100)
    plt.close(figure)
    return output
