"""Where DataPipe keeps its data and its catalog, read from the environment.

``DATAPIPE_DATA_ROOT``
    Root directory of all products (default: ``./var`` under the working directory).
``DATAPIPE_CATALOG_URL``
    SQLAlchemy URL of the product catalog (default: a SQLite file under the data root;
    production: ``postgresql+psycopg2://user@host/db``).
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
