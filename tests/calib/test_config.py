"""The DL0→DL1 configuration: defaults, per-camera overrides, one-line errors."""

from __future__ import annotations

import pytest

from datapipe_ops.calib.config import DL0ToDL1Config
from datapipe_ops.config import load_config
from datapipe_ops.errors import ConfigError
from datapipe_ops.resources import include_dir


def test_shipped_yaml_is_the_defaults():
    path = include_dir() / "config/dl0_to_dl1/default.yaml"
    assert load_config(path, DL0ToDL1Config) == DL0ToDL1Config()


@pytest.mark.requirement("DPPS-DP-R-042")
def test_per_camera_cleaning_defaults_are_ctapipes():
    config = DL0ToDL1Config()
    thresholds = {
        name: (c.picture_threshold_pe, c.boundary_threshold_pe)
        for name in ("LSTCam", "NectarCam", "FlashCam", "CHEC")
        for c in [config.for_camera(name)[1]]
    }
    assert thresholds == {
        "LSTCam": (8.5, 4.25),
        "NectarCam": (9.0, 4.5),
        "FlashCam": (9.0, 4.5),
        "CHEC": (4.0, 2.0),
    }
    assert config.for_camera("SomeOtherCam")[1].picture_threshold_pe == 10.0


def test_override_changes_only_its_keys(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        "extraction: {window_width: 9}\n"
        "cameras:\n"
        "  LSTCam:\n"
        "    extraction: {method: local_peak_window_sum}\n"
        "    cleaning: {picture_threshold_pe: 6, boundary_threshold_pe: 3, time_limit_ns: 2.5}\n"
    )
    config = load_config(path, DL0ToDL1Config)
    extraction, cleaning = config.for_camera("LSTCam")
    assert extraction.method == "local_peak_window_sum" and extraction.window_width == 9
    assert (cleaning.picture_threshold_pe, cleaning.time_limit_ns) == (6.0, 2.5)
    assert cleaning.min_picture_neighbors == 2
    # cameras given in a file replace the built-in per-camera table
    assert config.for_camera("NectarCam")[1].picture_threshold_pe == 10.0


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("chunk_size: 0\n", "chunk_size"),
        ("extraction: {method: sliding}\n", "extraction.method"),
        ("cleaning: {picture_threshold_pe: 3, boundary_threshold_pe: 5}\n", "boundary"),
        ("cameras: {LSTCam: {cleaning: {boundary_threshold_pe: 20}}}\n", "boundary"),
        ("clean: {}\n", "unknown key 'clean'"),
    ],
)
@pytest.mark.requirement("DPPS-DP-R-009")
def test_bad_config_is_one_clear_error(tmp_path, text, problem):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=problem) as info:
        load_config(path, DL0ToDL1Config)
    assert str(path) in str(info.value) and "\n" not in str(info.value)
