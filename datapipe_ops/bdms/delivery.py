"""DataPipe's products leave through the BDMS: each product file is delivered into its
campaign's dataset and the catalog records its identifier there next to its path.

The file's name in the dataset is its path relative to the campaign's products directory
(``<version>/[<night>/]<level>/<file>``), so the same product always gets the same identifier
and a delivery repeated after a failure keeps what was delivered before.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from datapipe_ops.bdms.backend import BDMSBackend, DeliveryFile
from datapipe_ops.catalog import Catalog
from datapipe_ops.catalog.models import ProductRecord
from datapipe_ops.errors import DataPipeError


def deliver_products(
    backend: BDMSBackend,
    catalog: Catalog,
    campaign: str,
    paths: Sequence[str | os.PathLike[str]],
    products_root: str | os.PathLike[str],
) -> dict[str, str]:
    """Deliver registered products of ``campaign`` (under ``<products_root>/<campaign>``) into
    the backend's campaign dataset; record each one's identifier in the catalog.

    Returns the identifiers by path. Raises :class:`~datapipe_ops.errors.DataPipeError` naming
    the file when a product is not registered or lies outside the campaign's directory.
    """
    base = (Path(products_root) / campaign).resolve()
    files = []
    for path in map(str, paths):
        product = catalog.get_product(path)
        try:
            name = Path(path).resolve().relative_to(base).as_posix()
        except ValueError:
            raise DataPipeError(f"not under the campaign's products {base}", path=path) from None
        meta = {"obs_id": product.obs_id} if product.obs_id is not None else {}
        level = getattr(product.level, "value", product.level)
        files.append(DeliveryFile(path, name, str(level), product.n_events, meta))
    dids = backend.deliver(backend.product_dataset(campaign), files)
    for item in files:
        catalog.register_product(
            ProductRecord(path=item.path, level=item.level, bdms_did=dids[item.path])
        )
    return dids
