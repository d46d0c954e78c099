"""Delivery of a night's DL3 products to the outbox (the science-user archive's stand-in).

:func:`deliver` copies chosen DL3 event lists of one DL3 directory into an outbox directory,
with the two index files reduced to the delivered observations (so that gammapy's
``DataStore.from_dir`` on the outbox finds every file it lists) and a ``MANIFEST.json``
naming every delivered file with its sha256 and size::

    <outbox>/MANIFEST.json
    <outbox>/hdu-index.fits.gz, obs-index.fits.gz
    <outbox>/<observation>.dl3.fits.gz ...

The delivery is atomic: everything is written into a hidden sibling directory which is renamed
into place when complete (an existing delivery is replaced only with ``overwrite``, in two
renames). The manifest is registered in the catalog as a ``DL3`` product of kind ``delivery``
with lineage to every delivered event list (and to the model set and IRF set when given), so
the catalog tells what was delivered, when, and from what.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits

from datapipe_ops.checksum import sha256_file
from datapipe_ops.dl3 import index
from datapipe_ops.errors import InputFileError, OutputError
from datapipe_ops.io.fits import write_fits
from datapipe_ops.io.outputs import absolute_path, check_writable_directory, same_file

MANIFEST_NAME = "MANIFEST.json"
FORMAT_VERSION = 1
CATALOG_KIND = "delivery"


@dataclass
class DeliverySummary:
    """What a delivery wrote."""

    directory: Path
    manifest: Path
    obs_ids: list[int]
    files: list[dict[str, Any]] = field(default_factory=list)
    product_id: int | None = None


def event_list_obs_id(path: Path) -> int:
    """The OBS_ID of a DL3 event list (its EVENTS header); refuses anything else."""
    if not path.is_file():
        raise InputFileError("no such file", path=path)
    try:
        with fits.open(path) as hdul:
            if hdul[0].header.get("DPKIND") != "DL3" or "EVENTS" not in hdul:
                raise InputFileError("is not a DL3 event list (no DPKIND=DL3, EVENTS)", path=path)
            return int(hdul["EVENTS"].header["OBS_ID"])
    except (OSError, KeyError, ValueError) as exc:
        raise InputFileError(f"unreadable DL3 file: {exc}", path=path) from None


def check_inputs(event_lists: Sequence[Path]) -> tuple[Path, dict[Path, int]]:
    """The one DL3 directory holding ``event_lists`` and each file's OBS_ID, checked: the files
    are DL3 event lists of distinct observations, indexed under their own names."""
    if not event_lists:
        raise InputFileError("nothing to deliver (no DL3 event list given)")
    directories = {p.parent for p in event_lists}
    if len(directories) != 1:
        raise InputFileError(
            "the event lists are in several directories; a delivery is one DL3 directory",
            path=event_lists[0],
        )
    (directory,) = directories
    obs_ids = {path: event_list_obs_id(path) for path in event_lists}
    if len(set(obs_ids.values())) != len(obs_ids):
        raise InputFileError("two event lists of the same observation", path=directory)
    hdu_index = index.read_index(directory / index.HDU_INDEX)
    if hdu_index is None or index.read_index(directory / index.OBS_INDEX) is None:
        raise InputFileError("the DL3 directory has no index files", path=directory)
    indexed = {
        (int(o), str(f)) for o, f in zip(hdu_index["OBS_ID"], hdu_index["FILE_NAME"], strict=True)
    }
    for path, obs_id in obs_ids.items():
        if (obs_id, path.name) not in indexed:
            raise InputFileError(
                f"observation {obs_id} is not indexed under this name in {index.HDU_INDEX}",
                path=path,
            )
    return directory, obs_ids


def check_destination(output: Path, source_dir: Path, overwrite: bool) -> Path:
    """The outbox directory, absolute: not the DL3 directory itself, not an existing delivery
    unless ``overwrite``, its parent writable."""
    output = absolute_path(output)
    if same_file(output, source_dir) or source_dir in output.parents:
        raise OutputError("is the DL3 directory (or inside it); deliver elsewhere", path=output)
    if output.exists() and not output.is_dir():
        raise OutputError("is a file, not a delivery directory", path=output)
    if output.exists() and not overwrite:
        raise OutputError("exists; give --overwrite to replace the delivery", path=output)
    check_writable_directory(output.parent, output)
    return output


def write_reduced_index(source: Path, target: Path, obs_ids: Sequence[int]) -> None:
    """The index file ``source`` with only the rows of ``obs_ids``, its headers kept."""
    with fits.open(source) as hdul:
        table = hdul[1]
        keep = np.isin(np.asarray(table.data["OBS_ID"]), list(obs_ids))
        reduced = fits.BinTableHDU(data=table.data[keep], header=table.header, name=table.name)
        write_fits([fits.PrimaryHDU(header=hdul[0].header), reduced], target)


def file_entry(path: Path, obs_id: int | None) -> dict[str, Any]:
    """The manifest entry of a delivered file."""
    entry: dict[str, Any] = {
        "name": path.name,
        "sha256": sha256_file(path),
        "size": path.stat().st_size,
    }
    if obs_id is not None:
        entry["obs_id"] = obs_id
    return entry


def _swap_in(staging: Path, output: Path) -> None:
    """Rename the complete ``staging`` directory to ``output`` (replacing an old delivery)."""
    old = output.with_name(f".{output.name}.old-{os.getpid()}")
    if output.exists():
        os.replace(output, old)
    try:
        os.replace(staging, output)
    except BaseException:
        if old.exists():
            os.replace(old, output)
        raise
    shutil.rmtree(old, ignore_errors=True)


def deliver(
    event_lists: Sequence[str | Path],
    output: str | Path,
    *,
    metadata: Mapping[str, Any] | None = None,
    lineage_extra: Sequence[str | Path] = (),
    overwrite: bool = False,
    register: bool = True,
    catalog_url: str | None = None,
    campaign: str | None = None,
) -> DeliverySummary:
    """Deliver ``event_lists`` (DL3 files of one directory) into the directory ``output``.

    ``metadata`` goes into the manifest as it is (campaign, version, night, model set, IRF
    set...). ``lineage_extra`` are catalog products (the model set's card, the IRF set's
    ``irf_set.json``) the registered delivery also descends from.
    """
    paths = [absolute_path(p) for p in event_lists]
    source_dir, obs_ids = check_inputs(paths)
    output = check_destination(Path(output), source_dir, overwrite)
    delivered = sorted(obs_ids.values())
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = output.with_name(f".{output.name}.partial-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        files = []
        for path in sorted(paths, key=lambda p: obs_ids[p]):
            shutil.copy2(path, staging / path.name)
            files.append(file_entry(staging / path.name, obs_ids[path]))
        with index.index_lock(source_dir):  # a consistent pair, not one being rewritten
            for name in (index.HDU_INDEX, index.OBS_INDEX):
                write_reduced_index(source_dir / name, staging / name, delivered)
        files += [file_entry(staging / name, None) for name in (index.HDU_INDEX, index.OBS_INDEX)]
        manifest = {
            "format_version": FORMAT_VERSION,
            **dict(metadata or {}),
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "source": str(source_dir),
            "obs_ids": delivered,
            "files": files,
        }
        (staging / MANIFEST_NAME).write_text(json.dumps(manifest, indent=1) + "\n")
        _swap_in(staging, output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    summary = DeliverySummary(output, output / MANIFEST_NAME, delivered, files)
    if register:
        summary.product_id = register_delivery(
            summary, paths, [Path(p) for p in lineage_extra], catalog_url, campaign
        )
    return summary


def register_delivery(
    summary: DeliverySummary,
    event_lists: Sequence[Path],
    extra: Sequence[Path],
    catalog_url: str | None,
    campaign: str | None,
) -> int:
    """The delivery's manifest in the catalog, with lineage to what it delivered."""
    from datapipe_ops.catalog import Catalog, ProductRecord

    with Catalog(catalog_url) as catalog:
        inputs = []
        for path in [*event_lists, *extra]:
            if catalog.find_product(path) is None:
                raise InputFileError("is not registered in the catalog", path=path)
            inputs.append(path)
        fields: dict[str, Any] = {"kind": CATALOG_KIND, "n_events": None}
        if campaign:
            catalog.ensure_campaign(campaign, "observation")
            fields["campaign"] = campaign
        record = ProductRecord.from_file(summary.manifest, level="DL3", **fields)
        return catalog.register_product(record, inputs=inputs)


def read_delivery(directory: str | Path) -> dict[str, Any]:
    """The manifest of a delivery directory."""
    path = Path(directory) / MANIFEST_NAME
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InputFileError(f"not a delivery manifest: {exc}", path=path) from None


def verify_delivery(directory: str | Path) -> list[str]:
    """Problems of a delivery directory: files missing or not matching the manifest."""
    directory = Path(directory)
    problems = []
    for entry in read_delivery(directory)["files"]:
        path = directory / entry["name"]
        if not path.is_file():
            problems.append(f"{entry['name']}: missing")
        elif sha256_file(path) != entry["sha256"]:
            problems.append(f"{entry['name']}: sha256 differs from the manifest")
    return problems
