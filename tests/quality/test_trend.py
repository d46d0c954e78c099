"""A metric over nights: the catalog query, ``datapipe quality trend`` and the web view's data."""

import sys
from datetime import date
from pathlib import Path

import pytest

from datapipe_ops.catalog import Catalog
from datapipe_ops.cli.main import main
from datapipe_ops.quality.stage import quality
from datapipe_ops.quality.trend import trend
from testkit.quality import write_dl3

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "plugins"))

DAY = 86400.0
# 2025-03-01T22:00 TT as seconds after 2000-01-01 (MJDREF of write_dl3)
NIGHT1 = (date(2025, 3, 1) - date(2000, 1, 1)).days * DAY + 22 * 3600


@pytest.fixture
def three_nights(tmp_path, catalog_url):
    """Three nights of one observation each; the third loses its source half-way (bad)."""
    with Catalog(catalog_url) as catalog:
        catalog.ensure_campaign("nightly", "observation")
    sources = [(0.5, 0.5), (0.5, 0.5), (1.0, 0.0)]
    for night, source in enumerate(sources):
        path = write_dl3(tmp_path / f"obs{night}.fits", 100 + night, NIGHT1 + night * DAY,
                         source_hz=source, seed=night)  # fmt: skip
        quality("DL3", path, catalog_url=catalog_url)
    return catalog_url


def test_the_trend_is_in_time_order_with_its_flags(three_nights):
    points = trend("excess_rate_variability", catalog_url=three_nights)
    assert [p.obs_id for p in points] == [100, 101, 102]
    assert [p.flag for p in points] == ["good", "good", "bad"]
    assert points[0].time.date() == date(2025, 3, 1)
    since = trend("excess_rate_variability", since="2025-03-02", catalog_url=three_nights)
    assert [p.obs_id for p in since] == [101, 102]
    assert trend("no_such_metric", catalog_url=three_nights) == []


def test_trend_command_prints_and_plots(three_nights, tmp_path, capsys):
    png = tmp_path / "trend.png"
    args = ["quality", "trend", "--metric", "excess_rate", "--catalog", three_nights]
    assert main([*args, "--since", "2025-03-02", "--plot", str(png)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("obs ")[1].split()[0] for line in lines[:2]] == ["101", "102"]
    assert lines[2] == "excess_rate: 2 value(s)"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main([*args, "--plot", str(png)]) == 2  # exists: not replaced without --overwrite
    assert "--overwrite" in capsys.readouterr().err


def test_the_web_view_shows_the_flags_per_night_and_the_trend(three_nights):
    from datapipe_airflow.ui import queries

    with Catalog(three_nights) as catalog:
        nights = queries.nights(catalog)
        assert [n.night for n in nights] == [date(2025, 3, 3), date(2025, 3, 2), date(2025, 3, 1)]
        assert [n.verdict for n in nights] == ["bad", "good", "good"]
        assert "excess_rate_variability" in queries.metric_names(catalog)
        points = queries.metric_trend(catalog, "excess_rate_variability")
        assert [p.flag for p in points] == ["good", "good", "bad"]
