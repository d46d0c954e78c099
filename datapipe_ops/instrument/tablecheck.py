"""Checked access to the columns and meta of instrument tables read back from files."""

from __future__ import annotations

from typing import Any

import numpy as np
from astropy import units as u
from astropy.table import Table

from datapipe_ops.errors import InputFileError


def as_text(value: Any) -> str:
    """A table meta or cell value as ``str`` (HDF5 round trips may turn strings into bytes)."""
    return value.decode("utf-8") if isinstance(value, bytes | np.bytes_) else str(value)


def column_values(table: Table, name: str, unit: u.UnitBase | None, what: str) -> np.ndarray:
    """Column ``name`` as a plain array, converted to ``unit`` if given.

    Raises
    ------
    InputFileError
        If the column is missing, or has no unit or one not convertible to ``unit``.
    """
    if name not in table.colnames:
        raise InputFileError(f"{what} table has no column '{name}'")
    column = table[name]
    if unit is None:
        return np.asarray(column)
    if getattr(column, "unit", None) is None:
        raise InputFileError(f"{what} table column '{name}' has no unit (expected {unit})")
    try:
        return u.Quantity(column).to_value(unit)
    except u.UnitConversionError:
        raise InputFileError(
            f"{what} table column '{name}' has unit {column.unit}, not convertible to {unit}"
        ) from None


def meta_value(table: Table, key: str, what: str) -> Any:
    """``table.meta[key]``; raises :class:`InputFileError` if absent."""
    if key not in table.meta:
        raise InputFileError(f"{what} table meta has no key '{key}'")
    return table.meta[key]
