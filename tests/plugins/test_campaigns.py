"""Campaign planning: versioned locations that are never overwritten, nights, stage commands."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
from datapipe_airflow import campaigns
from datapipe_airflow.campaigns import CampaignError


@pytest.mark.requirement("DPPS-DP-R-133")
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


@pytest.mark.requirement("DPPS-DP-R-133")
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


@pytest.mark.requirement("DPPS-DP-R-131")
def test_night_is_the_start_date_of_the_noon_to_noon_interval():
    assert campaigns.night_of(datetime(2026, 11, 24, 12, tzinfo=UTC)) == "2026-11-24"
    assert campaigns.night_of("2026-11-24T12:00:00+00:00") == "2026-11-24"
    assert campaigns.night_of(date(2026, 11, 24), override="2026-11-20") == "2026-11-20"
    with pytest.raises(CampaignError, match="not a date"):
        campaigns.night_of(date(2026, 11, 24), override="yesterday")


@pytest.mark.requirement("DPPS-DP-R-133")
def test_dl1_plan_calibrates_with_overwrite_in_its_version_and_records_the_input():
    entry = {
        "name": "gamma_run000101.dl0.h5",
        "path": "/d/bdms/p/gamma_run000101.dl0.h5",
        "sha256": "ab" * 32,
        "size": 1234,
        "n_events": 42,
        "level": "DL0",
        "meta": {"obs_id": 101, "start": "2025-01-01T00:00:00", "coefficients": "c.h5"},
    }
    assert campaigns.dl1_name(entry["name"]) == "gamma_run000101.dl1.h5"
    assert campaigns.coefficients_beside(entry) == "/d/bdms/p/c.h5"
    # a Rucio RSE keeps a dataset's files in different directories: the listed path wins
    listed = [entry, {"name": "c.h5", "path": "/rse/ab/cd/c.h5"}]
    assert campaigns.coefficients_beside(entry, listed) == "/rse/ab/cd/c.h5"
    # the BDMS backends list their checksums by algorithm: the stand-in's sha256 is kept
    listed_entry = {**entry, "sha256": None, "checksums": {"sha256": "cd" * 32}}
    assert campaigns.input_record(listed_entry)["sha256"] == "cd" * 32
    plan = campaigns.dl1_plan(entry, "/d/out/x.dl1.h5", "camp", "/d/bdms/p/c.h5", "/cfg.yaml")
    assert set(plan) == {"input", "dl0_to_dl1"}  # one stage task per file
    assert plan["input"] == {
        "path": entry["path"], "level": "DL0", "sha256": "ab" * 32, "size_bytes": 1234,
        "n_events": 42, "obs_id": 101, "time_start": "2025-01-01T00:00:00",
    }  # fmt: skip
    assert plan["dl0_to_dl1"] == {
        "command": [
            "dl0-to-dl1", "--input", entry["path"], "--output", "/d/out/x.dl1.h5", "--quiet",
            "--coefficients", "/d/bdms/p/c.h5", "--config", "/cfg.yaml",
            "--campaign", "camp", "--overwrite",
        ],
        "outputs": ["/d/out/x.dl1.h5"],
    }  # fmt: skip
    assert campaigns.dl0_to_dl1_step(plan) is plan["dl0_to_dl1"]


@pytest.mark.requirement("DPPS-DP-R-021")
def test_register_inputs_is_one_command_for_every_file_of_the_plan():
    entries = [
        {"name": f"r{i}.dl0.h5", "path": f"/d/r{i}.dl0.h5", "meta": {"obs_id": i}} for i in (1, 2)
    ]
    plans = [
        campaigns.dl1_plan(e, f"/o/r{i}.dl1.h5", "c", None, None) for i, e in enumerate(entries)
    ]
    step = campaigns.register_inputs_command(plans, "c", "simulation")
    command = step["command"]
    assert step["outputs"] == []
    assert command[:6] == [
        "catalog",
        "register-inputs",
        "--campaign",
        "c",
        "--campaign-kind",
        "simulation",
    ]
    products = [json.loads(command[i + 1]) for i, a in enumerate(command) if a == "--product"]
    assert products == [{"path": "/d/r1.dl0.h5", "level": "DL0", "obs_id": 1},
                        {"path": "/d/r2.dl0.h5", "level": "DL0", "obs_id": 2}]  # fmt: skip


@pytest.mark.requirement("DPPS-DP-R-131")
def test_one_coefficients_file_per_block():
    assert campaigns.single_coefficients_file({"1": "/c.h5", "2": "/c.h5"}, "b") == "/c.h5"
    with pytest.raises(CampaignError, match="coefficients are in 2 files"):
        campaigns.single_coefficients_file({"1": "/c.h5", "2": "/d.h5"}, "b")


def _plans(sizes_mb, coefficients=True):
    entries = [
        {"name": f"r{i}.dl0.h5", "path": f"/d/r{i}.dl0.h5", "size": s and s * 10**6}
        for i, s in enumerate(sizes_mb)
    ]
    return [
        campaigns.dl1_plan(e, f"/o/r{i}.dl1.h5", "c", f"/d/r{i}.c.h5" if coefficients else None,
                           None)
        for i, e in enumerate(entries)
    ]  # fmt: skip


@pytest.mark.requirement("DPPS-DP-R-136")
def test_small_files_are_packed_into_groups_up_to_the_limit():
    plans = _plans([10, 30, 50, 200, 45, None, 5])
    assert campaigns.group_small_files(plans, 0) == plans  # 0: one task per file
    groups = campaigns.group_small_files(plans, 100)
    # 10+30+50 = 90 ≤ 100; 200 MB and the unknown size alone; 45+5 = 50 (the 200 MB file
    # does not close the open group)
    assert [campaigns.plan_inputs(g) for g in groups] == [
        [plans[i]["input"] for i in (0, 1, 2)],
        [plans[3]["input"]],
        [plans[4]["input"], plans[6]["input"]],
        [plans[5]["input"]],
    ]
    assert groups[1] == plans[3]  # a group of one is the file's own plan
    first = groups[0]["dl0_to_dl1"]
    assert first["outputs"] == ["/o/r0.dl1.h5", "/o/r1.dl1.h5", "/o/r2.dl1.h5"]
    assert first["command"] == [
        "dl0-to-dl1",
        "--input", "/d/r0.dl0.h5", "--output", "/o/r0.dl1.h5",
        "--input", "/d/r1.dl0.h5", "--output", "/o/r1.dl1.h5",
        "--input", "/d/r2.dl0.h5", "--output", "/o/r2.dl1.h5",
        "--quiet",
        "--coefficients", "/d/r0.c.h5", "--coefficients", "/d/r1.c.h5",
        "--coefficients", "/d/r2.c.h5",
        "--campaign", "c", "--overwrite",
    ]  # fmt: skip
    assert campaigns.dl0_to_dl1_step(groups[0]) is first
    # every DL0 file of every group is registered as an input
    step = campaigns.register_inputs_command(groups, "c", "simulation")
    registered = [json.loads(a) for a in step["command"][7::2]]
    assert [r["path"] for r in registered] == [f"/d/r{i}.dl0.h5" for i in (0, 1, 2, 3, 4, 6, 5)]


def test_a_group_never_exceeds_the_limit_and_mixes_no_coefficient_kinds():
    groups = campaigns.group_small_files(_plans([60, 60, 39.9]), 100)
    assert [len(campaigns.plan_inputs(g)) for g in groups] == [1, 2]
    mixed = _plans([1, 1], coefficients=False) + _plans([1], coefficients=True)
    groups = campaigns.group_small_files(mixed, 100)
    assert [len(campaigns.plan_inputs(g)) for g in groups] == [2, 1]
    assert "--coefficients" not in groups[0]["dl0_to_dl1"]["command"]


@pytest.mark.requirement("DPPS-DP-R-136")
def test_production_planning_groups_small_files_as_the_param_says(tmp_path):
    summary = {
        "dataset": "sim/p",
        "files": [
            {"name": f"r{i}.dl0.h5", "path": f"/b/r{i}.dl0.h5", "level": "DL0", "size": 2000}
            for i in range(3)
        ],
    }
    params = {"campaign": "c", "version": "v1", "dl1_config": ""}
    ungrouped = campaigns.plan_production(summary, params, tmp_path, "0.1.0")
    assert len(ungrouped) == 3
    grouped = campaigns.plan_production(
        summary, {**params, "group_small_files_mb": 0.005}, tmp_path, "0.1.0"
    )
    assert [len(campaigns.plan_inputs(g)) for g in grouped] == [2, 1]
    outputs = [o for g in grouped for o in g["dl0_to_dl1"]["outputs"]]
    assert outputs == [o for p in ungrouped for o in p["dl0_to_dl1"]["outputs"]]
