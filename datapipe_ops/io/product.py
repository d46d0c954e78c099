"""Opening products for reading and writing them atomically with provenance.

:class:`ProductWriter` is the only way a stage writes an HDF5 product: it writes into a hidden
temporary file and renames it into place when the ``with`` block completes, after adding the
provenance block; on error nothing appears at the final path. :func:`open_product` is the only
way a stage opens one: it checks the file exists, is readable HDF5, has a compatible schema
version and the expected data level, and raises one clear :class:`InputFileError` otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np
from astropy.table import Table
from pydantic import BaseModel

from datapipe_ops.errors import InputFileError
from datapipe_ops.io import tables
from datapipe_ops.io.atomic import atomic_output
from datapipe_ops.io.layout import CTAPIPE_TRIGGER, DL2_SUBARRAY, SCHEMA_VERSION, TRIGGER
from datapipe_ops.io.provenance import (
    pending_input_records,
    start_provenance,
    write_provenance,
)

if TYPE_CHECKING:
    from astropy import units as u

    from datapipe_ops.checksum import BackgroundChecksums
    from datapipe_ops.instrument import SubarrayDescription


class ProductWriter:
    """Write one HDF5 product atomically: ``with ProductWriter(path, "DL1", ...) as w: ...``."""

    def __init__(
        self,
        path: str | Path,
        level: str,
        stage: str,
        config: BaseModel | None = None,
        inputs: Sequence[str | Path] | Mapping[str, str] = (),
        attrs: Mapping[str, Any] | None = None,
        checksums: BackgroundChecksums | None = None,
    ) -> None:
        self.path = Path(path)
        self.level = level
        # the inputs' checksums are computed while the stage runs and completed on exit
        # (``checksums``: hashing the stage started already, for several products' inputs)
        records, self._complete_inputs = pending_input_records(inputs, checksums)
        self.provenance = start_provenance(stage, config)
        self.provenance["inputs"] = records
        self._attrs = dict(attrs or {})
        self._stack: ExitStack | None = None
        self.file: h5py.File | None = None

    def __enter__(self) -> ProductWriter:
        self._stack = ExitStack()
        tmp = self._stack.enter_context(atomic_output(self.path))
        self.file = h5py.File(tmp, "w", track_order=True)
        self.file.attrs["schema_version"] = SCHEMA_VERSION
        self.file.attrs["data_level"] = self.level
        for key, value in self._attrs.items():
            self.file.attrs[key] = value
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        assert self.file is not None and self._stack is not None
        try:
            if exc_type is None:
                self._complete_inputs()
                self._link_ctapipe_names()
                self._ctapipe_dl2_tables()
                write_provenance(self.file, self.provenance)
            self.file.close()
        finally:
            self._stack.__exit__(exc_type, exc, tb)

    def _link_ctapipe_names(self) -> None:
        """Hard-link the trigger table where ctapipe's TableLoader reads it (DL1, DL2)."""
        if self.level not in ("DL1", "DL2") or TRIGGER not in self.h5:
            return
        meta = tables.META_SUFFIX
        for source, alias in ((TRIGGER, CTAPIPE_TRIGGER), (TRIGGER + meta, CTAPIPE_TRIGGER + meta)):
            if source in self.h5 and alias not in self.h5:
                self.h5.require_group(alias.rpartition("/")[0])
                self.h5[alias] = self.h5[source]

    def _ctapipe_dl2_tables(self) -> None:
        """ctapipe's TableLoader reads every node of a ``/dl2/event/subarray/<kind>`` group as
        a table: there the units go into ctapipe's column attributes (``CTAFIELD_<i>_UNIT``)
        instead of astropy's header dataset beside the table (DataPipe's reader takes them
        from the header attribute every table carries)."""
        if DL2_SUBARRAY not in self.h5:
            return
        for kind in self.h5[DL2_SUBARRAY].values():
            if not isinstance(kind, h5py.Group):
                continue
            for name in list(kind):
                if name.endswith(tables.META_SUFFIX):
                    del kind[name]
                elif isinstance(kind[name], h5py.Dataset):
                    tables.write_ctapipe_units(kind[name])

    @property
    def h5(self) -> h5py.File:
        """The open temporary file."""
        if self.file is None:
            raise RuntimeError("ProductWriter used outside its with-block")
        return self.file

    def write_table(self, path: str, table: Table) -> None:
        """Write a whole table (units kept)."""
        tables.write_table(self.h5, path, table)

    def append_table(self, path: str, table: Table) -> None:
        """Append rows to a table, creating it on the first call."""
        tables.append_table(self.h5, path, table)

    def append_rows(
        self, path: str, rows: np.ndarray, units: Mapping[str, u.UnitBase | None]
    ) -> None:
        """Append a structured array to a table (:func:`~datapipe_ops.io.tables.append_rows`)."""
        tables.append_rows(self.h5, path, rows, units)

    def append_array(
        self,
        path: str,
        array: np.ndarray,
        compression: str = tables.DEFAULT_ARRAY_FILTER,
        unit: str | None = None,
    ) -> None:
        """Append an n-D array along axis 0, creating it on the first call."""
        tables.append_array(self.h5, path, array, compression=compression, unit=unit)

    def set_attrs(self, path: str, **attrs: Any) -> None:
        """Set attributes on a group or dataset (the group is created if needed)."""
        node = self.h5[path] if path in self.h5 else self.h5.require_group(path)
        for key, value in attrs.items():
            node.attrs[key] = value

    def copy_nodes(self, source: h5py.File, paths: Sequence[str]) -> None:
        """Copy groups or datasets (with their table headers) unchanged from ``source``; paths
        that ``source`` lacks or that are already written are skipped."""
        for path in paths:
            for name in (path, path + tables.META_SUFFIX):
                if name in source and name not in self.h5:
                    parent, _, leaf = name.rpartition("/")
                    target = self.h5.require_group(parent or "/")
                    source.copy(source[name], target, name=leaf)

    def write_subarray(self, subarray: SubarrayDescription) -> None:
        """Write the subarray layout and its camera descriptions."""
        from datapipe_ops.io.instrument import write_subarray

        write_subarray(self.h5, subarray)


def _major(version: str) -> str:
    return str(version).split(".")[0]


@contextmanager
def open_product(path: str | Path, level: str | Sequence[str] | None = None) -> Iterator[h5py.File]:
    """Open a product read-only after checking it; yields the ``h5py.File``."""
    path = Path(path)
    if not path.exists():
        raise InputFileError("file does not exist", path=path)
    try:
        h5file = h5py.File(path, "r")
    except OSError as exc:
        reason = str(exc).split("(")[0].strip() or "unreadable"
        raise InputFileError(
            f"not a readable HDF5 file (truncated or corrupt?): {reason}", path=path
        ) from None
    with h5file:
        version = h5file.attrs.get("schema_version")
        if version is None:
            raise InputFileError("not a DataPipe product (no schema_version attribute)", path=path)
        version = version.decode() if isinstance(version, bytes) else str(version)
        if _major(version) != _major(SCHEMA_VERSION):
            raise InputFileError(
                f"schema version {version} is not readable by this software "
                f"(reads {_major(SCHEMA_VERSION)}.x)",
                path=path,
            )
        if level is not None:
            wanted = (level,) if isinstance(level, str) else tuple(level)
            actual = h5file.attrs.get("data_level")
            actual = actual.decode() if isinstance(actual, bytes) else actual
            if actual not in wanted:
                raise InputFileError(
                    f"is a {actual} product, expected {' or '.join(wanted)}", path=path
                )
        yield h5file
