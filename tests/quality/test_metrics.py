"""Verdicts, the worst flag, and the stability statistics."""

import math

import numpy as np
import pytest

from datapipe_ops.catalog import QualityFlag
from datapipe_ops.quality.config import QualityConfig, Threshold
from datapipe_ops.quality.metrics import (
    binned_mean_variability,
    excess_variability,
    judge,
    per_telescope,
    rate_variability,
    time_bins,
    worst,
)

ABOVE = Threshold(warn=0.1, bad=0.3)
BELOW = Threshold(warn=0.7, bad=0.4, direction="below")


@pytest.mark.parametrize(
    "value, threshold, flag",
    [
        (0.05, ABOVE, QualityFlag.GOOD),
        (0.1, ABOVE, QualityFlag.GOOD),  # on the limit is still inside
        (0.2, ABOVE, QualityFlag.WARNING),
        (0.31, ABOVE, QualityFlag.BAD),
        (0.9, BELOW, QualityFlag.GOOD),
        (0.5, BELOW, QualityFlag.WARNING),
        (0.1, BELOW, QualityFlag.BAD),
        (0.9, Threshold(bad=0.5), QualityFlag.BAD),
        (0.4, Threshold(warn=0.3), QualityFlag.WARNING),
    ],
)
def test_a_value_is_judged_against_its_limits(value, threshold, flag):
    got, reason = judge("m", value, threshold)
    assert got is flag
    assert ("m = " in reason) == (flag is not QualityFlag.GOOD)


def test_unjudged_and_unmeasurable_metrics_have_no_flag():
    assert judge("m", 5.0, None) == (None, "")
    flag, reason = judge("m", math.nan, ABOVE)
    assert flag is None and "not measurable" in reason


def test_the_worst_flag_wins():
    assert worst([QualityFlag.GOOD, None, QualityFlag.WARNING]) is QualityFlag.WARNING
    assert worst([QualityFlag.WARNING, QualityFlag.BAD, QualityFlag.GOOD]) is QualityFlag.BAD
    assert worst([None, None]) is QualityFlag.GOOD


def test_the_product_value_is_the_worst_telescope():
    config = QualityConfig()
    above = per_telescope("dead_pixel_fraction", {1: 0.0, 2: 0.2, 3: math.nan}, None, config)
    assert [m.name for m in above] == [
        "dead_pixel_fraction", "dead_pixel_fraction.tel_001", "dead_pixel_fraction.tel_002",
        "dead_pixel_fraction.tel_003",
    ]  # fmt: skip
    assert above[0].value == 0.2 and above[0].flag is QualityFlag.BAD
    below = per_telescope("valid_image_fraction", {1: 0.9, 2: 0.2}, None, config)
    assert below[0].value == 0.2 and below[0].flag is QualityFlag.WARNING


def test_time_bins_cover_the_span_edges_included():
    index = time_bins(np.array([-1.0, 0.0, 4.99, 5.0, 10.0, 10.5]), 0.0, 10.0, 2)
    assert index.tolist() == [-1, 0, 0, 1, 1, -1]


def test_a_steady_poisson_rate_has_no_variability_and_a_step_has():
    rng = np.random.default_rng(1)
    config = QualityConfig(time_bins=10)
    steady = np.sort(rng.uniform(0, 1000, 20000))
    rate, variability = rate_variability(steady, 0, 1000, config)
    assert rate == pytest.approx(20, rel=0.01)
    assert variability < 0.03
    # the rate doubles half-way: bins at 1 and 2 (relative to the mean 1.5) → spread 1/3
    step = np.sort(np.concatenate([rng.uniform(0, 500, 5000), rng.uniform(500, 1000, 10000)]))
    assert rate_variability(step, 0, 1000, config)[1] == pytest.approx(1 / 3, abs=0.03)


def test_too_few_events_are_not_measured():
    config = QualityConfig(time_bins=10, min_counts_per_bin=20)
    assert math.isnan(rate_variability(np.arange(30.0), 0, 30, config)[1])
    assert math.isnan(excess_variability(np.array([1.0]), np.array([1.0])))


def test_a_drifting_mean_is_seen_beyond_its_errors():
    rng = np.random.default_rng(2)
    config = QualityConfig(time_bins=10)
    t = np.sort(rng.uniform(0, 100, 50000))
    flat = rng.normal(100, 30, t.size)
    assert binned_mean_variability(t, flat, 0, 100, config) < 0.01
    drift = flat * (1 + 0.4 * (t / 100 - 0.5))
    assert binned_mean_variability(t, drift, 0, 100, config) == pytest.approx(
        0.4 / 12**0.5 * 1.05, rel=0.15
    )
