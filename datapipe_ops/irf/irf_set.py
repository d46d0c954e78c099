"""IRF sets: the IRFs of several zenith productions of one model set and cuts, as one object.

An IRF set is a directory ``<data root>/irf_sets/<id>/`` holding ``irf_set.json``: the model
set, the cuts product (path and sha256), and one node per zenith angle (the ``compute-irf``
product's path, zenith and sha256). The node IRFs stay where ``compute-irf`` wrote them (they
are catalog products of their own); the set names them and their checksums, so a node changed
after the set was made is refused when the set is resolved.

The id is the first 16 hex digits of the sha256 of the canonical JSON of the set's content (model
set, cuts checksum, node checksums and zeniths): the same IRFs give the same id, and an existing
set is never silently replaced. The set is registered in the catalog as an ``IRF`` product of kind
``irf_set`` (path: its ``irf_set.json``) with lineage to every node IRF and to the cuts.

:func:`create_irf_set` checks that the nodes share model set, cuts and event types and are at
distinct zenith angles; a one-node set may be created, but interpolating needs two zeniths
(:func:`datapipe_ops.irf.interpolation.read_nodes`). :func:`resolve_irf_set` finds a set by id,
unique id prefix, directory, ``irf_set.json`` path or ``latest`` (the last registered).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datapipe_ops.checksum import sha256_file
from datapipe_ops.errors import CatalogError, InputFileError
from datapipe_ops.io.outputs import absolute_path, check_writable_directory
from datapipe_ops.irf.interpolation import check_same_set, read_node
from datapipe_ops.irf.products import model_set_of
from datapipe_ops.settings import data_root

MANIFEST = "irf_set.json"
FORMAT_VERSION = 1
CATALOG_KIND = "irf_set"


def irf_sets_root() -> Path:
    """Default directory of IRF sets: ``<data root>/irf_sets``."""
    return data_root() / "irf_sets"


@dataclass(frozen=True)
class IRFNode:
    """One node of an IRF set: the IRF product at one zenith angle."""

    zenith_deg: float
    path: Path


@dataclass(frozen=True)
class IRFSet:
    """A resolved IRF set."""

    id: str
    directory: Path
    model_set_id: str | None
    cuts: Path
    nodes: list[IRFNode]

    @property
    def manifest(self) -> Path:
        """The set's ``irf_set.json``."""
        return self.directory / MANIFEST

    @property
    def zeniths(self) -> list[float]:
        """The node zenith angles [deg], ascending."""
        return [node.zenith_deg for node in self.nodes]

    @property
    def irf_paths(self) -> list[Path]:
        """The node IRF products."""
        return [node.path for node in self.nodes]


