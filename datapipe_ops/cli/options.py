"""The options every stage command shares, written once so that their flags and help read the
same in every ``datapipe`` command: ``--config``, ``--overwrite``, ``--catalog``,
``--no-register`` and ``--quiet``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

Config = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="YAML configuration (default: built-in defaults)."),
]
Overwrite = Annotated[bool, typer.Option("--overwrite", help="Replace the output if it exists.")]
CatalogURL = Annotated[
    str | None,
    typer.Option(
        "--catalog",
        help="Catalog URL (default: $DATAPIPE_CATALOG_URL, else <data root>/catalog.sqlite).",
        show_default=False,
    ),
]
NoRegister = Annotated[
    bool, typer.Option("--no-register", help="Do not register the output in the catalog.")
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")]
