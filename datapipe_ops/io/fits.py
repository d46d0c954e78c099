"""Writing FITS products atomically.

:func:`write_fits` writes an HDU list through :func:`~datapipe_ops.io.atomic.atomic_output`
(hidden temporary name, renamed when complete), gzip-compressed (level 1: fast, most of the
gain) when the name ends in ``.gz``.
"""

from __future__ import annotations

import gzip
from collections.abc import Sequence
from pathlib import Path

from astropy.io import fits

from datapipe_ops.io.atomic import atomic_output


def write_fits(hdus: fits.HDUList | Sequence[fits.hdu.base.ExtensionHDU], path: str | Path) -> Path:
    """Write ``hdus`` to ``path`` atomically (gzip for ``.gz`` names); returns ``path``."""
    path = Path(path)
    hdul = hdus if isinstance(hdus, fits.HDUList) else fits.HDUList(list(hdus))
    with atomic_output(path) as tmp:
        if path.name.endswith(".gz"):
            with gzip.open(tmp, "wb", compresslevel=1) as stream:
                hdul.writeto(stream)
        else:
            hdul.writeto(tmp)
    return path
