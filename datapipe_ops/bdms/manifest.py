"""The embedded BDMS stand-in: a dataset is a directory with a ``MANIFEST.json``.

The manifest lists the files BDMS would deliver, with their checksums::

    {"schema_version": "1.0", "dataset": "demo", "kind": "simulation", "complete": false,
     "n_files_expected": 4,
     "files": [{"name": "gamma_run000101.dl0.h5", "sha256": "…", "size": 123,
                "n_events": 456, "level": "DL0", "meta": {…}}]}

It is rewritten atomically (temporary file + rename) after every file that lands, so a reader
polling the directory always sees a consistent manifest whose files are complete; ``complete``
turns true with the last file. ``n_files_expected`` counts every entry of ``files``.
:func:`verify_dataset` checks a dataset the way a consumer must before using it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from datapipe_ops.checksum import sha256_file
from datapipe_ops.errors import InputFileError

MANIFEST_NAME = "MANIFEST.json"
MANIFEST_SCHEMA_VERSION = "1.0"


class ManifestFile(BaseModel):
    """One file of a dataset."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="path relative to the dataset directory")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)
    n_events: int | None = Field(None, ge=0)
    level: str
    meta: dict[str, Any] = Field(default_factory=dict)


class Manifest(BaseModel):
    """The manifest of one dataset."""

    model_config = ConfigDict(extra="forbid")

    schema_version: Literal["1.0"] = MANIFEST_SCHEMA_VERSION
    dataset: str
    kind: Literal["simulation", "observation", "calibration", "processed"]
    complete: bool = False
    n_files_expected: int | None = Field(None, ge=0)
    files: list[ManifestFile] = Field(default_factory=list)

    def file(self, name: str) -> ManifestFile:
        """The entry called ``name``; KeyError if absent."""
        for entry in self.files:
            if entry.name == name:
                return entry
        raise KeyError(name)


def manifest_path(directory: str | Path) -> Path:
    """Where the manifest of the dataset in ``directory`` lives."""
    return Path(directory) / MANIFEST_NAME


def read_manifest(directory: str | Path) -> Manifest:
    """Read and validate a dataset's manifest (InputFileError naming the file otherwise)."""
    path = manifest_path(directory)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise InputFileError("dataset has no manifest", path=path) from None
    except json.JSONDecodeError as exc:
        raise InputFileError(f"manifest is not valid JSON (line {exc.lineno})", path=path) from None
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "<top level>"
        problem = f"invalid manifest: key '{where}': {error['msg']}"
        raise InputFileError(problem, path=path) from None


def write_manifest(directory: str | Path, manifest: Manifest) -> Path:
    """Write ``manifest`` atomically into ``directory``; returns its path."""
    path = manifest_path(directory)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
    tmp.write_text(json.dumps(manifest.model_dump(mode="json"), indent=1) + "\n")
    os.replace(tmp, path)
    return path


def start_manifest(
    directory: str | Path, dataset: str, kind: str, n_files_expected: int | None
) -> Manifest:
    """Create (or reset to empty) the manifest of a new dataset and write it."""
    manifest = Manifest(dataset=dataset, kind=kind, n_files_expected=n_files_expected)
    write_manifest(directory, manifest)
    return manifest


def add_to_manifest(
    directory: str | Path,
    file: str | Path,
    level: str,
    n_events: int | None = None,
    meta: dict[str, Any] | None = None,
    complete: bool | None = None,
) -> Manifest:
    """Add (or replace) the entry of ``file`` — which must already be complete on disk — with
    its size and sha256, and rewrite the manifest atomically.

    ``complete`` sets the flag explicitly; by default it turns true when the manifest lists
    ``n_files_expected`` files.
    """
    directory = Path(directory)
    manifest = read_manifest(directory)
    path = Path(file)
    full = path if path.is_absolute() else directory / path
    name = full.resolve().relative_to(directory.resolve()).as_posix()
    entry = ManifestFile(
        name=name,
        sha256=sha256_file(full),
        size=full.stat().st_size,
        n_events=n_events,
        level=level,
        meta=dict(meta or {}),
    )
    files = [f for f in manifest.files if f.name != name] + [entry]
    if complete is None:
        expected = manifest.n_files_expected
        complete = expected is not None and len(files) >= expected
    manifest = manifest.model_copy(update={"files": files, "complete": complete})
    write_manifest(directory, manifest)
    return manifest


def check_file(
    directory: str | Path,
    entry: ManifestFile,
    checksums: bool = True,
    verified: dict[tuple[str, int, int], str] | None = None,
) -> str | None:
    """The problem of one listed file (missing, wrong size, sha256 mismatch), or None.

    ``verified`` caches sha256 digests by (path, size, mtime) across calls, so that a reader
    polling a large dataset hashes each file once.
    """
    path = Path(directory) / entry.name
    try:
        stat = path.stat()
    except FileNotFoundError:
        return f"{entry.name}: listed in the manifest but missing"
    if stat.st_size != entry.size:
        return f"{entry.name}: size {stat.st_size} B, the manifest says {entry.size} B"
    if not checksums:
        return None
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    cache = {} if verified is None else verified
    digest = cache.get(key) or sha256_file(path)
    if digest != entry.sha256:
        return f"{entry.name}: sha256 mismatch (manifest {entry.sha256[:12]}…, file {digest[:12]}…)"
    cache[key] = digest
    return None


def manifest_problems(manifest: Manifest) -> list[str]:
    """What makes a manifest incomplete (not its files' state)."""
    problems: list[str] = []
    if not manifest.complete:
        problems.append(f"dataset '{manifest.dataset}' is not complete")
    expected = manifest.n_files_expected
    if expected is not None and len(manifest.files) != expected:
        problems.append(f"manifest lists {len(manifest.files)} file(s), expects {expected}")
    return problems


def verify_dataset(directory: str | Path, checksums: bool = True) -> list[str]:
    """Problems that make the dataset unusable (an empty list: complete and intact)."""
    try:
        manifest = read_manifest(directory)
    except InputFileError as exc:
        return [str(exc)]
    problems = manifest_problems(manifest)
    problems += [p for e in manifest.files if (p := check_file(directory, e, checksums))]
    return problems
