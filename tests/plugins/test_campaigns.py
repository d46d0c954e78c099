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


# --- after DL1 on the simulation side


def _production_plans(version_dir: str) -> list[dict]:
    entries = [
        {"name": "g1.dl0.h5", "path": "/b/g1.dl0.h5", "meta": {"particle": "gamma"}},
        {"name": "g2.dl0.h5", "path": "/b/g2.dl0.h5", "meta": {"particle": "gamma"}},
        {"name": "p1.dl0.h5", "path": "/b/p1.dl0.h5", "meta": {"particle": "proton"}},
    ]
    return [
        campaigns.dl1_plan(e, f"{version_dir}/dl1/{campaigns.dl1_name(e['name'])}", "c", None, None)
        for e in entries
    ]


def test_geometry_per_file_merged_per_particle_and_dl2_only_with_a_model_set():
    plans = _production_plans("/d/products/c/v1")
    after = campaigns.plan_geometry(plans)
    assert [g["outputs"] for g in after["geometry"]] == [
        ["/d/products/c/v1/geometry/g1.dl2.h5"],
        ["/d/products/c/v1/geometry/g2.dl2.h5"],
        ["/d/products/c/v1/geometry/p1.dl2.h5"],
    ]
    assert "--model-set" not in after["geometry"][0]["command"]
    gamma, proton = after["merge"]
    assert gamma["command"][:3] == [
        "merge",
        "/d/products/c/v1/geometry/g1.dl2.h5",
        "/d/products/c/v1/geometry/g2.dl2.h5",
    ]
    assert gamma["outputs"] == ["/d/products/c/v1/merged/gamma.geometry.dl2.h5"]
    assert proton["outputs"] == ["/d/products/c/v1/merged/proton.geometry.dl2.h5"]
    assert campaigns.plan_dl2(plans, None) == []
    dl2 = campaigns.plan_dl2(plans, "abcdef0123456789")
    assert dl2[2]["outputs"] == ["/d/products/c/v1/dl2/p1.dl2.h5"]
    command = dl2[2]["command"]
    assert command[command.index("--model-set") + 1] == "abcdef0123456789"
    assert "--overwrite" in command


def test_model_set_param_none_latest_or_given():
    assert campaigns.model_set_param("none") is None
    assert campaigns.model_set_param("") == "latest"
    assert campaigns.model_set_param(" abc ") == "abc"


def test_model_training_plan_trains_base_kinds_in_parallel_and_event_type_on_them():
    inputs = {"gamma": ["/g.dl1.h5"], "proton": ["/p.dl1.h5"]}
    plan = campaigns.plan_model_training(inputs, "/v", ["event-type", "disp", "energy"], "/f.yaml")
    assert [m["outputs"] for m in plan["merge"]] == [
        ["/v/merged/gamma.dl1.h5"],
        ["/v/merged/proton.dl1.h5"],
    ]
    assert [t["command"][1] for t in plan["train"]] == ["energy", "disp"]
    assert all("--exist-ok" in t["command"] for t in plan["train"])
    (base,) = plan["assemble_base"]
    assert base["command"][:4] == ["model-set", "assemble", "/v/parts/energy", "/v/parts/disp"]
    (event_type,) = plan["train_event_type"]
    command = event_type["command"]
    assert command[command.index("--base-model-set") + 1] == "/v/parts/base"
    (final,) = plan["assemble"]
    assert final["command"][2:5] == ["/v/parts/energy", "/v/parts/disp", "/v/parts/event-type"]
    assert "--no-register" not in final["command"]
    plain = campaigns.plan_model_training(inputs, "/v", ["gammaness"], "/f.yaml")
    assert plain["assemble_base"] == [] and plain["train_event_type"] == []
    with pytest.raises(CampaignError, match="add disp"):
        campaigns.training_kinds(["event-type"])
    with pytest.raises(CampaignError, match="choose among"):
        campaigns.training_kinds(["colour"])


def test_training_needs_gammas_and_protons():
    products = [
        {"path": "/g.dl1.h5", "particle": "gamma"},
        {"path": "/e.h5", "particle": "electron"},
    ]
    with pytest.raises(CampaignError, match="no simulated proton DL1"):
        campaigns.training_inputs(products, "campaign x")
    products.append({"path": "/p.dl1.h5", "particle": "proton"})
    assert campaigns.training_inputs(products, "x") == {
        "gamma": ["/g.dl1.h5"],
        "proton": ["/p.dl1.h5"],
    }


