"""What the IRF and DL3 products record about themselves, and their catalog registration.

Every FITS product of these stages carries in its primary header ``DPKIND`` (CUTS, IRF,
IRFSET node, SENSITIVITY, DL3), ``MODELSET`` (the model set of the DL2 events it was made
from, ``NONE`` for pure-geometry DL2), ``CUTSSHA`` (sha256 of the cuts product applied), the
software (``CREATOR``) and the configuration hash (``CONFHASH``). :func:`product_header`
builds these cards, :func:`read_product_header` reads them back with a clear error,
:func:`register_output` registers an output and its inputs in the catalog.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from astropy.io import fits
from pydantic import BaseModel

from datapipe_ops import __version__
from datapipe_ops.config import config_hash
from datapipe_ops.errors import InputFileError


def creator() -> str:
    """The CREATOR card: this software and its version."""
    return f"DataPipe {__version__}"


def product_header(
    kind: str,
    model_set_id: str | None,
    config: BaseModel | None = None,
    **cards: Any,
) -> dict[str, Any]:
    """Primary-header cards of a product of ``kind``."""
    header = {
        "DPKIND": kind,
        "MODELSET": model_set_id or "NONE",
        "CREATOR": creator(),
        "DATE": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
    }
    if config is not None:
        header["CONFHASH"] = config_hash(config)
    header.update({k: v for k, v in cards.items() if v is not None})
    return header


def primary_hdu(cards: Mapping[str, Any]) -> fits.PrimaryHDU:
    """A primary HDU holding ``cards``."""
    hdu = fits.PrimaryHDU()
    for key, value in cards.items():
        hdu.header[key] = value
    return hdu


def read_product_header(path: str | Path, kind: str | tuple[str, ...]) -> fits.Header:
    """The primary header of a FITS product of ``kind``; :class:`InputFileError` otherwise."""
    path = Path(path)
    kinds = (kind,) if isinstance(kind, str) else kind
    if not path.is_file():
        raise InputFileError("file does not exist", path=path)
    try:
        header = fits.getheader(path, 0)
    except (OSError, ValueError) as exc:
        raise InputFileError(f"not a readable FITS file: {exc}", path=path) from None
    if header.get("DPKIND") not in kinds:
        raise InputFileError(
            f"is not a DataPipe {' or '.join(kinds)} product (DPKIND={header.get('DPKIND')})",
            path=path,
        )
    return header


def model_set_of(header: fits.Header) -> str | None:
    """The model set id a product header records (None: pure geometry)."""
    value = header.get("MODELSET", "NONE")
    return None if value in ("NONE", "", None) else str(value)


def register_output(
    output: Path,
    level: str,
    kind: str,
    inputs: Mapping[Path, str],
    catalog_url: str | None = None,
    **fields: Any,
) -> int:
    """Register ``output`` (``level``, ``kind``) with lineage to ``inputs`` ({path: level});
    inputs not yet in the catalog are registered first. Returns the product id."""
    from datapipe_ops.catalog import Catalog, ProductRecord

    with Catalog(catalog_url) as catalog:
        for path, input_level in inputs.items():
            if catalog.find_product(path.absolute()) is None:
                catalog.register_product(
                    ProductRecord.from_file(path.absolute(), level=input_level)
                )
        record = ProductRecord.from_file(output.absolute(), level=level, kind=kind, **fields)
        return catalog.register_product(record, inputs=[p.absolute() for p in inputs])
