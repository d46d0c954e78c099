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
