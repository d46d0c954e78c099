"""Where DataPipe keeps its data and its catalog, read from the environment.

``DATAPIPE_DATA_ROOT``
    Root directory of all products (default: ``./var`` under the working directory).
``DATAPIPE_CATALOG_URL``
    SQLAlchemy URL of the product catalog (default: a SQLite file under the data root;
    production: ``postgresql+psycopg2://user@host/db``, the password from libpq's
    ``PGPASSWORD``).
``DATAPIPE_NUMBA_CACHE_SEED``
    A read-only directory of numba cache files compiled ahead of time (the stage image's, for
    the CPU baseline it declares with ``NUMBA_CPU_NAME``/``NUMBA_CPU_FEATURES``), linked into
    the writable ``NUMBA_CACHE_DIR`` when a stage starts (:func:`seed_numba_cache`).
"""

from __future__ import annotations

import os
from pathlib import Path


def data_root() -> Path:
    """The root directory of all DataPipe products."""
    return Path(os.environ.get("DATAPIPE_DATA_ROOT", Path.cwd() / "var")).absolute()


def catalog_url() -> str:
    """The SQLAlchemy URL of the product catalog."""
    default = f"sqlite:///{data_root() / 'catalog.sqlite'}"
    return os.environ.get("DATAPIPE_CATALOG_URL", default)


_SEEDED = ".seeded"


def seed_numba_cache() -> int:
    """Link the files of ``$DATAPIPE_NUMBA_CACHE_SEED`` into ``$NUMBA_CACHE_DIR``; return how
    many links were made.

    numba only uses a cache directory it can write to, and a stage container's root filesystem
    is read-only: the compiled kernels shipped in the image are made visible in the writable
    cache directory (``/tmp``) as symbolic links, so the first event is processed without
    compiling. A kernel compiled later (another signature) is written next to them; numba
    replaces an index file by renaming, never writes through a link. Does nothing when either
    variable is unset, the seed does not exist, or the cache directory was seeded already.
    """
    seed = os.environ.get("DATAPIPE_NUMBA_CACHE_SEED")
    target = os.environ.get("NUMBA_CACHE_DIR")
    if not seed or not target or not os.path.isdir(seed):
        return 0
    if os.path.abspath(seed) == os.path.abspath(target):  # compiling the seed itself
        return 0
    marker = Path(target) / _SEEDED
    if marker.exists():
        return 0
    linked = 0
    for directory, _, files in os.walk(seed):
        destination = Path(target) / os.path.relpath(directory, seed)
        destination.mkdir(parents=True, exist_ok=True)
        for name in files:
            if name == _SEEDED:
                continue
            try:
                (destination / name).symlink_to(os.path.join(directory, name))
                linked += 1
            except FileExistsError:  # compiled here already, or seeded by a concurrent stage
                pass
    marker.touch()
    return linked
