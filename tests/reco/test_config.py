"""The DL1→DL2 configuration: shipped defaults, one-line errors."""

from __future__ import annotations

import pytest

from datapipe_ops.config import load_config
from datapipe_ops.errors import ConfigError
from datapipe_ops.reco.config import DL1ToDL2Config
from datapipe_ops.resources import include_dir


def test_shipped_yaml_is_the_defaults():
    path = include_dir() / "config/dl1_to_dl2/default.yaml"
    assert load_config(path, DL1ToDL2Config) == DL1ToDL2Config()


@pytest.mark.requirement("DPPS-DP-R-050")
def test_defaults_are_ctapipes_stereo_quality_query():
    quality = DL1ToDL2Config().geometry.quality
    assert (quality.min_intensity, quality.min_n_pixels) == (50.0, 3)
    assert quality.max_leakage_intensity_width_2 is None


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("geometry: {min_telescopes: 1}\n", "min_telescopes"),
        ("geometry: {quality: {max_leakage_intensity_width_2: 2}}\n", "max_leakage"),
        ("geometry: {colour: red}\n", "unknown key"),
    ],
)
@pytest.mark.requirement("DPPS-DP-R-009")
def test_invalid_values_are_one_line_errors(tmp_path, text, word):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=word):
        load_config(path, DL1ToDL2Config)
