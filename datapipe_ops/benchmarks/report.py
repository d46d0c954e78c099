"""A campaign's report: one self-contained HTML page (``datapipe report``).

The page holds, from the catalog, the campaign's products per level with links to them, their
quality flags and the metrics of the flagged ones, the software versions and configuration
hashes they were made with; and for each benchmark directory given: its headline numbers, the
verdicts against its reference and its plots, embedded as ``data:`` URIs (the page needs no
other file). It is written atomically and registered in the catalog (level ``BENCHMARK``,
kind ``report``: the DataPipe view lists such products as reports) with lineage to the
benchmarks.
"""

from __future__ import annotations

import base64
import html
import json
import os
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from datapipe_ops import __version__
from datapipe_ops.benchmarks.stage import CURVES_FILE, SUMMARY_FILE, is_benchmark_directory
from datapipe_ops.errors import InputFileError
from datapipe_ops.io.atomic import atomic_output
from datapipe_ops.io.outputs import check_output

#: products listed on the page at most (the counts cover all)
MAX_LISTED = 300
VERDICT_CLASS = {"worse": "bad", "better": "good", "changed": "warn", "no change": "same"}
FLAG_CLASS = {"bad": "bad", "warning": "warn", "good": "good"}

STYLE = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
h1{margin-bottom:0}.muted{color:#777}table{border-collapse:collapse;margin:.5em 0 1.5em}
td,th{border-bottom:1px solid #ddd;padding:.25em .7em;text-align:left;font-size:.92em}
th{background:#f4f4f4}.bad{color:#b00020;font-weight:600}.warn{color:#b36b00;font-weight:600}
.good{color:#1b7f3b}.same{color:#555}.plots{display:flex;flex-wrap:wrap;gap:1em}
.plots figure{margin:0;width:520px}.plots img{width:100%;border:1px solid #ddd}
figcaption{font-size:.9em}code{font-size:.9em}
"""


@dataclass
class ReportSummary:
    """What ``datapipe report`` wrote."""

    output: Path
    product_id: int | None = None


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _link(target: Path, page: Path, text: str | None = None) -> str:
    """A relative link from ``page`` to ``target`` (plain text if ``target`` is missing)."""
    if not target.exists():
        return f"<code>{_e(text or target)}</code>"
    href = os.path.relpath(target, page.parent)
    return f'<a href="{_e(href)}">{_e(text or target.name)}</a>'


def _png_data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _number(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return _e(value)


def benchmark_section(directory: Path) -> str:
    """The HTML of one benchmark directory: numbers, verdicts, plots (embedded)."""
    summary = json.loads((directory / SUMMARY_FILE).read_text())
    level = summary["level"]
    parts = [f"<h3>{_e(level)} benchmark <span class='muted'>({_e(directory)})</span></h3>"]
    reference = summary.get("reference")
    if reference:
        what = reference.get("directory") or f"{len(reference.get('inputs', []))} product(s)"
        parts.append(
            f"<p>Compared with <code>{_e(what)}</code> "
            f"(labels: {_e(' / '.join(summary.get('labels', [])))}).</p>"
        )
    verdicts = summary.get("verdicts", {})
    if verdicts:
        rows = [
            [
                f"<span class='{VERDICT_CLASS.get(v['verdict'], '')}'>{_e(v['verdict'])}</span>",
                _e(v["line"]),
            ]
            for v in verdicts.values()
        ]
        parts.append(_table(["verdict", "figure"], rows))
    numbers = summary.get("numbers", {})
    before = summary.get("reference_numbers") or {}
    if numbers and before:
        labels = summary.get("labels") or ["this", "reference"]
        rows = [[_e(k), _number(v), _number(before.get(k, ""))] for k, v in sorted(numbers.items())]
        parts.append(_table(["number", *labels], rows))
    elif numbers:
        rows = [[_e(k), _number(v)] for k, v in sorted(numbers.items())]
        parts.append(_table(["number", "value"], rows))
    figures = []
    for meta in summary["figures"]:
        plot = directory / meta["plot"]
        if not plot.is_file():
            continue
        caption = verdicts.get(meta["key"], {}).get("line", meta["title"])
        figures.append(
            f"<figure><img alt='{_e(meta['title'])}' src='{_png_data_uri(plot)}'>"
            f"<figcaption>{_e(caption)}</figcaption></figure>"
        )
    parts.append(f"<div class='plots'>{''.join(figures)}</div>")
    parts.append(
        f"<p class='muted'>software {_e(summary.get('software_version'))}, "
        f"config hash <code>{_e(summary.get('config_hash'))}</code>, "
        f"{len(summary.get('inputs', []))} input(s), {_e(summary.get('created'))}</p>"
    )
    return "\n".join(parts)


def render_report(campaign: str, page: Path, benchmarks: list[Path], catalog) -> str:
    """The report page of ``campaign`` (to be written at ``page``) as HTML text."""
    from datapipe_ops.catalog import ProductQuery

    info = catalog.get_campaign(campaign)
    products = catalog.list_products(ProductQuery(campaign=campaign))
    levels = Counter(p.level.value for p in products)
    flags = Counter((p.quality_flag.value if p.quality_flag else "none") for p in products)
    versions = Counter(p.software_version or "unknown" for p in products)
    hashes = Counter(p.config_hash for p in products if p.config_hash)
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    out = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>DataPipe report: {_e(campaign)}</title><style>{STYLE}</style></head><body>",
        f"<h1>Campaign {_e(campaign)}</h1>",
        f"<p class='muted'>{_e(info.kind.value)} campaign"
        f"{' — ' + _e(info.description) if info.description else ''}; report written {now} "
        f"by DataPipe {_e(__version__)}</p>",
        "<h2>Products</h2>",
        _table(["level", "products"], [[_e(k), str(v)] for k, v in sorted(levels.items())]),
        "<h2>Quality</h2>",
        _table(
            ["flag", "products"],
            [
                [f"<span class='{FLAG_CLASS.get(k, '')}'>{_e(k)}</span>", str(v)]
                for k, v in sorted(flags.items())
            ],
        ),
    ]
    flagged = [p for p in products if p.quality_flag and p.quality_flag.value != "good"]
    rows = []
    for product in flagged[:MAX_LISTED]:
        for metric in catalog.quality_metrics(product.id):
            if metric.flag and metric.flag.value != "good":
                rows.append(
                    [
                        _link(Path(product.path), page),
                        _e(metric.name),
                        _number(metric.value) + (f" {_e(metric.unit)}" if metric.unit else ""),
                        f"<span class='{FLAG_CLASS.get(metric.flag.value, '')}'>"
                        f"{_e(metric.flag.value)}</span>",
                    ]
                )
    if rows:
        out.append("<h3>Flagged metrics</h3>")
        out.append(_table(["product", "metric", "value", "flag"], rows))
    out.append("<h2>Benchmarks</h2>")
    if benchmarks:
        out.extend(benchmark_section(d) for d in benchmarks)
    else:
        out.append("<p class='muted'>no benchmark given</p>")
    out.append("<h2>Provenance</h2>")
    out.append(
        _table(
            ["software version", "products"], [[_e(k), str(v)] for k, v in sorted(versions.items())]
        )
    )
    out.append(
        _table(
            ["config hash", "products"],
            [[f"<code>{_e(k)}</code>", str(v)] for k, v in sorted(hashes.items())],
        )
    )
    out.append("<h2>Product list</h2>")
    listed = [
        [
            _e(p.level.value),
            _link(Path(p.path), page),
            _e(p.kind or ""),
            _e(p.particle or ""),
            _e(p.n_events if p.n_events is not None else ""),
            _e(p.quality_flag.value if p.quality_flag else ""),
        ]
        for p in products[:MAX_LISTED]
    ]
    out.append(_table(["level", "file", "kind", "particle", "events", "quality"], listed))
    if len(products) > MAX_LISTED:
        out.append(
            f"<p class='muted'>… and {len(products) - MAX_LISTED} more (datapipe catalog list)</p>"
        )
    out.append("</body></html>")
    return "\n".join(out)


def write_report(
    campaign: str,
    output: Path,
    benchmarks: list[Path],
    *,
    overwrite: bool = False,
    register: bool = True,
    catalog_url: str | None = None,
) -> ReportSummary:
    """Write the report of ``campaign`` at ``output`` (HTML) and register it."""
    from datapipe_ops.catalog import Catalog
    from datapipe_ops.irf.products import register_output

    benchmarks = [Path(b) for b in benchmarks]
    for directory in benchmarks:
        if not is_benchmark_directory(directory):
            raise InputFileError("is not a benchmark output directory", path=directory)
    inputs = [d / CURVES_FILE for d in benchmarks]
    output = check_output(output, inputs, overwrite)
    if output.suffix.lower() not in (".html", ".htm"):
        raise InputFileError("a report is an .html file", path=output)
    with Catalog(catalog_url) as catalog:
        catalog.check_ready(campaign)
        text = render_report(campaign, output, benchmarks, catalog)
    with atomic_output(output) as tmp:
        tmp.write_text(text, encoding="utf-8")
    summary = ReportSummary(output)
    if register:
        summary.product_id = register_output(
            output,
            "BENCHMARK",
            "report",
            dict.fromkeys(inputs, "BENCHMARK"),
            catalog_url,
            campaign=campaign,
        )
    return summary
