"""The instrument description inside a product (``/configuration/instrument``)."""

from __future__ import annotations

import h5py

from datapipe_ops.errors import InputFileError
from datapipe_ops.instrument import SubarrayDescription
from datapipe_ops.io.layout import INSTRUMENT_GROUP
from datapipe_ops.io.tables import META_SUFFIX, read_table, write_table


def write_subarray(h5file: h5py.File, subarray: SubarrayDescription) -> None:
    """Write every table of the subarray (layout, optics, camera geometries and readouts)."""
    for name, table in subarray.to_tables().items():
        write_table(h5file, f"{INSTRUMENT_GROUP}/{name}", table)


def read_subarray(h5file: h5py.File) -> SubarrayDescription:
    """Rebuild the subarray description stored in an open product."""
    if INSTRUMENT_GROUP not in h5file:
        raise InputFileError("has no instrument description", path=h5file.filename)
    names: list[str] = []

    def collect(name: str, node: h5py.HLObject) -> None:
        if isinstance(node, h5py.Dataset) and not name.endswith(META_SUFFIX):
            names.append(name)

    h5file[INSTRUMENT_GROUP].visititems(collect)
    tables = {name: read_table(h5file, f"{INSTRUMENT_GROUP}/{name}") for name in names}
    try:
        return SubarrayDescription.from_tables(tables)
    except InputFileError as exc:
        raise InputFileError(exc.problem, path=h5file.filename) from None
