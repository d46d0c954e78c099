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


def dl1_command(
    files: Iterable[tuple[str, str, str | None]], campaign: str, config_path: str | None
) -> list[str]:
    """The ``datapipe dl0-to-dl1`` command for ``(input, output, coefficients)`` files (one
    product each, in one process); the coefficients are given for every file or for none."""
    files = list(files)
    command = ["dl0-to-dl1"]
    for source, output, _ in files:
        command += ["--input", source, "--output", output]
    command.append("--quiet")
    for _, _, coefficients in files:
        if coefficients:
            command += ["--coefficients", coefficients]
    if config_path:
        command += ["--config", config_path]
    return [*command, "--campaign", campaign, "--overwrite"]


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
    return {
        "input": input_record(dl0),
        "dl0_to_dl1": {
            "command": dl1_command([(dl0["path"], output, coefficients)], campaign, config_path),
            "outputs": [output],
        },
    }


def _option(command: list[str], flag: str) -> str | None:
    """The value after ``flag`` in a stage command (None if absent)."""
    return command[command.index(flag) + 1] if flag in command else None


def group_small_files(plans: list[Mapping[str, Any]], limit_mb: float) -> list[dict[str, Any]]:
    """Pack the plans (:func:`dl1_plan`) of small files into one task each group.

    Files smaller than ``limit_mb`` MB (10^6 bytes, the size the BDMS recorded) are packed, in
    order, into groups whose sizes add up to at most ``limit_mb``; a larger file, or one of
    unknown size, stays alone. Each group is one plan ``{"inputs": [<catalog records>],
    "dl0_to_dl1": {"command": [...], "outputs": [...]}}``: one ``datapipe dl0-to-dl1`` process
    for all its files, which still writes and registers one DL1 product per file. Files with
    coefficients are grouped apart from files without. ``limit_mb`` 0: the plans unchanged
    (one task per file).
    """
    if not limit_mb or limit_mb <= 0:
        return [dict(plan) for plan in plans]
    limit = limit_mb * 1e6
    groups: list[list[Mapping[str, Any]]] = []
    filling: dict[tuple[Any, ...], list[Mapping[str, Any]]] = {}  # the open group per kind
    sizes: dict[tuple[Any, ...], float] = {}
    for plan in plans:
        command = plan["dl0_to_dl1"]["command"]
        size = plan["input"].get("size_bytes")
        if size is None or size >= limit:
            groups.append([plan])
            continue
        key = ("--coefficients" in command, _option(command, "--config"),
               _option(command, "--campaign"))  # fmt: skip
        if key not in filling or sizes[key] + size > limit:
            filling[key], sizes[key] = [], 0.0
            groups.append(filling[key])
        filling[key].append(plan)
        sizes[key] += size
    return [_group_plan(group) for group in groups]


def _group_plan(plans: list[Mapping[str, Any]]) -> dict[str, Any]:
    """One plan running the files of ``plans`` in one stage command."""
    if len(plans) == 1:
        return dict(plans[0])
    first = plans[0]["dl0_to_dl1"]["command"]
    files = [
        (
            plan["input"]["path"],
            plan["dl0_to_dl1"]["outputs"][0],
            _option(plan["dl0_to_dl1"]["command"], "--coefficients"),
        )
        for plan in plans
    ]
    return {
        "inputs": [plan["input"] for plan in plans],
        "dl0_to_dl1": {
            "command": dl1_command(files, _option(first, "--campaign"), _option(first, "--config")),
            "outputs": [output for _, output, _ in files],
        },
    }


def plan_inputs(plan: Mapping[str, Any]) -> list[Any]:
    """The catalog records of the DL0 files of a plan (one file, or a group's)."""
    return list(plan["inputs"]) if "inputs" in plan else [plan["input"]]


def register_inputs_command(
    plans: Iterable[Mapping[str, Any]], campaign: str, campaign_kind: str
) -> dict[str, Any]:
    """The one stage command that creates the campaign (if new) and registers the inputs of
    every plan, in one transaction: ``{"command": [...], "outputs": []}``."""
    command = ["catalog", "register-inputs", "--campaign", campaign]
    command += ["--campaign-kind", campaign_kind]
    for plan in plans:
        for record in plan_inputs(plan):
            command += ["--product", json.dumps(record, sort_keys=True)]
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
    """The DL0→DL1 command of one plan, a file's or a group's (``plans.map(dl0_to_dl1_step)``:
    one task each)."""
    return plan["dl0_to_dl1"]


