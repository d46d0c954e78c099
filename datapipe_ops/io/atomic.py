"""Atomic output files: write to a hidden temporary name, rename into place when complete."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def temporary_name(final: Path) -> Path:
    """The hidden temporary name used while ``final`` is being written (same directory)."""
    return final.with_name(f".{final.name}.{os.getpid()}.partial")


@contextmanager
def atomic_output(final: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write; rename it to ``final`` only if the block succeeds.

    The temporary file lives in the same directory (so the rename is atomic on POSIX) under a
    hidden name that no reader globbing for products finds. On any exception — or if the process
    is killed — nothing appears at ``final`` and an existing file there is left untouched.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_name(final)
    tmp.unlink(missing_ok=True)
    try:
        yield tmp
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
