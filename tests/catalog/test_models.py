"""The catalog models: conversions at the edge and query validation (no database)."""

from datetime import UTC, date, datetime

import astropy.units as u
import pytest
from astropy.time import Time
from pydantic import ValidationError

from datapipe_ops.catalog import Level, ProductQuery, ProductRecord
from datapipe_ops.catalog.models import normalize_path, utc_datetime


@pytest.mark.requirement("DPPS-DP-R-021")
def test_record_normalises_level_particle_angles_and_times():
    rec = ProductRecord(
        path="/data/./x/../run1.h5",
        level="dl2",
        particle="Gamma",
        zenith_deg=0.5 * u.rad,
        azimuth_deg=180,
        time_start=Time("2025-01-02T03:04:05", scale="utc"),
        quality_flag="WARNING",
        kind="",
    )
    assert rec.path == "/data/run1.h5"
    assert rec.level is Level.DL2
    assert rec.particle == "gamma"
    assert rec.zenith_deg == pytest.approx(28.6478897)
    assert rec.time_start == datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert rec.quality_flag.value == "warning"
    assert rec.kind is None


@pytest.mark.parametrize(
    "fields",
    [
        {"level": "DL7"},
        {"zenith_deg": 91},
        {"zenith_deg": 3 * u.m},
        {"sha256": "not-a-checksum"},
        {"size_bytes": -1},
        {"quality_flag": "excellent"},
        {"time_start": "2025-01-02", "time_stop": "2025-01-01"},
        {"unknown_field": 1},
    ],
)
@pytest.mark.requirement("DPPS-DP-R-021")
def test_record_rejects_bad_values(fields):
    with pytest.raises(ValidationError):
        ProductRecord(path="/x.h5", **{"level": "DL1", **fields})


def test_urls_are_kept_and_paths_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert normalize_path("root://eos.example.org//data/run1.h5") == (
        "root://eos.example.org//data/run1.h5"
    )
    assert normalize_path("sub/run1.h5") == str(tmp_path / "sub" / "run1.h5")
    with pytest.raises(ValueError, match="empty"):
        normalize_path("  ")


def test_utc_datetime_accepts_the_usual_forms():
    expected = datetime(2025, 1, 2, tzinfo=UTC)
    assert utc_datetime(date(2025, 1, 2)) == expected
    assert utc_datetime("2025-01-02T01:00+01:00") == expected
    assert utc_datetime(datetime(2025, 1, 2)) == expected
    assert utc_datetime(Time(expected)) == expected
    assert utc_datetime(None) is None
    with pytest.raises(ValueError, match="ISO 8601"):
        utc_datetime("2nd of January")


@pytest.mark.requirement("DPPS-DP-R-020")
def test_query_keeps_dates_as_whole_days_and_round_trips_through_json():
    query = ProductQuery(level="dl1", start="2025-01-02", stop=date(2025, 1, 3), obs_ids=[4, 5])
    assert query.start == date(2025, 1, 2)
    assert query.time_bounds() == (
        datetime(2025, 1, 2, tzinfo=UTC),
        datetime(2025, 1, 4, tzinfo=UTC),
    )
    assert query.stop_is_exclusive()
    assert ProductQuery.model_validate(query.model_dump(mode="json")) == query
    assert query.describe() == "level=DL1 start=2025-01-02 stop=2025-01-03 obs_ids=[4, 5]"


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"zenith_min": 40, "zenith_max": 20}, "above zenith_max"),
        ({"start": "2025-01-03", "stop": "2025-01-02"}, "before start"),
        ({"quality_flag": "bad", "exclude_bad": True}, "contradicts"),
        ({"levle": "DL1"}, "Extra inputs"),
    ],
)
@pytest.mark.requirement("DPPS-DP-R-020")
def test_query_rejects_inconsistent_criteria(fields, problem):
    with pytest.raises(ValidationError, match=problem):
        ProductQuery(**fields)