def quality_plans(outputs: Iterable[Iterable[str]], level: str) -> list[dict[str, Any]]:
    """One ``datapipe quality <level>`` command per product of ``outputs`` (the output lists of
    the mapped stage tasks that wrote them): ``[{"command": [...], "outputs": [<json>]}]``.

    The report goes beside the product (``<product>.quality.json``) with ``--overwrite``: it
    lies in the run's own version directory, so a retry replaces what a failed attempt left.
    """
    from datapipe_ops.quality.stage import default_output

    plans = []
    for paths in outputs:
        for path in paths:
            command = ["quality", level.lower(), "--input", str(path), "--overwrite"]
            plans.append({"command": command, "outputs": [str(default_output(path))]})
    return plans


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
    """One plan (:func:`dl1_plan`) per DL0 file of a production, small files grouped as the
    ``group_small_files_mb`` param says (:func:`group_small_files`)."""
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
    return group_small_files(plans, params.get("group_small_files_mb") or 0)


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
    """Per block, its plan (:func:`dl1_plan`) with the coefficients the catalog found for it;
    small files grouped as the ``group_small_files_mb`` param says (:func:`group_small_files`)."""
    plans = [
        dl1_plan(
            block["dl0"],
            block["output"],
            params["campaign"],
            single_coefficients_file(found["coefficients"], block["dl0"]["name"]),
            params.get("dl1_config") or None,
        )
        for block, found in zip(blocks, coefficients, strict=True)
    ]
    return group_small_files(plans, params.get("group_small_files_mb") or 0)


# --------------------------------------------------------------------------------------------
# benchmarking

#: the benchmarks the ``benchmarking`` DAG can run, and the catalog level of their inputs
BENCHMARK_INPUTS = {
    "dl0": "DL0",
    "dl1": "DL1",
    "models": "DL2",
    "dl2": "DL2",
    "irf": "IRF",
    "dl3": "DL3",
}


def campaign_from_events(events: Mapping[Any, Any] | None) -> str | None:
    """The campaign named in the ``extra`` of the newest triggering asset event (None if the
    run was not started by an asset event naming one)."""
    newest, name = None, None
    for asset_events in (events or {}).values():
        for event in asset_events or ():
            extra = getattr(event, "extra", None) or {}
            stamp = getattr(event, "timestamp", None)
            if extra.get("campaign") and (newest is None or (stamp and stamp >= newest)):
                newest, name = stamp, str(extra["campaign"])
    return name


def benchmark_directory(data_root: str | os.PathLike[str], campaign: str, run_id: str) -> Path:
    """Where a benchmarking run writes: ``products/<campaign>/benchmarks/<run>/``."""
    run = re.sub(r"[^A-Za-z0-9._-]", "_", run_id).strip("._-") or "run"
    return products_root(data_root) / checked_name(campaign, "campaign") / "benchmarks" / run


def benchmark_plan(
    campaign: str,
    levels: Iterable[str],
    directory: Path,
    reference_campaign: str | None = None,
    available: Iterable[str] | None = None,
) -> list[dict[str, Any]]:
    """One ``datapipe benchmark`` step per requested level whose inputs exist (``available``:
    the levels the campaign — and the reference campaign — has products of; None: all)."""
    have = None if available is None else set(available)
    steps = []
    for level in levels:
        if level not in BENCHMARK_INPUTS:
            raise CampaignError(
                f"unknown benchmark level {level!r} ({', '.join(BENCHMARK_INPUTS)})"
            )
        if have is not None and BENCHMARK_INPUTS[level] not in have:
            continue
        output = directory / level
        command = ["benchmark", level, "--campaign", campaign, "-o", str(output), "--overwrite"]
        if reference_campaign:
            command += ["--reference-campaign", checked_name(reference_campaign, "campaign")]
            command += ["--labels", f"{campaign},{reference_campaign}"]
        steps.append({"command": command, "outputs": [str(output / "summary.json")]})
    return steps


