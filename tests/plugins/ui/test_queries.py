"""What the DataPipe view reads from the catalog."""

from __future__ import annotations

from datetime import date

import pytest
from datapipe_airflow.ui import queries

from datapipe_ops.catalog import Catalog
from datapipe_ops.errors import CatalogError

pytestmark = pytest.mark.requirement("DPPS-DP-R-154")


@pytest.fixture
def catalog(view_catalog):
    url, _, _ = view_catalog
    with Catalog(url) as opened:
        yield opened


def test_campaigns_count_their_products_per_level(catalog):
    summaries = {s.name: s for s in queries.campaign_summaries(catalog)}
    assert summaries["sim-prod"].counts == {"DL0": 1, "DL1": 1, "DL2": 1, "BENCHMARK": 1}
    assert summaries["nightly"].counts == {"DL1": 3} and summaries["nightly"].total == 3
    assert summaries["nightly"].kind == "observation"


def test_search_by_text_level_campaign_and_flag(catalog, view_catalog):
    _, ids, _ = view_catalog
    assert [p.id for p in queries.search_products(catalog, "GAMMA_000.dl1").products] == [
        ids["dl1"]
    ]
    nightly = queries.search_products(catalog, campaign="nightly").products
    assert [p.id for p in nightly] == [ids["obs2"], ids["obs1"], ids["obs0"]]  # newest first
    assert [p.id for p in queries.search_products(catalog, flag="bad").products] == [ids["obs2"]]
    assert len(queries.search_products(catalog, level="DL1").products) == 4
    assert not queries.search_products(catalog, "no such file").products
    with pytest.raises(ValueError):
        queries.search_products(catalog, level="DL9")


def test_product_detail_has_full_ancestry_and_descendants(catalog, view_catalog):
    _, ids, _ = view_catalog
    detail = queries.product_detail(catalog, ids["dl2"])
    assert [n.product.id for n in detail.inputs.inputs] == [ids["dl1"]]
    assert [n.product.id for n in detail.inputs.inputs[0].inputs] == [ids["dl0"]]
    assert [n.product.id for n in detail.outputs.outputs] == [ids["report"]]
    assert not detail.is_report and queries.product_detail(catalog, ids["report"]).is_report
    with pytest.raises(CatalogError):
        queries.product_detail(catalog, 99_999)


def test_nights_group_observations_and_judge_them(catalog, view_catalog):
    _, ids, _ = view_catalog
    nights = queries.nights(catalog)
    assert [n.night for n in nights] == [date(2026, 3, 3), date(2026, 3, 2), date(2026, 3, 1)]
    assert [n.verdict for n in nights] == ["bad", "warning", "good"]
    assert [p.id for p in nights[0].bad] == [ids["obs2"]]
    assert nights[1].flags["DL1"]["warning"] == 1
    assert queries.nights(catalog, campaign="sim-prod") == []  # no observation there


def test_night_runs_from_noon_to_noon():
    from datetime import UTC, datetime

    assert queries.night_of(datetime(2026, 3, 2, 3, 0, tzinfo=UTC)) == date(2026, 3, 1)
    assert queries.night_of(datetime(2026, 3, 2, 13, 0, tzinfo=UTC)) == date(2026, 3, 2)


def test_metric_trend_in_time_order(catalog):
    assert queries.metric_names(catalog) == ["pedestal_rms"]
    points = queries.metric_trend(catalog, "pedestal_rms")
    assert [p.value for p in points] == [1.0, 2.0, 3.0]
    assert [p.flag for p in points] == ["good", "warning", "bad"]
    assert queries.metric_trend(catalog, "unknown") == []


def test_reports_and_their_files_stay_inside_the_report_directory(catalog, view_catalog):
    _, ids, root = view_catalog
    (report,) = queries.reports(catalog)
    assert report.id == ids["report"]
    assert queries.report_file(report) == root / "sim-prod.report.html"
    assert queries.report_file(report, "report_plots/rate.png") == (
        root / "report_plots" / "rate.png"
    ).resolve()
    assert queries.report_file(report, "../products/report_plots/rate.png") is not None
    assert queries.report_file(report, "secret.txt") is None  # not a kind of report asset
    assert queries.report_file(report, "gamma_000.dl1.h5") is None  # a data product beside it
    assert queries.report_file(report, "../../etc/passwd") is None
    assert queries.report_file(report, "/etc/passwd") is None
    assert queries.report_file(report, "missing.png") is None
    dl1 = catalog.get_product(ids["dl1"])
    assert queries.report_file(dl1) is None  # not a report
