"""Where the repository's data files live: the ``include/`` directory.

``include/`` holds what the stages, the DAGs and the deployments read, not Python code: processing
configs (``include/config``), the default instrument descriptions (``include/instrument``), the
Airflow settings (``include/airflow``) and the deployment and image scripts. The package finds it
next to itself in a source checkout (``<repo>/include`` beside ``<repo>/datapipe_ops``); an
installation that ships it elsewhere (e.g. a container image) points ``DATAPIPE_INCLUDE_DIR`` at it.
"""

from __future__ import annotations

import os
from pathlib import Path

from datapipe_ops.errors import ConfigError


def include_dir() -> Path:
    """The ``include/`` directory: ``$DATAPIPE_INCLUDE_DIR`` if set, else the repository's.

    Raises
    ------
    ConfigError
        If the directory does not exist.
    """
    configured = os.environ.get("DATAPIPE_INCLUDE_DIR")
    path = Path(configured) if configured else Path(__file__).resolve().parent.parent / "include"
    if not path.is_dir():
        origin = "DATAPIPE_INCLUDE_DIR" if configured else "the repository"
        raise ConfigError(f"include directory (from {origin}) does not exist", path=path)
    return path