def report_step(campaign: str, directory: Path, benchmark_outputs: Iterable[str]) -> dict:
    """The ``datapipe report`` step over the benchmark directories that were written."""
    page = directory / "report.html"
    command = ["report", "--campaign", campaign, "-o", str(page), "--overwrite"]
    for summary in sorted(benchmark_outputs):
        command += ["--benchmarks", str(Path(summary).parent)]
    return {"command": command, "outputs": [str(page)]}


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
    irf_sets: list[Mapping[str, Any]], model_set_id: str | None, wanted: str | None
) -> Mapping[str, Any]:
    """The IRF set of a run among the registered ones (oldest first, as
    :func:`datapipe_ops.irf.irf_set.list_irf_sets` lists them): the one ``wanted`` names
    (id or unique prefix), which must be of ``model_set_id`` (``None``: of any model set),
    else the latest of that model set.
    """
    if wanted:
        matches = [s for s in irf_sets if str(s["id"]).startswith(wanted)]
        if len(matches) != 1:
            problem = "is ambiguous" if matches else "is not registered"
            raise CampaignError(f"IRF set {wanted!r} {problem}")
        chosen = matches[0]
        if model_set_id is not None and chosen.get("model_set_id") not in (None, model_set_id):
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


# ------------------------------------------------------------------------------------------
# after DL1 on the simulation side: geometry, merge, DL2 with a model set, model training, IRFs

#: the model kinds a campaign trains, as ``datapipe train`` names them
MODEL_KINDS: tuple[str, ...] = ("energy", "gammaness", "disp", "event-type")
#: the kinds trained in parallel first; ``event-type`` is trained on their assembly
BASE_KINDS: tuple[str, ...] = ("energy", "gammaness", "disp")
#: the particles a training needs and the ones IRFs use
TRAINING_PARTICLES: tuple[str, ...] = ("gamma", "proton")
IRF_PARTICLES: tuple[str, ...] = ("gamma", "proton", "electron")
#: the ``model_set`` param value that stops a simulation campaign at the geometry
NO_MODEL_SET = "none"


def stage_command(command: list[str], outputs: Iterable[str] = ()) -> dict[str, Any]:
    """One stage task's ``{"command": [...], "outputs": [...]}``."""
    return {"command": [str(c) for c in command], "outputs": [str(o) for o in outputs]}


def dl2_name(dl1: str, suffix: str = ".dl2.h5") -> str:
    """``gamma_run000101.dl1.h5`` → ``gamma_run000101.dl2.h5``."""
    base = Path(dl1).name
    return (base[: -len(".dl1.h5")] if base.endswith(".dl1.h5") else Path(base).stem) + suffix


def merge_command(inputs: Iterable[str], output: str) -> dict[str, Any]:
    """``datapipe merge`` of ``inputs`` into ``output`` (registered with lineage to all)."""
    inputs = sorted(str(i) for i in inputs)
    return stage_command(["merge", *inputs, "-o", output, "--quiet", "--overwrite"], [output])


def dl1_to_dl2_command(
    dl1: str, output: str, model_set: str | None = None, config: str | None = None
) -> dict[str, Any]:
    """``datapipe dl1-to-dl2`` of one DL1 product: the geometry only without a model set."""
    command = ["dl1-to-dl2", "--input", dl1, "--output", output, "--quiet", "--overwrite"]
    if model_set:
        command += ["--model-set", model_set]
    if config:
        command += ["--config", config]
    return stage_command(command, [output])


