"""``datapipe simulate``: run, production and observation from the command line."""

from __future__ import annotations

import pytest
import yaml

from datapipe_ops.bdms.manifest import read_manifest, verify_dataset
from datapipe_ops.cli.main import main
from datapipe_ops.resources import include_dir

DEMO = include_dir() / "config" / "simulation" / "demo.yaml"


def _small_demo(tmp_path, **changes):
    data = yaml.safe_load(DEMO.read_text())
    for particle in data["particles"]:
        particle["n_showers"] = 60
    data.update(changes)
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.requirement("DPPS-DP-R-033")
def test_run_and_production(tmp_path, capsys):
    config = _small_demo(tmp_path)
    output = tmp_path / "one.dl0.h5"
    assert (
        main(
            [
                "simulate",
                "run",
                "-c",
                str(config),
                "-o",
                str(output),
                "-q",
                "--component",
                "proton",
                "--seed",
                "3",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert f"{output}: " in out and "from 60 proton showers, obs_id 2001" in out
    assert (tmp_path / "one.coefficients.h5").exists()
    dataset = tmp_path / "dataset"
    assert (
        main(
            [
                "simulate",
                "production",
                "-c",
                str(config),
                "-o",
                str(dataset),
                "--n-files",
                "1",
                "-q",
            ]
        )
        == 0
    )
    assert "2 DL0 file(s)" in capsys.readouterr().out
    assert read_manifest(dataset).complete
    assert verify_dataset(dataset) == []


@pytest.mark.requirement("DPPS-DP-R-033")
def test_observation_with_relative_paths_from_another_directory(tmp_path, capsys, monkeypatch):
    """``-o obs`` relative to the working directory, the config relative too (once, the manifest
    applied the relative directory twice: ``obs/obs/...``)."""
    config = tmp_path / "obs.yaml"
    data = yaml.safe_load((DEMO.parent / "observation_crab.yaml").read_text())
    data["background"] = []
    data["time_slice_s"] = 0.1
    config.write_text(yaml.safe_dump(data))
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert (
        main(
            [
                "simulate",
                "observation",
                "-c",
                "../obs.yaml",
                "-o",
                "obs",
                "--duration",
                "0.2",
                "-q",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "crab_observation.dl0.h5" in out and "truth (not for processing)" in out
    dataset = tmp_path / "elsewhere" / "obs"
    assert verify_dataset(dataset) == []
    assert {f.name for f in read_manifest(dataset).files} == {
        "crab_observation.dl0.h5",
        "crab_observation.coefficients.h5",
    }


@pytest.mark.requirement("DPPS-DP-R-001", "DPPS-DP-R-009")
def test_bad_config_is_one_line_and_exit_2(tmp_path, capsys):
    data = yaml.safe_load(DEMO.read_text())
    data["particles"][0]["energy"]["min_tev"] = -0.02
    config = tmp_path / "bad.yaml"
    config.write_text(yaml.safe_dump(data))
    assert main(["simulate", "run", "-c", str(config), "-o", str(tmp_path / "x.h5")]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"datapipe: error: {config}: key 'particles.0.energy.min_tev': Input should be "
        "greater than 0 (got -0.02)\n"
    )
    assert not (tmp_path / "x.h5").exists()
    assert (
        main(
            [
                "simulate",
                "run",
                "-c",
                str(DEMO),
                "-o",
                str(tmp_path / "x.h5"),
                "--component",
                "muon",
            ]
        )
        == 2
    )
    assert "--component: no particle component 'muon'" in capsys.readouterr().err
    assert main(["simulate", "production", "-o", str(tmp_path / "d")]) == 2
    assert "Missing option '--config'" in capsys.readouterr().err
