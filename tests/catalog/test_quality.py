"""Quality metrics: recording, replacing, units, flags."""

import math

import astropy.units as u
import pytest

from datapipe_ops.catalog import ProductRecord, QualityFlag
from datapipe_ops.errors import CatalogError

pytestmark = pytest.mark.requirement("DPPS-DP-R-100")


@pytest.fixture
def product(catalog):
    return catalog.get_product(
        catalog.register_product(ProductRecord(path="/q/run1.dl1.h5", level="DL1"))
    )


def test_metrics_are_recorded_and_read_back(catalog, product):
    catalog.record_quality_metric(product, "n_events", 1234)
    catalog.record_quality_metric(product.path, "mean_intensity", 85.5, unit="p.e.", flag="good")
    metrics = {m.name: m for m in catalog.quality_metrics(product.id)}
    assert sorted(metrics) == ["mean_intensity", "n_events"]
    assert metrics["n_events"].value == 1234 and metrics["n_events"].unit is None
    assert metrics["mean_intensity"].flag is QualityFlag.GOOD
    assert metrics["mean_intensity"].product_id == product.id


def test_recording_again_replaces_the_value(catalog, product):
    catalog.record_quality_metric(product, "dead_pixels", 3, flag="good")
    catalog.record_quality_metric(product, "dead_pixels", 40, flag="bad")
    (metric,) = catalog.quality_metrics(product)
    assert (metric.value, metric.flag) == (40, QualityFlag.BAD)


def test_quantities_keep_or_convert_their_unit(catalog, product):
    catalog.record_quality_metric(product, "rate", 2.5 * u.kHz)
    catalog.record_quality_metric(product, "psf", 0.1 * u.deg, unit="arcmin")
    metrics = {m.name: m for m in catalog.quality_metrics(product)}
    assert metrics["rate"].unit == "kHz"
    assert metrics["rate"].quantity.to_value(u.Hz) == pytest.approx(2500)
    assert metrics["psf"].value == pytest.approx(6.0)
    assert metrics["psf"].quantity.unit == u.arcmin


def test_nan_survives_the_round_trip(catalog, product):
    catalog.record_quality_metric(product, "mean_width", math.nan, unit="deg")
    (metric,) = catalog.quality_metrics(product)
    assert math.isnan(metric.value)


def test_bad_metric_or_unknown_product_is_refused(catalog, product):
    with pytest.raises(CatalogError, match="not registered"):
        catalog.record_quality_metric("/q/missing.h5", "x", 1.0)
    with pytest.raises(CatalogError, match="bad value"):
        catalog.record_quality_metric(product, "x", 1 * u.m, unit="s")
    with pytest.raises(CatalogError, match="flag"):
        catalog.record_quality_metric(product, "x", 1.0, flag="dubious")
    assert catalog.quality_metrics(product) == []


def test_many_metrics_and_the_flag_in_one_call(catalog, product):
    metrics = [("a", 1.0, None, "good"), ("b", math.nan, "Hz", None), ("c", 2 * u.kHz, "Hz", "bad")]
    assert catalog.record_quality(product, metrics, "bad") == product.id
    recorded = {m.name: m for m in catalog.quality_metrics(product)}
    assert math.isnan(recorded["b"].value) and recorded["c"].value == 2000
    assert catalog.get_product(product).quality_flag is QualityFlag.BAD
    catalog.record_quality(product, [("a", 3.0, None, "warning")], "warning")
    recorded = {m.name: m for m in catalog.quality_metrics(product)}
    assert (recorded["a"].value, recorded["a"].flag) == (3.0, QualityFlag.WARNING)
    assert len(recorded) == 3
    with pytest.raises(CatalogError, match="not registered"):
        catalog.record_quality("/q/missing.h5", metrics, "good")


def test_a_metric_on_record_keeps_the_product_as_bad_as_it_says(catalog, product):
    catalog.record_quality_metric(product, "operator.weather", 1.0, flag="bad")
    catalog.record_quality(product, [("rate", 2.0, "Hz", "good")], "good")
    assert catalog.get_product(product).quality_flag is QualityFlag.BAD
    catalog.record_quality_metric(product, "operator.weather", 0.0, flag="good")
    catalog.record_quality(product, [("rate", 2.0, "Hz", "warning")], "warning")
    assert catalog.get_product(product).quality_flag is QualityFlag.WARNING


def test_a_metric_trend_is_one_query_in_time_order(catalog):
    catalog.ensure_campaign("nightly", "observation")
    for day, value in ((3, 0.3), (1, 0.1), (2, 0.2)):
        path = f"/q/night{day}.dl1.h5"
        catalog.register_product(
            ProductRecord(
                path=path,
                level="DL1",
                campaign="nightly",
                obs_id=day,
                time_start=f"2026-03-0{day}T22:00:00Z",
            )
        )
        catalog.record_quality(path, [("rate_variability", value, None, None)], "good")
    unstarted = catalog.register_product(ProductRecord(path="/q/no-time.dl1.h5", level="DL1"))
    catalog.record_quality(unstarted, [("rate_variability", 9.0, None, None)], None)
    rows = catalog.metric_trend("rate_variability")
    assert [m.value for _, m in rows] == [0.1, 0.2, 0.3]
    assert [p.obs_id for p, _ in rows] == [1, 2, 3]
    assert [m.value for _, m in catalog.metric_trend("rate_variability", since="2026-03-02")] == [
        0.2, 0.3,
    ]  # fmt: skip
    assert [m.value for _, m in catalog.metric_trend("rate_variability", limit=2)] == [0.2, 0.3]
    assert catalog.metric_trend("rate_variability", campaign="other") == []
    assert catalog.metric_trend("rate_variability", level="DL2") == []
    assert catalog.metric_names() == ["rate_variability"]
