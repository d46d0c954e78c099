"""How the campaign DAGs lay out their products and plan their stage commands.

Pure functions, no Airflow: the DAGs' small ``@task`` steps call them, the tests call them
directly.

Products live in a **versioned location** that a run never shares with a run of another
configuration or software version::

    $DATAPIPE_DATA_ROOT/products/<campaign>/<version>/[<night>/]<level>/<file>

The version is the ``version`` param when given (``reproc-2026a``), else derived from the
software version and the stage configuration (``0.1.0-cfg1a2b3c4d``, ``0.1.0-defaults``), so a
reprocessing with a new configuration or software lands in a new place by itself. The first run
stamps the version directory (``VERSION.json``: config hash, software version, DAG run); a later
run into the same version directory must have the same stamp, otherwise it stops before
touching anything: earlier products are never overwritten by different ones.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from pathlib import Path, PurePosixPath
from typing import Any

STAMP_NAME = "VERSION.json"
_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class CampaignError(ValueError):
    """A campaign cannot run as asked (bad version name, a version taken by other products)."""


def products_root(data_root: str | os.PathLike[str]) -> Path:
    """Where campaign products go: ``<data_root>/products``."""
    return Path(data_root) / "products"


def checked_name(value: str, what: str) -> str:
    """``value`` if usable as one path component (letters, digits, ``._-``)."""
    if not _SAFE.match(value or ""):
        raise CampaignError(
            f"{what} {value!r} is not a valid name (letters, digits, '.', '_', '-'; "
            "not starting with a punctuation mark)"
        )
    return value


def config_digest(config_path: str | None) -> str:
    """First 8 hex digits of the sha256 of a config file's bytes, ``defaults`` without one."""
    if not config_path:
        return "defaults"
    path = Path(config_path)
    try:
        return "cfg" + hashlib.sha256(path.read_bytes()).hexdigest()[:8]
    except FileNotFoundError:
        raise CampaignError(f"{path}: configuration file does not exist") from None


def version_label(explicit: str | None, software_version: str, config_path: str | None) -> str:
    """The processing version: ``explicit`` if given, else ``<software>-<config digest>``."""
    if explicit:
        return checked_name(explicit, "version")
    return checked_name(
        f"{software_version}-{config_digest(config_path)}".replace("+", "_"), "version"
    )


def claim_version(directory: str | os.PathLike[str], stamp: Mapping[str, Any]) -> Path:
    """Create the version directory with its stamp, or check that it holds the same stamp.

    The stamp's ``config`` and ``software_version`` must match an existing stamp (the DAG run
    may differ: re-running a night gives the same products). Raises :class:`CampaignError`
    naming the directory otherwise.
    """
    directory = Path(directory)
    path = directory / STAMP_NAME
    keys = ("version", "config", "software_version")
    if path.exists():
        existing = json.loads(path.read_text())
        different = [k for k in keys if existing.get(k) != stamp.get(k)]
        if different:
            key = different[0]
            raise CampaignError(
                f"{directory}: version '{stamp.get('version')}' already holds products made with "
                f"{key} {existing.get(key)!r} (this run: {stamp.get(key)!r}); choose a new version "
                "so that they are not overwritten"
            )
        return path
    directory.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{STAMP_NAME}.{os.getpid()}.partial")
    tmp.write_text(json.dumps(dict(stamp), indent=1, sort_keys=True) + "\n")
    os.replace(tmp, path)
    return path


def night_of(interval_start: datetime | date | str | None, override: str | None = None) -> str:
    """The night (``YYYY-MM-DD``, the evening's date) a nightly run processes.

    The nightly schedule's data interval runs from noon UTC to noon UTC: its start date is the
    night. ``override`` (the ``night`` param) wins when given.
    """
    if override:
        try:
            return date.fromisoformat(str(override)).isoformat()
        except ValueError:
            raise CampaignError(f"night {override!r} is not a date (YYYY-MM-DD)") from None
    if interval_start is None:
        raise CampaignError("the run has no data interval (no logical date): give the night param")
    if isinstance(interval_start, str):
        interval_start = datetime.fromisoformat(interval_start)
    if isinstance(interval_start, datetime):
        return interval_start.date().isoformat()
    return interval_start.isoformat()


def dl1_name(dl0_name: str) -> str:
    """``gamma_run000101.dl0.h5`` → ``gamma_run000101.dl1.h5``."""
    base = Path(dl0_name).name
    for suffix in (".dl0.h5", ".h5"):
        if base.endswith(suffix):
            return base[: -len(suffix)] + ".dl1.h5"
    return base + ".dl1.h5"


