"""Simulation configurations: the shipped files load, bad values are one clear error."""

from __future__ import annotations

import pytest
import yaml

from datapipe_ops.config import load_config
from datapipe_ops.errors import ConfigError
from datapipe_ops.resources import include_dir
from datapipe_ops.simulation.config import (
    CAMERA_DEFAULTS,
    ObservationConfig,
    SimulationConfig,
)
from datapipe_ops.simulation.production import resolve_subarray

CONFIGS = include_dir() / "config" / "simulation"
PRODUCTIONS = ["demo", "training", "irf_zenith20", "irf_zenith40", "irf_zenith60"]


@pytest.mark.parametrize("name", PRODUCTIONS)
def test_shipped_production_configs_load(name):
    config = load_config(CONFIGS / f"{name}.yaml", SimulationConfig)
    assert config.particles
    subarray = resolve_subarray(config)
    assert set(subarray.camera_types) <= set(config.cameras)


def test_irf_configs_cover_three_zenith_angles():
    zeniths = [
        load_config(CONFIGS / f"irf_zenith{z}.yaml", SimulationConfig).pointing.zenith_deg
        for z in (20, 40, 60)
    ]
    assert zeniths == [20.0, 40.0, 60.0]


def test_shipped_observation_config_loads():
    config = load_config(CONFIGS / "observation_crab.yaml", ObservationConfig)
    assert config.target.spectrum == "CRAB_HEGRA"
    assert {b.particle for b in config.background} == {"proton", "electron"}


def _write(tmp_path, data):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _demo():
    return yaml.safe_load((CONFIGS / "demo.yaml").read_text())


@pytest.mark.requirement("DPPS-DP-R-009")
def test_negative_energy_names_file_and_key(tmp_path):
    data = _demo()
    data["particles"][1]["energy"]["min_tev"] = -1.0
    path = _write(tmp_path, data)
    with pytest.raises(ConfigError) as info:
        load_config(path, SimulationConfig)
    message = str(info.value)
    assert message.startswith(f"{path}: key 'particles.1.energy.min_tev'")
    assert "greater than 0" in message
    assert "\n" not in message


@pytest.mark.requirement("DPPS-DP-R-009")
def test_inverted_energy_range_is_refused(tmp_path):
    data = _demo()
    data["particles"][0]["energy"] = {"min_tev": 10.0, "max_tev": 1.0}
    with pytest.raises(ConfigError, match=r"max_tev \(1.0\) must exceed min_tev \(10.0\)"):
        load_config(_write(tmp_path, data), SimulationConfig)


@pytest.mark.requirement("DPPS-DP-R-009")
def test_unknown_camera_names_file_and_key(tmp_path):
    data = _demo()
    data["cameras"] = {"HESSCam": {"nsb_rate_ghz": 0.1}}
    path = _write(tmp_path, data)
    with pytest.raises(ConfigError) as info:
        load_config(path, SimulationConfig)
    assert str(info.value).startswith(f"{path}: key 'cameras'")
    assert "unknown camera 'HESSCam'" in str(info.value)


@pytest.mark.requirement("DPPS-DP-R-009")
def test_unknown_key_is_refused(tmp_path):
    data = _demo()
    data["particles"][0]["scatter_radius"] = 100
    with pytest.raises(ConfigError, match=r"unknown key 'particles.0.scatter_radius'"):
        load_config(_write(tmp_path, data), SimulationConfig)


@pytest.mark.requirement("DPPS-DP-R-009")
def test_unknown_subarray_is_a_config_error(tmp_path):
    data = _demo()
    data["subarray"] = "no_such_layout"
    config = load_config(_write(tmp_path, data), SimulationConfig)
    with pytest.raises(ConfigError, match="no_such_layout"):
        resolve_subarray(config)


def test_camera_overrides_merge_with_the_camera_defaults():
    config = SimulationConfig.model_validate(
        {**_demo(), "cameras": {"LSTCam": {"nsb_rate_ghz": 0.5}}}
    )
    lst = config.camera("LSTCam")
    assert lst.nsb_rate_ghz == 0.5
    assert lst.gain_adc_per_pe == CAMERA_DEFAULTS["LSTCam"]["gain_adc_per_pe"]
    assert config.camera("NectarCam").nsb_rate_ghz == CAMERA_DEFAULTS["NectarCam"]["nsb_rate_ghz"]


@pytest.mark.requirement("DPPS-DP-R-009")
def test_point_source_and_view_cone_are_exclusive(tmp_path):
    data = _demo()
    data["particles"][0]["offset_deg"] = 0.4
    with pytest.raises(ConfigError, match="either offset_deg"):
        load_config(_write(tmp_path, data), SimulationConfig)


@pytest.mark.requirement("DPPS-DP-R-009")
def test_bad_gti_is_refused(tmp_path):
    path = _write(tmp_path, {"duration_s": 100, "gtis": [[10, 200]]})
    with pytest.raises(ConfigError, match=r"GTI \[10.0, 200.0\]"):
        load_config(path, ObservationConfig)
