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