def dl0_files(files: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The DL0 entries of a dataset summary's ``files`` (coefficients etc. left out)."""
    return [dict(f) for f in files if str(f.get("level", "")).upper() == "DL0"]


def coefficients_beside(
    entry: Mapping[str, Any], files: Iterable[Mapping[str, Any]] = ()
) -> str | None:
    """The coefficients file the BDMS lists for a DL0 file (``meta.coefficients``, a file of
    the same dataset): its path among ``files``, else beside the DL0 file."""
    name = (entry.get("meta") or {}).get("coefficients")
    if not name:
        return None
    sibling = str(PurePosixPath(entry["name"]).with_name(name))
    for other in files:
        if other["name"] == sibling:
            return str(other["path"])
    return str(Path(entry["path"]).with_name(name))


def input_record(dl0: Mapping[str, Any]) -> dict[str, Any]:
    """The catalog record of a DL0 file of a dataset summary: what the BDMS verified (sha256,
    size) and what its manifest says (events, obs_id, particle, time range)."""
    meta = dict(dl0.get("meta") or {})
    record = {
        "path": dl0["path"],
        "level": "DL0",
        "sha256": dl0.get("sha256") or (dl0.get("checksums") or {}).get("sha256"),
        "size_bytes": dl0.get("size"),
        "n_events": dl0.get("n_events"),
        "obs_id": meta.get("obs_id"),
        "particle": meta.get("particle"),
        "time_start": meta.get("start"),
        "time_stop": meta.get("stop"),
    }
    return {key: value for key, value in record.items() if value is not None}


def dl1_plan(
    dl0: Mapping[str, Any],
    output: str,
    campaign: str,
    coefficients: str | None,
    config_path: str | None,
) -> dict[str, Any]:
    """What the campaign does with one DL0 file: ``{"input": <catalog record of the DL0
    file>, "dl0_to_dl1": {"command": [...], "outputs": [...]}}``.

    The stage command registers the DL1 product itself, with its lineage (DL0, coefficients),
    the campaign and the DAG run and task ids, in one catalog transaction. It passes
    ``--overwrite``: the output lies in the run's own version directory, so a retry replaces
    what a failed attempt may have left, and nothing of another version is ever touched.
    """
    calibrate = ["dl0-to-dl1", "--input", dl0["path"], "--output", output, "--quiet"]
    if coefficients:
        calibrate += ["--coefficients", coefficients]
    if config_path:
        calibrate += ["--config", config_path]
    calibrate += ["--campaign", campaign, "--overwrite"]
    return {
        "input": input_record(dl0),
        "dl0_to_dl1": {"command": calibrate, "outputs": [output]},
    }


def register_inputs_command(
    plans: Iterable[Mapping[str, Any]], campaign: str, campaign_kind: str
) -> dict[str, Any]:
    """The one stage command that creates the campaign (if new) and registers the inputs of
    every plan, in one transaction: ``{"command": [...], "outputs": []}``."""
    command = ["catalog", "register-inputs", "--campaign", campaign]
    command += ["--campaign-kind", campaign_kind]
    for plan in plans:
        command += ["--product", json.dumps(plan["input"], sort_keys=True)]
    return {"command": command, "outputs": []}


def single_coefficients_file(coefficients: Mapping[str, str], what: str) -> str:
    """The one coefficients file covering every telescope of a block (the DL0→DL1 stage takes
    one file); several files for one block is a CalibPipe delivery problem, named."""
    files = sorted(set(coefficients.values()))
    if len(files) != 1:
        raise CampaignError(
            f"{what}: the telescopes' coefficients are in {len(files)} files "
            f"({', '.join(files) or 'none'}); the DL0→DL1 stage takes one file"
        )
    return files[0]


def dl0_to_dl1_step(plan: Mapping[str, Any]) -> Any:
    """The DL0→DL1 command of one file's plan (``plans.map(dl0_to_dl1_step)``)."""
    return plan["dl0_to_dl1"]


def calibration_need(block: Mapping[str, Any]) -> Any:
    """The coefficients sensor's arguments of one observation block's plan."""
    return block["calibration"]


def claim_campaign_version(
    data_root: str | os.PathLike[str],
    campaign: str,
    version: str | None,
    config_path: str | None,
    software_version: str,
    run_id: str | None,
    **extra: Any,
) -> Path:
    """Check the names, derive the version and claim ``products/<campaign>/<version>``."""
    campaign = checked_name(campaign, "campaign")
    label = version_label(version, software_version, config_path)
    directory = products_root(data_root) / campaign / label
    stamp = {
        "version": label,
        "config": config_digest(config_path),
        "software_version": software_version,
        "first_run_id": run_id,
        **extra,
    }
    claim_version(directory, stamp)
    return directory


def plan_production(
    summary: Mapping[str, Any],
    params: Mapping[str, Any],
    data_root: str | os.PathLike[str],
    software_version: str,
    run_id: str | None = None,
) -> list[dict[str, Any]]:
    """One plan (:func:`dl1_plan`) per DL0 file of a production."""
    config = params.get("dl1_config") or None
    out_dir = claim_campaign_version(
        data_root, params["campaign"], params.get("version"), config, software_version, run_id,
        dataset=summary["dataset"],
    )  # fmt: skip
    plans = [
        dl1_plan(
            entry,
            str(out_dir / "dl1" / dl1_name(entry["name"])),
            params["campaign"],
            coefficients_beside(entry, summary["files"]),
            config,
        )
        for entry in dl0_files(summary["files"])
    ]
    if not plans:
        raise CampaignError(f"dataset {summary['dataset']} holds no DL0 file")
    return plans


def dl0_tel_ids(path: str) -> list[int]:
    """The telescopes with waveforms in a DL0 product."""
    from datapipe_ops.io import layout, open_product, tel_ids_in

    with open_product(path) as dl0:
        return tel_ids_in(dl0, layout.WAVEFORMS)


def plan_night(
    summary: Mapping[str, Any],
    night: str,
    params: Mapping[str, Any],
    data_root: str | os.PathLike[str],
    software_version: str,
    run_id: str | None = None,
) -> list[dict[str, Any]]:
    """Per observation block of a night: its DL0 entry, DL1 output and calibration needs."""
    config = params.get("dl1_config") or None
    version_dir = claim_campaign_version(
        data_root, params["campaign"], params.get("version"), config, software_version, run_id
    )
    blocks = []
    for entry in dl0_files(summary["files"]):
        meta = entry.get("meta") or {}
        blocks.append(
            {
                "dl0": entry,
                "output": str(version_dir / night / "dl1" / dl1_name(entry["name"])),
                "calibration": {
                    "tel_ids": list(meta.get("tel_ids") or dl0_tel_ids(entry["path"])),
                    "start": meta["start"],
                    "stop": meta["stop"],
                    "obs_id": meta.get("obs_id"),
                },
            }
        )
    if not blocks:
        raise CampaignError(f"night {night}: the dataset holds no DL0 file")
    return blocks


def plan_night_dl1(
    blocks: list[Mapping[str, Any]],
    coefficients: list[Mapping[str, Any]],
    params: Mapping[str, Any],
) -> list[dict[str, Any]]:
    """Per block, its plan (:func:`dl1_plan`) with the coefficients the catalog found for it."""
    return [
        dl1_plan(
            block["dl0"],
            block["output"],
            params["campaign"],
            single_coefficients_file(found["coefficients"], block["dl0"]["name"]),
            params.get("dl1_config") or None,
        )
        for block, found in zip(blocks, coefficients, strict=True)
    ]


# --- DL1 → DL2 → DL3 → delivery of a night (observation_processing) -----------------------

SETS_STAMP_NAME = "SETS.json"
IRF_METHODS = ("interpolated", "tailored")


def night_directory(dl1_output: str | os.PathLike[str]) -> Path:
    """The night's directory ``products/<campaign>/<version>/<night>`` of a block's DL1 file
    (``<night>/dl1/<block>.dl1.h5``)."""
    return Path(dl1_output).parent.parent


def block_stem(dl1_output: str | os.PathLike[str]) -> str:
    """``.../dl1/block1.dl1.h5`` → ``block1``: the name every later product of the block has."""
    name = Path(dl1_output).name
    return name[: -len(".dl1.h5")] if name.endswith(".dl1.h5") else Path(name).stem


def claim_night_sets(night_dir: str | os.PathLike[str], stamp: Mapping[str, Any]) -> Path:
    """Stamp the night's directory with the model set, IRF set and IRF method its DL2, IRF and
    DL3 products are made with (``SETS.json``), or check that it holds the same stamp.

    The version directory's own stamp covers the DL1 configuration and the software; this one
    covers what reconstruction and response the night's higher levels used, so a run with
    another model set or IRF set into the same version is refused before it touches anything:
    a reprocessing with new models goes to a new version.
    """
    directory = Path(night_dir)
    path = directory / SETS_STAMP_NAME
    keys = ("model_set_id", "irf_set_id", "irf_method")
    if path.exists():
        existing = json.loads(path.read_text())
        for key in keys:
            if existing.get(key) != stamp.get(key):
                raise CampaignError(
                    f"{directory}: this night's DL2/DL3 products were made with {key} "
                    f"{existing.get(key)!r} (this run: {stamp.get(key)!r}); give a new version "
                    "so that they are not overwritten"
                )
        return path
    directory.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{SETS_STAMP_NAME}.{os.getpid()}.partial")
    tmp.write_text(json.dumps({k: stamp.get(k) for k in keys}, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, path)
    return path


def irf_command(
    dl2: str, output: str, sets: Mapping[str, Any], tailored: bool, config: str | None = None
) -> list[str]:
    """The command writing one observation's IRFs: the IRF set interpolated to its zenith
    (``interpolate-irf``), or IRFs tailored to it (``tailored-irf``)."""
    if tailored:
        command = ["tailored-irf", "--input", dl2, "--model-set", sets["model_set_id"]]
        command += ["--cuts", sets["cuts"], "-o", output]
    else:
        command = ["interpolate-irf", "--irf-set", sets["irf_set_id"], "--dl2", dl2, "-o", output]
    if config:
        command += ["--config", config]
    return [*command, "--overwrite"]


def dl3_plan(
    dl1_plan_: Mapping[str, Any], sets: Mapping[str, Any], params: Mapping[str, Any]
) -> dict[str, Any]:
    """What the night does with one block after DL1: ``{"obs_id", "dl1", "dl2", "irf", "dl3",
    "dl1_to_dl2": {...}, "irf": {...}, "dl2_to_dl3": {...}}`` (each step a stage command and
    its outputs, ``--overwrite`` inside this version's own night directory)."""
    dl1 = dl1_plan_["dl0_to_dl1"]["outputs"][0]
    night_dir, stem = night_directory(dl1), block_stem(dl1)
    dl2 = str(night_dir / "dl2" / f"{stem}.dl2.h5")
    irf = str(night_dir / "irf" / f"{stem}.irf.fits")
    dl3 = str(night_dir / "dl3" / f"{stem}.dl3.fits.gz")
    tailored = bool(params.get("tailored_irf"))
    apply = ["dl1-to-dl2", "--input", dl1, "--output", dl2, "--model-set", sets["model_set_id"]]
    if params.get("dl2_config"):
        apply += ["--config", params["dl2_config"]]
    to_dl3 = ["dl2-to-dl3", "--input", dl2, "--cuts", sets["cuts"], "--irf", irf, "--output", dl3]
    if params.get("dl3_config"):
        to_dl3 += ["--config", params["dl3_config"]]
    return {
        "obs_id": (dl1_plan_.get("input") or {}).get("obs_id"),
        "dl1": dl1,
        "dl2": dl2,
        "irf": irf,
        "dl3": dl3,
        "dl1_to_dl2": {"command": [*apply, "--quiet", "--overwrite"], "outputs": [dl2]},
        "irf_step": {
            "command": irf_command(dl2, irf, sets, tailored, params.get("irf_config") or None),
            "outputs": [irf],
        },
        "dl2_to_dl3": {"command": [*to_dl3, "--overwrite"], "outputs": [dl3]},
    }


def plan_night_dl3(
    plans: list[Mapping[str, Any]], sets: Mapping[str, Any], params: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Per block of the night, its :func:`dl3_plan`; the night's directory stamped with the
    sets (:func:`claim_night_sets`) first."""
    if not plans:
        raise CampaignError("the night has no DL1 product to take further")
    nights = {night_directory(p["dl0_to_dl1"]["outputs"][0]) for p in plans}
    stamp = {
        "model_set_id": sets["model_set_id"],
        "irf_set_id": sets["irf_set_id"],
        "irf_method": "tailored" if params.get("tailored_irf") else "interpolated",
    }
    for night_dir in nights:
        claim_night_sets(night_dir, stamp)
    return [dl3_plan(plan, sets, params) for plan in plans]


def dl1_to_dl2_step(plan: Mapping[str, Any]) -> Any:
    """The DL1→DL2 command of one block's :func:`dl3_plan`."""
    return plan["dl1_to_dl2"]


def irf_step(plan: Mapping[str, Any]) -> Any:
    """The IRF command (interpolated or tailored) of one block's :func:`dl3_plan`."""
    return plan["irf_step"]


def dl2_to_dl3_step(plan: Mapping[str, Any]) -> Any:
    """The DL2→DL3 command of one block's :func:`dl3_plan`."""
    return plan["dl2_to_dl3"]


def hold_back(
    plans: list[Mapping[str, Any]],
    bad: Mapping[str, list[str]],
    force: bool,
) -> dict[str, Any]:
    """The quality gate of the delivery: the blocks whose DL1 or DL2 product is flagged ``bad``
    (``bad``: {product path: [why, ...]}) are held back unless ``force``.

    Returns ``{"deliver": [plans], "held_back": [{"obs_id", "dl3", "reasons"}], "forced":
    [{"obs_id", "dl3", "reasons"}]}``: ``forced`` lists the flagged blocks delivered anyway.
    """
    deliver, held, forced = [], [], []
    for plan in plans:
        reasons = [
            f"{level} {Path(plan[level]).name}: {why}"
            for level in ("dl1", "dl2")
            for why in bad.get(plan[level], [])
        ]
        if not reasons:
            deliver.append(dict(plan))
            continue
        entry = {"obs_id": plan.get("obs_id"), "dl3": plan["dl3"], "reasons": reasons}
        if force:
            forced.append(entry)
            deliver.append(dict(plan))
        else:
            held.append(entry)
    return {"deliver": deliver, "held_back": held, "forced": forced}


def outbox_directory(data_root: str | os.PathLike[str], night_dir: str | os.PathLike[str]) -> Path:
    """The outbox of a night: ``<data_root>/outbox/<campaign>/<version>/<night>``."""
    night_dir = Path(night_dir)
    version_dir = night_dir.parent
    return Path(data_root) / "outbox" / version_dir.parent.name / version_dir.name / night_dir.name


def delivery_command(
    plans: list[Mapping[str, Any]],
    sets: Mapping[str, Any],
    data_root: str | os.PathLike[str],
    campaign: str,
) -> list[dict[str, Any]]:
    """The delivery stage of a night (one element: one task), none when nothing is delivered:
    ``datapipe deliver <DL3 files> -o <outbox>`` with the sets and the version for the
    manifest."""
    if not plans:
        return []
    night_dir = night_directory(plans[0]["dl1"])
    outbox = outbox_directory(data_root, night_dir)
    command = ["deliver", *sorted(p["dl3"] for p in plans), "--output", str(outbox)]
    command += ["--model-set", sets["model_set_id"], "--irf-set", sets["irf_set_id"]]
    command += ["--campaign", campaign, "--meta", f"version={night_dir.parent.name}"]
    command += ["--meta", f"night={night_dir.name}", "--overwrite"]
    return [{"command": command, "outputs": [str(outbox / "MANIFEST.json")]}]


class NoSetsError(CampaignError):
    """No model set or IRF set is registered yet (and no param names one): the night stops at
    DL1 (the DL2/DL3 tasks are skipped, not failed)."""


def choose_irf_set(
    irf_sets: list[Mapping[str, Any]], model_set_id: str, wanted: str | None
) -> Mapping[str, Any]:
    """The IRF set of a run among the registered ones (oldest first, as
    :func:`datapipe_ops.irf.irf_set.list_irf_sets` lists them): the one ``wanted`` names
    (id or unique prefix), which must be of ``model_set_id``, else the latest of that model set.
    """
    if wanted:
        matches = [s for s in irf_sets if str(s["id"]).startswith(wanted)]
        if len(matches) != 1:
            problem = "is ambiguous" if matches else "is not registered"
            raise CampaignError(f"IRF set {wanted!r} {problem}")
        chosen = matches[0]
        if chosen.get("model_set_id") not in (None, model_set_id):
            raise CampaignError(
                f"IRF set {chosen['id']} is of model set {chosen['model_set_id']}, the run "
                f"applies model set {model_set_id}: give matching model_set and irf_set params"
            )
        return chosen
    of_model_set = [s for s in irf_sets if s.get("model_set_id") == model_set_id]
    if not of_model_set:
        raise NoSetsError(
            f"no IRF set of model set {model_set_id} is registered: the night stops at DL1 "
            "(create one with datapipe irf-set create, or give the irf_set param)"
        )
    return of_model_set[-1]
