"""``datapipe report``: one self-contained HTML page, every link resolves, registered as a
report (level BENCHMARK, an .html file: what the DataPipe view lists)."""

from __future__ import annotations

import shutil
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from datapipe_ops.benchmarks.stage import run_benchmark
from datapipe_ops.catalog import CampaignKind, Catalog, ProductQuery, ProductRecord
from datapipe_ops.cli.main import main
from datapipe_ops.errors import InputFileError, OutputError


class Links(HTMLParser):
    """Every href and src of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.links += [value for name, value in attrs if name in ("href", "src") and value]


def broken_links(page: Path) -> list[str]:
    """The links of ``page`` that do not resolve (data: URIs must decode to an image)."""
    import base64

    parser = Links()
    parser.feed(page.read_text())
    assert parser.links
    broken = []
    for link in parser.links:
        if link.startswith("data:"):
            header, _, payload = link.partition(",")
            if not header.startswith("data:image/png;base64") or not base64.b64decode(payload):
                broken.append(link[:40])
            continue
        url = urlparse(link)
        if url.scheme or url.netloc:
            broken.append(link)  # a report links nothing outside the data volume
            continue
        if not (page.parent / unquote(url.path)).exists():
            broken.append(link)
    return broken


@pytest.fixture()
def campaign(toy, tmp_path):
    """A catalog with campaign ``toy-report``: DL2 runs (one flagged bad with its metric)."""
    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    products = tmp_path / "products" / "toy-report"
    shutil.copytree(toy["dl2"][0].parent, products / "dl2")
    files = sorted((products / "dl2").glob("*.dl2.h5"))
    with Catalog(url) as catalog:
        catalog.ensure_campaign("toy-report", CampaignKind.SIMULATION, "toy production")
        for path in files:
            catalog.register_product(
                ProductRecord.from_file(path, level="DL2", campaign="toy-report", config_hash="c1")
            )
        catalog.record_quality_metric(files[0], "reco_valid_fraction", 0.2, flag="bad")
        catalog.set_quality_flag(files[0], "bad")
    return {"url": url, "products": products, "files": files}


@pytest.mark.requirement("DPPS-DP-R-083")
def test_report_is_self_contained_and_registered(toy, campaign, tmp_path):
    bench = campaign["products"] / "benchmarks"
    run_benchmark("dl2", campaign["files"], bench / "dl2", register=False)
    run_benchmark(
        "dl2", toy["dl2_worse"], bench / "dl2_ab", reference=[bench / "dl2"], register=False
    )
    page = bench / "report.html"
    code = main(
        [
            "report",
            "--campaign",
            "toy-report",
            "-o",
            str(page),
            "--benchmarks",
            str(bench / "dl2"),
            "--benchmarks",
            str(bench / "dl2_ab"),
            "--catalog",
            campaign["url"],
        ]
    )
    assert code == 0
    text = page.read_text()
    assert broken_links(page) == []
    assert text.count("<img") == 2 * 5  # two benchmarks of 5 figures each, embedded
    assert "angular_resolution: worse" in text
    assert "<th>this</th><th>reference</th>" in text  # the numbers of both sides
    assert "reco_valid_fraction" in text and "toy production" in text  # flagged metric
    assert "c1" in text  # the products' config hash in the provenance
    with Catalog(campaign["url"]) as catalog:
        (report,) = catalog.list_products(
            ProductQuery(campaign="toy-report", level="BENCHMARK", kind="report")
        )
        assert Path(report.path) == page and report.path.endswith(".html")
        inputs = {p.path for p in catalog.lineage(report.path).products().values()}
    assert str(bench / "dl2" / "benchmark.fits") in inputs


def test_report_refuses_what_it_cannot_write(campaign, tmp_path):
    page = tmp_path / "r.html"
    page.write_text("old")
    with pytest.raises(OutputError, match="exists"):
        from datapipe_ops.benchmarks.report import write_report

        write_report("toy-report", page, [], catalog_url=campaign["url"])
    with pytest.raises(InputFileError, match="not a benchmark output directory"):
        write_report("toy-report", tmp_path / "s.html", [tmp_path], catalog_url=campaign["url"])
    assert page.read_text() == "old" and not (tmp_path / "s.html").exists()
