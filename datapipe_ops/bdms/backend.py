"""What DataPipe needs from a bulk data management system, whichever one it is.

:class:`BDMSBackend` is the interface: where is a dataset, is it complete and intact, which
files does it hold, and deliver files into a dataset. Two backends implement it:
:class:`~datapipe_ops.bdms.filesystem.FilesystemBDMS` (the embedded stand-in: a directory with a
``MANIFEST.json``) and :class:`~datapipe_ops.bdms.rucio.RucioBDMS` (a Rucio server).
:func:`open_backend` builds one by name; the Airflow hook builds its options from a connection.

A dataset's state is a :class:`DatasetStatus`: ``ready`` when complete and intact; its
``problems`` name what is still missing; ``broken`` says that waiting cannot fix it (a closed
Rucio dataset with a corrupted or lost replica), so a sensor fails at once instead of waiting.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from datapipe_ops.errors import DataPipeError


class BDMSError(DataPipeError):
    """The BDMS cannot answer (unreachable): retrying later can help."""


class BDMSAccessError(BDMSError):
    """The BDMS refused DataPipe's credentials or an operation: retrying does not help."""


@dataclass(frozen=True)
class DatasetFile:
    """One file of a dataset as the BDMS lists it.

    ``name`` is relative to the dataset (``<member>/<file>`` in a container), ``path`` where a
    stage reads it, ``checksums`` what the BDMS records (``sha256`` for the stand-in,
    ``adler32`` and ``md5`` for Rucio), ``did`` its identifier in the BDMS.
    """

    name: str
    path: str
    size: int
    checksums: dict[str, str] = field(default_factory=dict)
    n_events: int | None = None
    level: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    did: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (XCom, trigger events)."""
        return asdict(self)


@dataclass(frozen=True)
class DeliveryFile:
    """A file to deliver into a dataset: where it is and what it holds."""

    path: str
    name: str
    level: str
    n_events: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)


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
    #: ``manifest complete`` / ``dataset closed``: the backend's word for ``complete``
    state: str | None = None
    broken: bool = False

    @property
    def ready(self) -> bool:
        """Complete, and every file present with the size and checksums the BDMS gives."""
        return self.exists and self.complete and not self.problems

    def describe(self) -> str:
        """One line: what is there and what is missing."""
        if not self.exists:
            return f"dataset '{self.dataset}' not found at {self.location}"
        expected = f" of {self.n_files_expected}" if self.n_files_expected is not None else ""
        state = self.state or ("manifest complete" if self.complete else "manifest not complete")
        text = f"dataset '{self.dataset}' at {self.location}: {len(self.files)}{expected} file(s), "
        text += state
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
    """The interface of a bulk data management system."""

    #: The name under which :func:`open_backend` finds this backend.
    name: ClassVar[str]

    @abc.abstractmethod
    def locate(self, dataset: str) -> str:
        """Where ``dataset`` lives (a directory, a Rucio DID ``scope:name`` at a server)."""

    @abc.abstractmethod
    def status(self, dataset: str, verify_checksums: bool = True) -> DatasetStatus:
        """The dataset's completeness and integrity now.

        Missing or incomplete data is a status, never an exception; :class:`BDMSError` means
        the BDMS could not be asked.
        """

    @abc.abstractmethod
    def files(self, dataset: str) -> list[DatasetFile]:
        """The files the dataset holds now, with the paths a stage reads."""

    @abc.abstractmethod
    def deliver(
        self, dataset: str, files: Sequence[DeliveryFile], close: bool = False
    ) -> dict[str, str]:
        """Put ``files`` into ``dataset`` (created if needed); ``close`` completes it.

        Idempotent: a file already delivered with the same content is kept. Returns each
        file's identifier in the BDMS, by the file's path.
        """

    def did_of(self, dataset: str, name: str) -> str:
        """The identifier a file called ``name`` gets in ``dataset``."""
        return f"{dataset.rstrip('/')}/{name}"

    def product_dataset(self, campaign: str) -> str:
        """The dataset DataPipe's products of ``campaign`` are delivered into."""
        return f"products/{campaign}"


def open_backend(name: str, **options: Any) -> BDMSBackend:
    """The backend called ``name`` (``filesystem`` or ``rucio``) with its options."""
    if name == "filesystem":
        from datapipe_ops.bdms.filesystem import FilesystemBDMS

        return FilesystemBDMS(**options)
    if name == "rucio":
        from datapipe_ops.bdms.rucio import RucioBDMS

        return RucioBDMS(**options)
    raise BDMSAccessError(f"unknown BDMS backend '{name}' (known: filesystem, rucio)")