def _canonical(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


def irf_set_id(manifest: dict[str, Any]) -> str:
    """The id of a manifest: sha256 of the canonical JSON of its content, 16 hex digits.

    Paths are left out: the same IRFs copied elsewhere are the same set."""
    content = {
        "format_version": manifest["format_version"],
        "model_set_id": manifest["model_set_id"],
        "event_types": manifest["event_types"],
        "cuts": manifest["cuts"]["sha256"],
        "nodes": [[n["zenith_deg"], n["sha256"]] for n in manifest["nodes"]],
    }
    return hashlib.sha256(_canonical(content)).hexdigest()[:16]


def find_cuts(node_path: Path, cuts_sha256: str, catalog_url: str | None = None) -> Path:
    """The cuts product a node IRF was computed with: the catalog's input of the node with that
    checksum, else the file the node header names (``CUTSFILE``) next to the node."""
    try:
        from datapipe_ops.catalog import Catalog

        with Catalog(catalog_url) as catalog:
            if catalog.find_product(absolute_path(node_path)) is not None:
                tree = catalog.lineage(absolute_path(node_path), depth=1)
                for parent in tree.inputs:
                    if parent.product.sha256 == cuts_sha256:
                        return Path(parent.product.path)
    except CatalogError:
        pass
    name = read_node(node_path).header.get("CUTSFILE")
    if name:
        candidate = node_path.parent / str(name)
        if candidate.is_file() and sha256_file(candidate) == cuts_sha256:
            return absolute_path(candidate)
    raise InputFileError(
        f"the cuts product it was computed with (sha256 {cuts_sha256[:12]}…) is neither in the "
        "catalog nor next to it; give it with --cuts",
        path=node_path,
    )


def build_manifest(
    irf_paths: Sequence[str | Path],
    cuts: str | Path | None = None,
    catalog_url: str | None = None,
) -> dict[str, Any]:
    """The manifest of the set of ``irf_paths``, its nodes checked to belong together."""
    nodes = check_same_set([read_node(path) for path in irf_paths])
    first = nodes[0]
    cuts_sha = first.header.get("CUTSSHA")
    if not cuts_sha:
        raise InputFileError("IRF product records no cuts (CUTSSHA)", path=first.path)
    if cuts is None:
        cuts_path = find_cuts(first.path, cuts_sha, catalog_url)
    else:
        cuts_path = absolute_path(cuts)
        if not cuts_path.is_file():
            raise InputFileError("cuts product does not exist", path=cuts_path)
        if sha256_file(cuts_path) != cuts_sha:
            raise InputFileError(
                f"is not the cuts product the IRFs were computed with ({first.path.name})",
                path=cuts_path,
            )
    manifest = {
        "format_version": FORMAT_VERSION,
        "model_set_id": model_set_of(first.header),
        "event_types": str(first.header.get("EVTYPES", "")),
        "cuts": {"path": str(cuts_path), "sha256": cuts_sha},
        "nodes": [
            {
                "zenith_deg": round(node.zenith_deg, 6),
                "path": str(absolute_path(node.path)),
                "sha256": sha256_file(node.path),
            }
            for node in sorted(nodes, key=lambda n: n.zenith_deg)
        ],
    }
    manifest["id"] = irf_set_id(manifest)
    return manifest


def _from_manifest(directory: Path, manifest: dict[str, Any]) -> IRFSet:
    return IRFSet(
        id=manifest["id"],
        directory=directory,
        model_set_id=manifest["model_set_id"],
        cuts=Path(manifest["cuts"]["path"]),
        nodes=[IRFNode(float(n["zenith_deg"]), Path(n["path"])) for n in manifest["nodes"]],
    )


def create_irf_set(
    irf_paths: Sequence[Path],
    output_root: Path | None = None,
    catalog_url: str | None = None,
    *,
    cuts: Path | None = None,
    overwrite: bool = False,
    register: bool = True,
    campaign: str | None = None,
) -> IRFSet:
    """Write the IRF set of ``irf_paths`` under ``output_root`` (default
    ``<data root>/irf_sets``) and register it; returns it.

    Raises
    ------
    InputFileError
        A node is not an IRF product, the nodes differ in model set, cuts or event types, two
        are at the same zenith, or the cuts product cannot be found.
    CatalogError
        The set exists already (same IRFs, same id) and ``overwrite`` is false.
    """
    manifest = build_manifest(irf_paths, cuts, catalog_url)
    root = absolute_path(output_root or irf_sets_root())
    check_writable_directory(root, root)
    final = root / manifest["id"]
    if (final / MANIFEST).exists() and not overwrite:
        raise CatalogError(
            "IRF set already exists (same IRFs, same id); give --overwrite to write it again",
            path=final,
        )
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".{manifest['id']}.{os.getpid()}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir()
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        if final.exists():
            shutil.rmtree(final)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    irf_set = _from_manifest(final, manifest)
    if register:
        try:
            register_irf_set(irf_set, catalog_url, campaign=campaign)
        except BaseException:
            shutil.rmtree(final, ignore_errors=True)  # nothing left behind that is not registered
            raise
    return irf_set


def register_irf_set(
    irf_set: IRFSet, catalog_url: str | None = None, campaign: str | None = None
) -> int:
    """Register the set's manifest (level IRF, kind irf_set) with lineage to its node IRFs and
    its cuts (registered first if the catalog does not know them); returns the product id."""
    from datapipe_ops.catalog import Catalog, ProductRecord

    inputs = {irf_set.cuts: "cuts", **{n.path: "irf" for n in irf_set.nodes}}
    with Catalog(catalog_url) as catalog:
        for path, kind in inputs.items():
            if catalog.find_product(path) is None:
                catalog.register_product(ProductRecord.from_file(path, level="IRF", kind=kind))
        record = ProductRecord.from_file(
            irf_set.manifest, level="IRF", kind=CATALOG_KIND, campaign=campaign
        )
        return catalog.register_product(record, inputs=list(inputs))


def read_irf_set(directory: str | Path, verify: bool = True) -> IRFSet:
    """The IRF set in ``directory``; with ``verify`` every node and the cuts are checked to be
    the files the set was made of (same sha256)."""
    directory = Path(directory)
    path = directory / MANIFEST
    if not path.is_file():
        raise InputFileError(f"not an IRF set (no {MANIFEST})", path=directory)
    try:
        manifest = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InputFileError(f"unreadable IRF set: {exc}", path=path) from None
    if manifest.get("format_version") != FORMAT_VERSION:
        raise InputFileError(
            f"IRF set format {manifest.get('format_version')} is not readable "
            f"(reads {FORMAT_VERSION})",
            path=path,
        )
    if irf_set_id(manifest) != manifest.get("id"):
        raise InputFileError("IRF set manifest does not match its id (edited?)", path=path)
    if verify:
        for entry in [manifest["cuts"], *manifest["nodes"]]:
            member = Path(entry["path"])
            if not member.is_file() or sha256_file(member) != entry["sha256"]:
                raise InputFileError(
                    f"IRF set {manifest['id']} member missing or changed since the set was made",
                    path=member,
                )
    return _from_manifest(directory, manifest)


def list_irf_sets(catalog_url: str | None = None) -> list[dict[str, Any]]:
    """The registered IRF sets, oldest first: id, path, model set, zeniths, created, product id."""
    from datapipe_ops.catalog import Catalog, ProductQuery

    out = []
    with Catalog(catalog_url) as catalog:
        for product in catalog.list_products(ProductQuery(level="IRF", kind=CATALOG_KIND)):
            path = Path(product.path)
            manifest: dict[str, Any] = {}
            if path.is_file():
                manifest = json.loads(path.read_text())
            out.append(
                {
                    "id": path.parent.name,
                    "path": str(path.parent),
                    "model_set_id": manifest.get("model_set_id"),
                    "zeniths": [n["zenith_deg"] for n in manifest.get("nodes", [])],
                    "campaign": product.campaign,
                    "created_at": product.created_at,
                    "product_id": product.id,
                }
            )
    return out


def resolve_irf_set(ref: str, catalog_url: str | None = None) -> IRFSet:
    """The IRF set ``ref`` names: a set directory, its ``irf_set.json``, a registered id, a
    unique id prefix, or ``latest`` (the most recently registered set)."""
    path = Path(ref)
    if (path / MANIFEST).is_file():
        return read_irf_set(path)
    if path.name == MANIFEST and path.is_file():
        return read_irf_set(path.parent)
    sets = list_irf_sets(catalog_url)
    if str(ref) == "latest" and sets:
        return read_irf_set(sets[-1]["path"])
    matches = {s["id"]: s for s in sets if s["id"].startswith(str(ref))} if ref else {}
    if len(matches) == 1:
        return read_irf_set(next(iter(matches.values()))["path"])
    problem = "is ambiguous (several IRF sets)" if matches else "no such IRF set"
    raise InputFileError(f"{problem}: neither an IRF-set directory nor a registered id", path=ref)