def dl1_files(plans: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    """``[{"dl1", "particle"}]`` of a production's plans (:func:`dl1_plan`)."""
    out = []
    for plan in plans:  # a plan of a group of small files has several inputs and outputs
        outputs = plan["dl0_to_dl1"]["outputs"]
        for record, dl1 in zip(plan_inputs(plan), outputs, strict=True):
            particle = str((record or {}).get("particle") or "unknown")
            out.append({"dl1": dl1, "particle": particle})
    return out


def by_particle(files: Iterable[Mapping[str, str]], key: str) -> dict[str, list[str]]:
    """``files[key]`` grouped by ``particle``, in a stable order."""
    groups: dict[str, list[str]] = {}
    for entry in files:
        groups.setdefault(entry["particle"], []).append(entry[key])
    return {particle: sorted(paths) for particle, paths in sorted(groups.items())}


def plan_geometry(
    plans: Iterable[Mapping[str, Any]], dl2_config: str | None = None
) -> dict[str, list[dict[str, Any]]]:
    """The geometry (``dl1-to-dl2`` without a model set, one command per DL1 file) and the merge
    of the geometry products per particle — the training input of a campaign's models::

        <version>/geometry/<run>.dl2.h5, <version>/merged/<particle>.geometry.dl2.h5
    """
    files = dl1_files(plans)
    if not files:
        raise CampaignError("the production has no DL1 file to continue from")
    version_dir = Path(files[0]["dl1"]).parents[1]
    geometry = []
    for entry in files:
        entry["geometry"] = str(version_dir / "geometry" / dl2_name(entry["dl1"]))
        geometry.append(dl1_to_dl2_command(entry["dl1"], entry["geometry"], None, dl2_config))
    merge = [
        merge_command(paths, str(version_dir / "merged" / f"{particle}.geometry.dl2.h5"))
        for particle, paths in by_particle(files, "geometry").items()
    ]
    return {"geometry": geometry, "merge": merge}


def plan_dl2(
    plans: Iterable[Mapping[str, Any]], model_set: str | None, dl2_config: str | None = None
) -> list[dict[str, Any]]:
    """One ``dl1-to-dl2 --model-set`` per DL1 file into ``<version>/dl2/``; none without a
    model set (the campaign stops at the geometry)."""
    if not model_set:
        return []
    return [
        dl1_to_dl2_command(
            entry["dl1"],
            str(Path(entry["dl1"]).parents[1] / "dl2" / dl2_name(entry["dl1"])),
            model_set,
            dl2_config,
        )
        for entry in dl1_files(plans)
    ]


def model_set_param(value: str | None) -> str | None:
    """The model set a run asks for: ``None`` for ``none`` (stop at the geometry), ``latest``
    when empty, else the id or directory given."""
    value = (value or "").strip()
    if value.lower() == NO_MODEL_SET:
        return None
    return value or "latest"


# --- model training


def training_kinds(kinds: Iterable[str]) -> list[str]:
    """The requested kinds in training order; ``event-type`` needs ``disp`` with it."""
    chosen = [k for k in MODEL_KINDS if k in {str(x).replace("_", "-") for x in kinds}]
    unknown = sorted({str(x).replace("_", "-") for x in kinds} - set(MODEL_KINDS))
    if unknown or not chosen:
        raise CampaignError(
            f"model kinds {sorted(map(str, kinds))}: choose among {', '.join(MODEL_KINDS)}"
        )
    if "event-type" in chosen and "disp" not in chosen:
        raise CampaignError("the event-type model is trained on the disp models: add disp")
    return chosen


def training_inputs(products: Iterable[Mapping[str, Any]], what: str) -> dict[str, list[str]]:
    """The DL1 products of a training (``{"path", "particle"}``) grouped by particle; gammas
    and protons are both needed."""
    files = [{"path": str(p["path"]), "particle": str(p.get("particle") or "")} for p in products]
    groups = by_particle([f for f in files if f["particle"] in TRAINING_PARTICLES], "path")
    missing = [p for p in TRAINING_PARTICLES if not groups.get(p)]
    if missing:
        raise CampaignError(
            f"{what}: no simulated {' nor '.join(missing)} DL1 products to train on "
            f"({len(files)} products found)"
        )
    return groups


def plan_model_training(
    inputs: Mapping[str, list[str]],
    version_dir: str | os.PathLike[str],
    kinds: Iterable[str],
    preset: str,
) -> dict[str, list[dict[str, Any]]]:
    """The stage commands of a model training, each a list (one mapped task per element)::

        merge              one per particle: <version>/merged/<particle>.dl1.h5
        geometry           one per particle: <version>/merged/<particle>.geometry.dl2.h5
        train              one per base kind (energy, gammaness, disp): <version>/parts/<kind>/
        assemble_base      the base kinds' parts as one set, when event-type is trained
        train_event_type   event-type on that base set (zero or one element)
        assemble           every part as one immutable model set, registered (one element)

    Every step may be retried: outputs are replaced (``--overwrite``) or, being content
    addressed, kept (``--exist-ok``: same seed and data give the same model files and id).
    """
    version_dir = Path(version_dir)
    chosen = training_kinds(kinds)
    merged = version_dir / "merged"
    plan: dict[str, list[dict[str, Any]]] = {"merge": [], "geometry": []}
    geometry = {}
    for particle in TRAINING_PARTICLES:
        dl1 = str(merged / f"{particle}.dl1.h5")
        geometry[particle] = str(merged / f"{particle}.geometry.dl2.h5")
        plan["merge"].append(merge_command(inputs[particle], dl1))
        plan["geometry"].append(dl1_to_dl2_command(dl1, geometry[particle]))
    data = [arg for particle in TRAINING_PARTICLES for arg in ("--input", geometry[particle])]
    parts = version_dir / "parts"

    def train(kind: str, *extra: str) -> dict[str, Any]:
        out = parts / kind
        command = ["train", kind, *data, "--config", preset, "--output", str(out)]
        return stage_command([*command, *extra, "--no-register", "--exist-ok"])

    base = [k for k in chosen if k in BASE_KINDS]
    plan["train"] = [train(kind) for kind in base]
    plan["assemble_base"], plan["train_event_type"] = [], []
    if "event-type" in chosen:
        base_dir = str(parts / "base")
        assemble = ["model-set", "assemble", *(str(parts / k) for k in base), "-o", base_dir]
        plan["assemble_base"] = [stage_command([*assemble, "--no-register", "--exist-ok"])]
        plan["train_event_type"] = [train("event-type", "--base-model-set", base_dir)]
    final = ["model-set", "assemble", *(str(parts / k) for k in chosen), "--exist-ok"]
    plan["assemble"] = [stage_command(final)]
    return plan


def model_benchmark_command(model_set_id: str, output_dir: str) -> dict[str, Any]:
    """The benchmark of a freshly trained model set: its card (``datapipe model-set show``,
    CV metrics of every model); the place where ``datapipe benchmark models`` goes."""
    return stage_command(["model-set", "show", model_set_id], [])


def check_model_card(card: Mapping[str, Any], kinds: Iterable[str]) -> list[str]:
    """Lines describing a model set's card; :class:`CampaignError` if a trained kind has no
    model or a CV metric is not a finite number."""
    import math

    lines = [f"model set {card.get('id')}: kinds {', '.join(card.get('kinds', []))}"]
    wanted = [k.replace("-", "_") for k in kinds]
    missing = [k for k in wanted if k not in card.get("kinds", [])]
    if missing:
        raise CampaignError(f"model set {card.get('id')} lacks the kind(s) {', '.join(missing)}")
    metrics = card.get("cv_metrics") or {}
    bad = [k for k, v in metrics.items() if not isinstance(v, int | float) or not math.isfinite(v)]
    if not metrics or bad:
        raise CampaignError(
            f"model set {card.get('id')}: cross-validation metrics missing or not finite "
            f"({', '.join(bad) or 'none recorded'})"
        )
    lines += [f"  {name}: {value:.4g}" for name, value in sorted(metrics.items())]
    return lines


# --- IRFs


def node_name(dataset: str) -> str:
    """The node directory of an IRF production: its dataset's last path component."""
    return checked_name(PurePosixPath(str(dataset)).name, "IRF dataset")


def irf_component(particle_of: Mapping[str, str], particle: str, dataset: str) -> str | None:
    """The component of a production whose events stand for ``particle`` in its IRFs: for gammas
    ``gamma_point`` when there is one (point-like IRFs), else the only gamma component; for the
    background its one component. Gammas and protons are required."""
    names = sorted(c for c, p in particle_of.items() if p == particle)
    if particle == "gamma" and "gamma_point" in names:
        return "gamma_point"
    if len(names) > 1:
        raise CampaignError(
            f"IRF production {dataset}: several {particle} components ({', '.join(names)}); "
            "the IRFs take one"
        )
    if not names and particle in ("gamma", "proton"):
        raise CampaignError(
            f"IRF production {dataset}: gammas and protons are needed "
            f"(has {', '.join(sorted(set(particle_of.values()))) or 'no DL0 file'})"
        )
    return names[0] if names else None


def plan_irf(
    summaries: Iterable[Mapping[str, Any]],
    version_dir: str | os.PathLike[str],
    campaign: str,
    model_set: str,
    dl1_config: str | None = None,
    dl2_config: str | None = None,
    irf_config: str | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """The IRF branch of a simulation campaign, from the BDMS summaries of its zenith
    productions (one per node; the first is the reference node the cuts are optimised on)::

        <version>/irf/<node>/dl1/<run>.dl1.h5, <version>/irf/<node>/dl2/<run>.dl2.h5
        <version>/irf/<node>/merged/<component>.dl2.h5   (gamma_point, gamma_diffuse, proton…)
        <version>/irf/cuts.fits
        <version>/irf/<node>/irf.fits.gz, <version>/irf/<node>/sensitivity.fits

    Keys: ``register_inputs`` (one), ``dl0_to_dl1`` and ``dl1_to_dl2`` (one per file),
    ``merge`` (per node and simulated component: IRFs take runs of one production, see
    :func:`irf_component`), ``optimize_cuts`` (one), ``compute_irf`` and
    ``sensitivity`` (per node), ``irf_set`` (one; ``irf-set create``).
    """
    if not model_set:
        raise CampaignError(
            "the IRF branch needs a model set (the cuts select on gammaness): "
            "give model_set, or train one first"
        )
    summaries = list(summaries)
    if not summaries:
        raise CampaignError("the IRF branch has no production")
    root = Path(version_dir) / "irf"
    config = ["--config", irf_config] if irf_config else []
    plan: dict[str, list[dict[str, Any]]] = {
        key: [] for key in ("dl0_to_dl1", "dl1_to_dl2", "merge", "compute_irf", "sensitivity")
    }
    dl1_plans, nodes, cuts = [], [], str(root / "cuts.fits")
    for summary in summaries:
        node = root / node_name(summary["dataset"])
        components: dict[str, list[str]] = {}
        particle_of: dict[str, str] = {}
        for entry in dl0_files(summary["files"]):
            dl1 = str(node / "dl1" / dl1_name(entry["name"]))
            one = dl1_plan(
                entry, dl1, campaign, coefficients_beside(entry, summary["files"]), dl1_config
            )
            dl1_plans.append(one)
            plan["dl0_to_dl1"].append(one["dl0_to_dl1"])
            dl2 = str(node / "dl2" / dl2_name(dl1))
            plan["dl1_to_dl2"].append(dl1_to_dl2_command(dl1, dl2, model_set, dl2_config))
            meta = entry.get("meta") or {}
            particle = str(meta.get("particle") or "unknown")
            component = checked_name(str(meta.get("component") or particle), "component")
            particle_of[component] = particle
            components.setdefault(component, []).append(dl2)
        merged = {}
        for component, paths in sorted(components.items()):
            merged[component] = str(node / "merged" / f"{component}.dl2.h5")
            plan["merge"].append(merge_command(paths, merged[component]))
        files = []
        for particle in IRF_PARTICLES:
            chosen = irf_component(particle_of, particle, summary["dataset"])
            if chosen is not None:
                files += [f"--{particle}s", merged[chosen]]
        nodes.append((node, files))
    reference = nodes[0][1]
    plan["optimize_cuts"] = [
        stage_command(["optimize-cuts", *reference, "-o", cuts, *config, "--overwrite"], [cuts])
    ]
    irfs = []
    for node, files in nodes:
        irf, sensitivity = str(node / "irf.fits.gz"), str(node / "sensitivity.fits")
        irfs.append(irf)
        common = [*files, "--cuts", cuts, *config, "--overwrite"]
        plan["compute_irf"].append(stage_command(["compute-irf", *common, "-o", irf], [irf]))
        plan["sensitivity"].append(
            stage_command(["sensitivity", *common, "-o", sensitivity], [sensitivity])
        )
    create = ["irf-set", "create", *(a for irf in irfs for a in ("--irf", irf))]
    plan["irf_set"] = [
        stage_command([*create, "--cuts", cuts, "--campaign", campaign, "--overwrite"])
    ]
    plan["register_inputs"] = [register_inputs_command(dl1_plans, campaign, "simulation")]
    return plan
