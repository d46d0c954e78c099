"""The quality configuration: the shipped file, thresholds replacing defaults one by one."""

import pytest

from datapipe_ops.config import load_config
from datapipe_ops.config.loading import validate_config
from datapipe_ops.errors import ConfigError
from datapipe_ops.quality.config import QualityConfig, default_thresholds
from datapipe_ops.resources import include_dir


def test_the_shipped_file_is_the_defaults():
    shipped = load_config(include_dir() / "config/quality/default.yaml", QualityConfig)
    assert shipped == QualityConfig()
    assert set(shipped.thresholds) == set(default_thresholds())


def test_a_file_replaces_the_thresholds_it_names_only():
    config = validate_config(
        {"thresholds": {"dead_pixel_fraction": {"warn": 0.3, "bad": 0.5}, "pedestal_drift": None}},
        QualityConfig,
        "q.yaml",
    )
    assert config.thresholds["dead_pixel_fraction"].warn == 0.3
    assert "pedestal_drift" not in config.thresholds
    assert config.thresholds["hot_pixel_fraction"] == default_thresholds()["hot_pixel_fraction"]
    assert config.threshold("dead_pixel_fraction.tel_004").bad == 0.5
    assert config.threshold("pedestal_drift") is None


@pytest.mark.parametrize(
    "thresholds, problem",
    [
        ({"dead_pixel_fraction": {"warn": 0.5, "bad": 0.1}}, "must lie past warn"),
        ({"valid_image_fraction": {"warn": 0.1, "bad": 0.5, "direction": "below"}}, "past warn"),
        ({"x": {"warn": 1, "direction": "sideways"}}, "direction"),
        ({"x": {"warn": 1, "limit": 2}}, "unknown key"),
    ],
)
def test_inconsistent_thresholds_are_refused(thresholds, problem):
    with pytest.raises(ConfigError, match=problem):
        validate_config({"thresholds": thresholds}, QualityConfig, "q.yaml")
