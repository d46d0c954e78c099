"""The checks every stage makes on its output before any work, and atomic FITS writing.

:func:`check_output` refuses an output that exists (unless overwriting is asked for) or that is
one of the stage's inputs. :func:`write_fits` writes an HDU list through
:func:`~datapipe_ops.io.atomic.atomic_output` (hidden temporary name, renamed when complete),
gzip-compressed (level 1: fast, most of the gain) when the name ends in ``.gz``.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable, Sequence
from pathlib import Path

from astropy.io import fits

from datapipe_ops.errors import OutputError
from datapipe_ops.io.atomic import atomic_output


def check_output(
    output: str | Path, inputs: Iterable[str | Path | None], overwrite: bool = False
) -> Path:
    """``output`` as a Path, after refusing it if it is an input or exists without overwrite."""
    output = Path(output)
    target = output.resolve()
    for item in inputs:
        if item is not None and Path(item).resolve() == target:
            raise OutputError("the output is also one of the inputs", path=output)
    if output.is_dir():
        raise OutputError("the output is a directory", path=output)
    if output.exists() and not overwrite:
        raise OutputError("exists (use --overwrite to replace it)", path=output)
    return output


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
