"""The shipped IRF and DL3 configurations are valid and document the defaults."""

from __future__ import annotations

import pytest
from astropy import units as u

from datapipe_ops.config import load_config
from datapipe_ops.dl3.config import DL3Config
from datapipe_ops.errors import ConfigError
from datapipe_ops.irf.config import EnergyBinning, InterpolationConfig, IRFConfig
from datapipe_ops.resources import include_dir

CONFIGS = include_dir() / "config" / "irf"


def test_default_files_are_the_defaults():
    assert load_config(CONFIGS / "default.yaml", IRFConfig) == IRFConfig()
    assert load_config(CONFIGS / "interpolation.yaml", InterpolationConfig) == (
        InterpolationConfig()
    )
    assert load_config(CONFIGS / "dl3.yaml", DL3Config) == DL3Config()
    per_type = load_config(CONFIGS / "event_types.yaml", IRFConfig)
    assert per_type.cuts.event_types == [0, 1, 2] and per_type.cuts.method == "efficiency"


@pytest.mark.requirement("DPPS-DP-R-009")
def test_bad_values_name_the_key(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("cuts: {method: best}\n")
    with pytest.raises(ConfigError, match=r"cuts\.method"):
        load_config(path, IRFConfig)
    path.write_text("binning: {reco_energy: {min_tev: 10, max_tev: 1}}\n")
    with pytest.raises(ConfigError, match=r"binning\.reco_energy"):
        load_config(path, IRFConfig)


def test_energy_edges_per_decade():
    edges = EnergyBinning(min_tev=0.1, max_tev=100.0, bins_per_decade=5).edges()
    assert edges.unit == u.TeV and len(edges) == 16
    assert edges[0].value == pytest.approx(0.1) and edges[-1].value == pytest.approx(100.0)