def test_a_model_card_without_a_kind_or_with_nan_metrics_is_refused():
    card = {"id": "x", "kinds": ["energy"], "cv_metrics": {"energy_log10_bias": 0.01}}
    assert "  energy_log10_bias: 0.01" in campaigns.check_model_card(card, ["energy"])
    with pytest.raises(CampaignError, match="lacks the kind"):
        campaigns.check_model_card(card, ["energy", "event-type"])
    with pytest.raises(CampaignError, match="not finite"):
        campaigns.check_model_card(card | {"cv_metrics": {"a": float("nan")}}, ["energy"])


def _summary(dataset: str, components: list[str]) -> dict:
    files = [
        {"name": f"{c}.dl0.h5", "path": f"/b/{dataset}/{c}.dl0.h5", "level": "DL0",
         "meta": {"particle": c.split("_")[0], "component": c}}
        for c in components
    ]  # fmt: skip
    return {"dataset": dataset, "files": files}


def test_irf_plan_cuts_on_the_reference_node_irfs_per_node_one_set():
    summaries = [
        _summary("simulation/irf_zenith20", ["gamma_point", "gamma_diffuse", "proton", "electron"]),
        _summary("simulation/irf_zenith40", ["gamma_diffuse", "proton"]),
    ]
    plan = campaigns.plan_irf(summaries, "/v", "c", "abcdef", irf_config="/irf.yaml")
    assert len(plan["dl0_to_dl1"]) == len(plan["dl1_to_dl2"]) == 6
    assert all("abcdef" in c["command"] for c in plan["dl1_to_dl2"])
    assert [m["outputs"][0] for m in plan["merge"]] == [  # one production's runs per merge
        "/v/irf/irf_zenith20/merged/electron.dl2.h5",
        "/v/irf/irf_zenith20/merged/gamma_diffuse.dl2.h5",
        "/v/irf/irf_zenith20/merged/gamma_point.dl2.h5",
        "/v/irf/irf_zenith20/merged/proton.dl2.h5",
        "/v/irf/irf_zenith40/merged/gamma_diffuse.dl2.h5",
        "/v/irf/irf_zenith40/merged/proton.dl2.h5",
    ]
    (cuts,) = plan["optimize_cuts"]
    command = cuts["command"]
    assert command[command.index("--gammas") + 1] == "/v/irf/irf_zenith20/merged/gamma_point.dl2.h5"
    assert "/v/irf/irf_zenith20/merged/electron.dl2.h5" in command
    irf40 = plan["compute_irf"][1]["command"]
    assert irf40[irf40.index("--gammas") + 1] == "/v/irf/irf_zenith40/merged/gamma_diffuse.dl2.h5"
    assert not any("irf_zenith40" in part for part in cuts["command"])
    assert [c["outputs"] for c in plan["compute_irf"]] == [
        ["/v/irf/irf_zenith20/irf.fits.gz"],
        ["/v/irf/irf_zenith40/irf.fits.gz"],
    ]
    (irf_set,) = plan["irf_set"]
    assert irf_set["command"][:2] == ["irf-set", "create"]
    assert irf_set["command"].count("--irf") == 2
    (register,) = plan["register_inputs"]
    assert register["command"].count("--product") == 6
    with pytest.raises(CampaignError, match="needs a model set"):
        campaigns.plan_irf(summaries, "/v", "c", None)
    with pytest.raises(CampaignError, match="gammas and protons are needed"):
        campaigns.plan_irf([_summary("simulation/z", ["gamma"])], "/v", "c", "abcdef")


def test_dl1_files_of_grouped_plans_list_every_file_with_its_particle():
    entries = [
        {"name": f"{p}{i}.dl0.h5", "path": f"/b/{p}{i}.dl0.h5", "size": 10, "meta": {"particle": p}}
        for p, i in (("gamma", 1), ("gamma", 2), ("proton", 1))
    ]
    plans = [
        campaigns.dl1_plan(e, f"/d/dl1/{campaigns.dl1_name(e['name'])}", "c", None, None)
        for e in entries
    ]
    grouped = campaigns.group_small_files(plans, 1.0)
    assert len(grouped) == 1
    assert campaigns.dl1_files(grouped) == campaigns.dl1_files(plans)
    assert [f["particle"] for f in campaigns.dl1_files(grouped)] == ["gamma", "gamma", "proton"]
    assert [f["dl1"] for f in campaigns.dl1_files(grouped)] == [
        "/d/dl1/gamma1.dl1.h5",
        "/d/dl1/gamma2.dl1.h5",
        "/d/dl1/proton1.dl1.h5",
    ]
