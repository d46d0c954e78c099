"""Campaign planning: versioned locations that are never overwritten, nights, stage commands."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
from datapipe_airflow import campaigns
from datapipe_airflow.campaigns import CampaignError


def test_version_label_is_explicit_or_software_plus_config(tmp_path):
    config = tmp_path / "dl1.yaml"
    config.write_text("cleaning: {picture_threshold: 8}\n")
    assert campaigns.version_label("reproc-2026a", "0.1.0", str(config)) == "reproc-2026a"
    derived = campaigns.version_label("", "0.1.0", str(config))
    assert derived.startswith("0.1.0-cfg") and len(derived) == len("0.1.0-cfg") + 8
    config.write_text("cleaning: {picture_threshold: 9}\n")
    assert campaigns.version_label("", "0.1.0", str(config)) != derived
    assert campaigns.version_label(None, "0.2.0+local", None) == "0.2.0_local-defaults"
    with pytest.raises(CampaignError, match="not a valid name"):
        campaigns.version_label("../escape", "0.1.0", None)
    with pytest.raises(CampaignError, match="does not exist"):
        campaigns.version_label("", "0.1.0", str(tmp_path / "missing.yaml"))


def test_a_version_directory_is_never_reused_for_other_products(tmp_path):
    stamp = {"version": "v1", "config": "cfgaaaa", "software_version": "0.1.0", "first_run_id": "a"}
    directory = tmp_path / "products" / "nightly" / "v1"
    campaigns.claim_version(directory, stamp)
    assert json.loads((directory / "VERSION.json").read_text())["config"] == "cfgaaaa"
    # the same configuration from another run: allowed (re-running gives the same products)
    campaigns.claim_version(directory, {**stamp, "first_run_id": "b"})
    with pytest.raises(CampaignError, match="already holds products made with config 'cfgaaaa'"):
        campaigns.claim_version(directory, {**stamp, "config": "cfgbbbb"})
    with pytest.raises(CampaignError, match=r"software_version '0\.1\.0'"):
        campaigns.claim_version(directory, {**stamp, "software_version": "0.2.0"})
    assert json.loads((directory / "VERSION.json").read_text())["first_run_id"] == "a"


def test_night_is_the_start_date_of_the_noon_to_noon_interval():
    assert campaigns.night_of(datetime(2026, 11, 24, 12, tzinfo=UTC)) == "2026-11-24"
    assert campaigns.night_of("2026-11-24T12:00:00+00:00") == "2026-11-24"
    assert campaigns.night_of(date(2026, 11, 24), override="2026-11-20") == "2026-11-20"
    with pytest.raises(CampaignError, match="not a date"):
        campaigns.night_of(date(2026, 11, 24), override="yesterday")


def test_dl1_commands_register_with_lineage_and_calibrate():
    entry = {
        "name": "gamma_run000101.dl0.h5",
        "path": "/d/bdms/p/gamma_run000101.dl0.h5",
        "n_events": 42,
        "level": "DL0",
        "meta": {"obs_id": 101, "start": "2025-01-01T00:00:00", "coefficients": "c.h5"},
    }
    assert campaigns.dl1_name(entry["name"]) == "gamma_run000101.dl1.h5"
    assert campaigns.coefficients_beside(entry) == "/d/bdms/p/c.h5"
    # a Rucio RSE keeps a dataset's files in different directories: the listed path wins
    listed = [entry, {"name": "c.h5", "path": "/rse/ab/cd/c.h5"}]
    assert campaigns.coefficients_beside(entry, listed) == "/rse/ab/cd/c.h5"
    plan = campaigns.dl1_commands(entry, "/d/out/x.dl1.h5", "camp", "/d/bdms/p/c.h5", "/cfg.yaml")
    dl0 = plan["register_dl0"]["command"]
    assert dl0[:5] == ["catalog", "register", entry["path"], "--level", "DL0"]
    assert "--obs-id" in dl0 and "101" in dl0 and "--time-start" in dl0
    assert plan["dl0_to_dl1"] == {
        "command": [
            "dl0-to-dl1", "--input", entry["path"], "--output", "/d/out/x.dl1.h5", "--quiet",
            "--coefficients", "/d/bdms/p/c.h5", "--config", "/cfg.yaml",
        ],
        "outputs": ["/d/out/x.dl1.h5"],
    }  # fmt: skip
    dl1 = plan["register_dl1"]["command"]
    assert dl1[dl1.index("--input") + 1] == entry["path"]
    assert dl1[dl1.index("--task-id") + 1] == "dl0_to_dl1"  # the producing task
    assert campaigns.dl0_to_dl1_step(plan) is plan["dl0_to_dl1"]


def test_one_coefficients_file_per_block():
    assert campaigns.single_coefficients_file({"1": "/c.h5", "2": "/c.h5"}, "b") == "/c.h5"
    with pytest.raises(CampaignError, match="coefficients are in 2 files"):
        campaigns.single_coefficients_file({"1": "/c.h5", "2": "/d.h5"}, "b")
