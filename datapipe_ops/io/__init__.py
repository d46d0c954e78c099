"""The DataPipe HDF5 data model: atomic product writing, checked reading, provenance.

Paths follow ctapipe's data model (see :mod:`datapipe_ops.io.layout`); every table opens with
``astropy.table.Table.read(file, path=...)``.
"""

from datapipe_ops.io import layout
from datapipe_ops.io.layout import SCHEMA_VERSION, tel_ids_in, tel_key, tel_path
from datapipe_ops.io.product import ProductWriter, open_product
from datapipe_ops.io.provenance import read_provenance
from datapipe_ops.io.tables import (
    iter_chunks,
    iter_table_chunks,
    read_rows,
    read_table,
    table_length,
)

__all__ = [
    "SCHEMA_VERSION",
    "ProductWriter",
    "iter_chunks",
    "iter_table_chunks",
    "layout",
    "open_product",
    "read_provenance",
    "read_rows",
    "read_table",
    "table_length",
    "tel_ids_in",
    "tel_key",
    "tel_path",
]
