"""The BDMS (bulk data management system) as DataPipe's DAGs see it.

:class:`BDMSBackend` is the interface: where is a dataset, is it complete, do its files match
their checksums, which files does it hold. :class:`FilesystemBDMS` implements it over the
embedded stand-in (a dataset directory with a ``MANIFEST.json``, as ``datapipe simulate
production`` writes it; ``datapipe_ops.bdms.manifest`` reads it); a Rucio backend implements the
same four methods over Rucio's replica catalogue and registers itself in :data:`BACKENDS`.

:class:`BDMSHook` picks the backend from the Airflow connection ``bdms_default`` (extra
``{"backend": "filesystem", "root": "/data/bdms"}``), falling back to the filesystem under
``$DATAPIPE_DATA_ROOT/bdms``. Triggers run in the triggerer and receive the backend as a plain
:meth:`~BDMSBackend.spec` dict, not a connection.
"""

from __future__ import annotations

import abc
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

from airflow.sdk import BaseHook

from datapipe_ops.bdms.manifest import MANIFEST_NAME
from datapipe_ops.checksum import sha256_file


@dataclass(frozen=True)
class DatasetFile:
    """One file of a dataset as the BDMS lists it."""

    name: str
    path: str
    sha256: str
    size: int
    n_events: int | None = None
    level: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (XCom, trigger events)."""
        return asdict(self)


@dataclass(frozen=True)
class DatasetStatus:
    """Whether a dataset can be processed, and if not, what is missing."""

    dataset: str
    location: str
    exists: bool
    complete: bool
    files: tuple[DatasetFile, ...] = ()
    n_files_expected: int | None = None
    problems: tuple[str, ...] = ()
    kind: str | None = None

    @property
    def ready(self) -> bool:
        """Complete, and every file present with the size and sha256 the manifest gives."""
        return self.exists and self.complete and not self.problems

    def describe(self) -> str:
        """One line: what is there and what is missing."""
        if not self.exists:
            return f"dataset '{self.dataset}' not found at {self.location}"
        expected = f" of {self.n_files_expected}" if self.n_files_expected is not None else ""
        state = "complete" if self.complete else "not complete"
        text = f"dataset '{self.dataset}' at {self.location}: {len(self.files)}{expected} file(s), "
        text += f"manifest {state}"
        if self.problems:
            extra = len(self.problems) - 1
            more = f" (and {extra} more problem(s))" if extra else ""
            text += f"; {self.problems[0]}{more}"
        return text

    def summary(self) -> dict[str, Any]:
        """JSON-able form: what a sensor returns as its XCom value."""
        return {
            "dataset": self.dataset,
            "location": self.location,
            "kind": self.kind,
            "n_files": len(self.files),
            "files": [f.to_dict() for f in self.files],
        }


class BDMSBackend(abc.ABC):
    """What DataPipe needs from a bulk data management system."""

    #: The name under which :func:`backend_from_spec` finds this backend.
    name: ClassVar[str]

    @abc.abstractmethod
    def locate(self, dataset: str) -> str:
        """Where ``dataset`` lives (a directory, a Rucio DID scope:name, ...)."""

    @abc.abstractmethod
    def status(self, dataset: str, verify_checksums: bool = True) -> DatasetStatus:
        """The dataset's completeness and integrity now (never raises for missing data)."""

    @abc.abstractmethod
    def files(self, dataset: str) -> list[DatasetFile]:
        """The files the dataset holds now, with their local (or replica) paths."""

    @abc.abstractmethod
    def spec(self) -> dict[str, Any]:
        """A JSON-able description from which :func:`backend_from_spec` rebuilds the backend."""


