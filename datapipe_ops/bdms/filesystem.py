"""The embedded BDMS: datasets are directories with a ``MANIFEST.json`` under a root directory.

The manifest format and its checks live in :mod:`datapipe_ops.bdms.manifest`; this module
answers the :class:`~datapipe_ops.bdms.backend.BDMSBackend` questions over it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from datapipe_ops.bdms.backend import (
    BDMSAccessError,
    BDMSBackend,
    DatasetFile,
    DatasetStatus,
    DeliveryFile,
)
from datapipe_ops.bdms.manifest import (
    MANIFEST_NAME,
    Manifest,
    add_to_manifest,
    check_file,
    read_manifest,
    start_manifest,
    write_manifest,
)
from datapipe_ops.checksum import sha256_file
from datapipe_ops.errors import DataPipeError


class FilesystemBDMS(BDMSBackend):
    """Datasets are directories with a ``MANIFEST.json`` under ``root``.

    A dataset name is a path relative to ``root`` (or an absolute directory). A directory without
    a manifest whose subdirectories are datasets is a **container** (as in Rucio): a night's
    observation blocks, one dataset each. A container is complete when it has at least one
    member and every member is complete; its files are its members' files, named
    ``<member>/<file>``. Checksums of files already verified are cached by (path, size, mtime),
    so a sensor polling a large dataset hashes each file once.
    """

    name = "filesystem"

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self._verified: dict[tuple[str, int, int], str] = {}

    def __repr__(self) -> str:
        return f"FilesystemBDMS({str(self.root)!r})"

    def locate(self, dataset: str) -> str:
        path = Path(dataset)
        return str(path if path.is_absolute() else self.root / path)

    def _manifest(self, dataset: str) -> tuple[Manifest | None, str | None]:
        """The manifest, or ``(None, problem)``."""
        directory = Path(self.locate(dataset))
        if not (directory / MANIFEST_NAME).exists():
            return None, None
        try:
            return read_manifest(directory), None
        except DataPipeError as exc:
            return None, str(exc)

    def _file_records(self, dataset: str, manifest: Manifest) -> list[DatasetFile]:
        directory = Path(self.locate(dataset))
        return [
            DatasetFile(
                name=entry.name,
                path=str(directory / entry.name),
                size=entry.size,
                checksums={"sha256": entry.sha256},
                n_events=entry.n_events,
                level=entry.level,
                meta=dict(entry.meta),
                did=self.did_of(dataset, entry.name),
            )
            for entry in manifest.files
        ]

    def members(self, dataset: str) -> list[str]:
        """The member datasets of a container (empty for a plain dataset or nothing)."""
        directory = Path(self.locate(dataset))
        if (directory / MANIFEST_NAME).exists() or not directory.is_dir():
            return []
        return sorted(
            child.name
            for child in directory.iterdir()
            if child.is_dir() and (child / MANIFEST_NAME).exists()
        )

    def _container_status(
        self, dataset: str, members: list[str], verify_checksums: bool
    ) -> DatasetStatus:
        statuses = [self.status(f"{dataset}/{m}", verify_checksums) for m in members]
        pairs = list(zip(members, statuses, strict=True))
        files = [replace(f, name=f"{m}/{f.name}") for m, st in pairs for f in st.files]
        problems = [f"{m}: {p}" for m, st in pairs for p in st.problems]
        expected = [st.n_files_expected for st in statuses]
        kinds = {st.kind for st in statuses}
        return DatasetStatus(
            dataset=dataset,
            location=self.locate(dataset),
            exists=True,
            complete=all(st.complete for st in statuses),
            files=tuple(files),
            n_files_expected=None if None in expected else sum(expected),
            problems=tuple(problems),
            kind=kinds.pop() if len(kinds) == 1 else None,
        )

    def status(self, dataset: str, verify_checksums: bool = True) -> DatasetStatus:
        location = self.locate(dataset)
        members = self.members(dataset)
        if members:
            return self._container_status(dataset, members, verify_checksums)
        manifest, problem = self._manifest(dataset)
        if manifest is None:
            exists = Path(location).is_dir() and problem is not None
            problems = (problem,) if problem else (f"no {MANIFEST_NAME} yet",)
            return DatasetStatus(dataset, location, exists, False, problems=problems)
        complete = manifest.complete
        checksums = verify_checksums and complete
        problems = [
            p for e in manifest.files if (p := check_file(location, e, checksums, self._verified))
        ]
        expected = manifest.n_files_expected
        if complete and expected is not None and len(manifest.files) != expected:
            problems.append(
                f"manifest complete with {len(manifest.files)} file(s) but expects {expected}"
            )
        return DatasetStatus(
            dataset=dataset,
            location=location,
            exists=True,
            complete=complete,
            files=tuple(self._file_records(dataset, manifest)),
            n_files_expected=expected,
            problems=tuple(problems),
            kind=manifest.kind,
        )

    def files(self, dataset: str) -> list[DatasetFile]:
        members = self.members(dataset)
        if members:
            return list(self._container_status(dataset, members, False).files)
        manifest, _ = self._manifest(dataset)
        return [] if manifest is None else self._file_records(dataset, manifest)

    def deliver(
        self, dataset: str, files: Sequence[DeliveryFile], close: bool = False
    ) -> dict[str, str]:
        """Hard-link (or copy) ``files`` into the dataset directory and list them in its
        manifest; a name already there with other content is refused."""
        directory = Path(self.locate(dataset))
        if not (directory / MANIFEST_NAME).exists():
            start_manifest(directory, Path(dataset).name, "processed", None)
        dids = {}
        for item in files:
            target = directory / item.name
            if target.exists():
                if sha256_file(target) != sha256_file(item.path):
                    raise BDMSAccessError(
                        f"{self.did_of(dataset, item.name)} already holds a different file; "
                        "products are never overwritten",
                        path=item.path,
                    )
            else:
                _place(Path(item.path), target)
            add_to_manifest(
                directory, target, item.level, item.n_events, dict(item.meta), complete=False
            )
            dids[item.path] = self.did_of(dataset, item.name)
        if close:
            manifest = read_manifest(directory)
            write_manifest(directory, manifest.model_copy(update={"complete": True}))
        return dids


def _place(source: Path, target: Path) -> None:
    """Hard-link ``source`` at ``target`` (a copy across filesystems), atomically."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    partial.unlink(missing_ok=True)
    try:
        os.link(source, partial)
    except OSError:
        shutil.copy2(source, partial)
    os.replace(partial, target)
