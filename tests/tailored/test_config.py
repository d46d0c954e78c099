"""The tailored-IRF configuration file shows the defaults, and bad keys are refused."""

from __future__ import annotations

import pytest

from datapipe_ops.config import load_config
from datapipe_ops.errors import ConfigError
from datapipe_ops.resources import include_dir
from datapipe_ops.tailored.config import TailoredConfig


def test_the_shipped_file_is_the_defaults():
    shipped = load_config(include_dir() / "config/irf/tailored.yaml", TailoredConfig)
    assert shipped == TailoredConfig()
    assert shipped.electrons is None and shipped.n_pointings == 4


def test_unknown_keys_and_bad_values_are_refused(tmp_path):
    path = tmp_path / "tailored.yaml"
    path.write_text("n_pointings: 0\n")
    with pytest.raises(ConfigError, match="n_pointings"):
        load_config(path, TailoredConfig)
    path.write_text("gammas: {n_shower: 10}\n")
    with pytest.raises(ConfigError, match="n_shower"):
        load_config(path, TailoredConfig)
