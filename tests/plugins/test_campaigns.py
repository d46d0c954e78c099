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


def test_one_coefficients_file_per_block():
    assert campaigns.single_coefficients_file({"1": "/c.h5", "2": "/c.h5"}, "b") == "/c.h5"
    with pytest.raises(CampaignError, match="coefficients are in 2 files"):
        campaigns.single_coefficients_file({"1": "/c.h5", "2": "/d.h5"}, "b")


# --- after DL1: DL2, IRFs, DL3, the quality gate, the delivery -----------------------------

SETS = {"model_set_id": "m0", "irf_set_id": "i0", "cuts": "/d/irf_sets/cuts.fits"}


def night_plan(name: str = "block1", obs_id: int = 30001) -> dict:
    entry = {"name": f"{name}.dl0.h5", "path": f"/d/bdms/{name}.dl0.h5", "meta": {"obs_id": obs_id}}
    out = f"/d/products/nightly/v1/2026-11-24/dl1/{name}.dl1.h5"
    return campaigns.dl1_plan(entry, out, "nightly", "/d/c.h5", None)


def test_dl3_plan_lays_the_levels_out_beside_dl1_with_the_sets():
    plan = campaigns.dl3_plan(night_plan(), SETS, {"dl3_config": "/etc/dl3.yaml"})
    night = "/d/products/nightly/v1/2026-11-24"
    assert plan["obs_id"] == 30001
    assert plan["dl2"] == f"{night}/dl2/block1.dl2.h5"
    assert plan["irf"] == f"{night}/irf/block1.irf.fits"
    assert plan["dl3"] == f"{night}/dl3/block1.dl3.fits.gz"
    assert plan["dl1_to_dl2"] == {
        "command": ["dl1-to-dl2", "--input", plan["dl1"], "--output", plan["dl2"],
                    "--model-set", "m0", "--quiet", "--overwrite"],
        "outputs": [plan["dl2"]],
    }  # fmt: skip
    assert plan["irf_step"]["command"] == [
        "interpolate-irf", "--irf-set", "i0", "--dl2", plan["dl2"], "-o", plan["irf"],
        "--overwrite",
    ]  # fmt: skip
    assert plan["dl2_to_dl3"]["command"] == [
        "dl2-to-dl3", "--input", plan["dl2"], "--cuts", SETS["cuts"], "--irf", plan["irf"],
        "--output", plan["dl3"], "--config", "/etc/dl3.yaml", "--overwrite",
    ]  # fmt: skip
    tailored = campaigns.dl3_plan(night_plan(), SETS, {"tailored_irf": True})
    assert tailored["irf_step"]["command"] == [
        "tailored-irf", "--input", plan["dl2"], "--model-set", "m0", "--cuts", SETS["cuts"],
        "-o", plan["irf"], "--overwrite",
    ]  # fmt: skip


def test_the_night_keeps_the_sets_it_was_made_with(tmp_path):
    stamp = {"model_set_id": "m0", "irf_set_id": "i0", "irf_method": "interpolated"}
    campaigns.claim_night_sets(tmp_path / "night", stamp)
    campaigns.claim_night_sets(tmp_path / "night", stamp)  # the same sets: a rerun
    for key, other in (("model_set_id", "m1"), ("irf_set_id", "i1"), ("irf_method", "tailored")):
        with pytest.raises(CampaignError, match=f"made with {key} '.*'.*new version"):
            campaigns.claim_night_sets(tmp_path / "night", {**stamp, key: other})
    assert json.loads((tmp_path / "night" / "SETS.json").read_text()) == stamp


def test_quality_gate_holds_back_bad_blocks_unless_forced():
    plans = [campaigns.dl3_plan(night_plan(f"block{k}", 30000 + k), SETS, {}) for k in (1, 2)]
    bad = {plans[1]["dl2"]: ["valid_fraction = 0.01 (bad)"]}
    gate = campaigns.hold_back(plans, bad, force=False)
    assert [p["obs_id"] for p in gate["deliver"]] == [30001] and gate["forced"] == []
    assert gate["held_back"] == [
        {"obs_id": 30002, "dl3": plans[1]["dl3"],
         "reasons": ["dl2 block2.dl2.h5: valid_fraction = 0.01 (bad)"]},
    ]  # fmt: skip
    forced = campaigns.hold_back(plans, bad, force=True)
    assert [p["obs_id"] for p in forced["deliver"]] == [30001, 30002]
    assert forced["held_back"] == [] and forced["forced"] == gate["held_back"]


def test_delivery_goes_to_the_versioned_outbox():
    plans = [campaigns.dl3_plan(night_plan(f"block{k}", 30000 + k), SETS, {}) for k in (2, 1)]
    (step,) = campaigns.delivery_command(plans, SETS, "/d", "nightly")
    outbox = "/d/outbox/nightly/v1/2026-11-24"
    assert step["outputs"] == [f"{outbox}/MANIFEST.json"]
    assert step["command"] == [
        "deliver", plans[1]["dl3"], plans[0]["dl3"], "--output", outbox,
        "--model-set", "m0", "--irf-set", "i0", "--campaign", "nightly",
        "--meta", "version=v1", "--meta", "night=2026-11-24", "--overwrite",
    ]  # fmt: skip
    assert campaigns.delivery_command([], SETS, "/d", "nightly") == []


def test_the_irf_set_is_the_named_one_or_the_latest_of_the_model_set():
    sets = [
        {"id": "aa11", "model_set_id": "m0"},
        {"id": "bb22", "model_set_id": "m1"},
        {"id": "aa33", "model_set_id": "m0"},
    ]
    assert campaigns.choose_irf_set(sets, "m0", "")["id"] == "aa33"
    assert campaigns.choose_irf_set(sets, "m0", "aa1")["id"] == "aa11"
    with pytest.raises(CampaignError, match="is of model set m1"):
        campaigns.choose_irf_set(sets, "m0", "bb")
    assert campaigns.choose_irf_set(sets, None, "bb")["model_set_id"] == "m1"  # any model set
    with pytest.raises(CampaignError, match="ambiguous"):
        campaigns.choose_irf_set(sets, "m0", "aa")
    with pytest.raises(campaigns.NoSetsError, match="stops at DL1"):
        campaigns.choose_irf_set(sets, "m9", "")