class FilesystemBDMS(BDMSBackend):
    """The embedded BDMS: datasets are directories with a ``MANIFEST.json`` under ``root``.

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

    def spec(self) -> dict[str, Any]:
        return {"backend": self.name, "root": str(self.root)}

    def locate(self, dataset: str) -> str:
        path = Path(dataset)
        return str(path if path.is_absolute() else self.root / path)

    def _manifest(self, dataset: str) -> tuple[dict[str, Any] | None, str | None]:
        """The manifest as a dict, or ``(None, problem)``."""
        from datapipe_ops.bdms.manifest import read_manifest
        from datapipe_ops.errors import DataPipeError

        directory = Path(self.locate(dataset))
        if not (directory / MANIFEST_NAME).exists():
            return None, None
        try:
            manifest = read_manifest(directory)
        except DataPipeError as exc:
            return None, str(exc)
        return manifest.model_dump(mode="json"), None

    def _file_records(self, dataset: str, manifest: dict[str, Any]) -> list[DatasetFile]:
        directory = Path(self.locate(dataset))
        return [
            DatasetFile(
                name=entry["name"],
                path=str(directory / entry["name"]),
                sha256=str(entry["sha256"]).lower(),
                size=int(entry["size"]),
                n_events=entry.get("n_events"),
                level=entry.get("level"),
                meta=dict(entry.get("meta") or {}),
            )
            for entry in manifest.get("files", [])
        ]

    def _check(self, record: DatasetFile, verify_checksums: bool) -> str | None:
        path = Path(record.path)
        try:
            stat = path.stat()
        except FileNotFoundError:
            return f"{record.name}: listed in the manifest but missing"
        if stat.st_size != record.size:
            return f"{record.name}: size {stat.st_size} B, the manifest says {record.size} B"
        if not verify_checksums:
            return None
        key = (str(path), stat.st_size, stat.st_mtime_ns)
        digest = self._verified.get(key) or sha256_file(path)
        if digest != record.sha256:
            return (
                f"{record.name}: sha256 mismatch "
                f"(manifest {record.sha256[:12]}…, file {digest[:12]}…)"
            )
        self._verified[key] = digest
        return None

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
        records = self._file_records(dataset, manifest)
        complete = bool(manifest.get("complete"))
        expected = manifest.get("n_files_expected")
        problems = [p for r in records if (p := self._check(r, verify_checksums and complete))]
        if complete and expected is not None and len(records) != expected:
            problems.append(f"manifest complete with {len(records)} file(s) but expects {expected}")
        return DatasetStatus(
            dataset=dataset,
            location=location,
            exists=True,
            complete=complete,
            files=tuple(records),
            n_files_expected=expected,
            problems=tuple(problems),
            kind=manifest.get("kind"),
        )

    def files(self, dataset: str) -> list[DatasetFile]:
        members = self.members(dataset)
        if members:
            return list(self._container_status(dataset, members, False).files)
        manifest, _ = self._manifest(dataset)
        return [] if manifest is None else self._file_records(dataset, manifest)


#: Backends by name; a Rucio implementation adds itself here.
BACKENDS: dict[str, type[BDMSBackend]] = {FilesystemBDMS.name: FilesystemBDMS}


def backend_from_spec(spec: dict[str, Any]) -> BDMSBackend:
    """Rebuild a backend from its :meth:`~BDMSBackend.spec` (in the triggerer)."""
    options = dict(spec)
    name = options.pop("backend", FilesystemBDMS.name)
    try:
        cls = BACKENDS[name]
    except KeyError:
        raise ValueError(
            f"unknown BDMS backend '{name}' (known: {', '.join(sorted(BACKENDS))})"
        ) from None
    return cls(**options)


def default_bdms_root() -> Path:
    """``$DATAPIPE_BDMS_ROOT``, else ``$DATAPIPE_DATA_ROOT/bdms``."""
    from datapipe_ops.settings import data_root

    configured = os.environ.get("DATAPIPE_BDMS_ROOT")
    return Path(configured) if configured else data_root() / "bdms"


class BDMSHook(BaseHook):
    """Access to the BDMS for tasks and sensors.

    Parameters
    ----------
    bdms_conn_id
        Airflow connection whose extra holds ``{"backend": ..., <backend options>}``; when it
        does not exist, the filesystem backend under :func:`default_bdms_root` is used.
    root
        Use the filesystem backend at this directory (overrides the connection).
    """

    conn_name_attr = "bdms_conn_id"
    default_conn_name = "bdms_default"
    conn_type = "datapipe_bdms"
    hook_name = "DataPipe BDMS"

    def __init__(self, bdms_conn_id: str = default_conn_name, root: str | None = None) -> None:
        super().__init__()
        self.bdms_conn_id = bdms_conn_id
        self.root = root
        self._backend: BDMSBackend | None = None

    def get_backend(self) -> BDMSBackend:
        """The backend of this hook (built once)."""
        if self._backend is None:
            self._backend = backend_from_spec(self.backend_spec())
        return self._backend

    def backend_spec(self) -> dict[str, Any]:
        """The backend description: explicit root, else the connection, else the default."""
        if self.root:
            return {"backend": FilesystemBDMS.name, "root": str(self.root)}
        extra = self._connection_extra()
        if extra:
            return {"backend": FilesystemBDMS.name, **extra}
        return {"backend": FilesystemBDMS.name, "root": str(default_bdms_root())}

    def _connection_extra(self) -> dict[str, Any] | None:
        from airflow.sdk.exceptions import AirflowNotFoundException, AirflowRuntimeError

        try:
            connection = self.get_connection(self.bdms_conn_id)
        except (AirflowNotFoundException, AirflowRuntimeError):
            self.log.info("no connection %s: default BDMS backend", self.bdms_conn_id)
            return None
        return dict(connection.extra_dejson or {}) or None

    def status(self, dataset: str, verify_checksums: bool = True) -> DatasetStatus:
        """:meth:`BDMSBackend.status` of the hook's backend."""
        return self.get_backend().status(dataset, verify_checksums=verify_checksums)

    def files(self, dataset: str) -> list[DatasetFile]:
        """:meth:`BDMSBackend.files` of the hook's backend."""
        return self.get_backend().files(dataset)
