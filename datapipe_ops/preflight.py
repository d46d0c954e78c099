"""The checks every stage makes before its first event: :func:`preflight`.

A stage that fails should fail before it has spent any time, and leave everything as it was.
So before reading the first event a stage calls :func:`preflight` with what it will need:

* each input exists, is a readable DataPipe product of a readable schema version and of the
  expected data level (:func:`datapipe_ops.io.open_product`);
* each output may be written: not one of the inputs (same path or same file through a link),
  not existing unless ``overwrite`` is given, its directory writable
  (:func:`datapipe_ops.io.outputs.check_outputs`);
* when the stage registers its product, the catalog is reachable, its schema usable and the
  campaign (if any) exists (:meth:`datapipe_ops.catalog.Catalog.check_ready`).

The stage's configuration is validated before (by :func:`datapipe_ops.config.load_config`) and
what only the stage knows (e.g. that the coefficients cover every event) it checks right after.
Each problem is one :class:`~datapipe_ops.errors.DataPipeError` naming the file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from datapipe_ops.io.outputs import check_outputs
from datapipe_ops.io.product import open_product


def preflight(
    inputs: Mapping[str | Path, str | Sequence[str] | None],
    outputs: Sequence[str | Path],
    *,
    overwrite: bool = False,
    register: bool = False,
    catalog_url: str | None = None,
    campaign: str | None = None,
) -> list[Path]:
    """Check a stage's inputs, outputs and catalog before its first event.

    Parameters
    ----------
    inputs
        Each input product and the data level(s) it must have (``None``: any level).
    outputs
        The files the stage will write.
    overwrite
        Whether existing outputs may be replaced (never an input).
    register, catalog_url, campaign
        When ``register``: the catalog at ``catalog_url`` (default: ``DATAPIPE_CATALOG_URL``)
        must be reachable and hold ``campaign`` if one is given.

    Returns
    -------
    The outputs as absolute paths.
    """
    for path, level in inputs.items():
        with open_product(path, level=level):
            pass
    checked = check_outputs(outputs, inputs=list(inputs), overwrite=overwrite)
    if register:
        from datapipe_ops.catalog import Catalog

        with Catalog(catalog_url) as catalog:
            catalog.check_ready(campaign)
    return checked
