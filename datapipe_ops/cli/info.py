"""``datapipe info``: versions and settings of this installation."""

from __future__ import annotations

import typer

app = typer.Typer(help="Show the software version and the settings in force.")


@app.callback(invoke_without_command=True)
def info() -> None:
    """Print the software version, the data root and the catalog URL."""
    from datapipe_ops import __version__, settings

    typer.echo(f"datapipe-ops {__version__}")
    typer.echo(f"data root:   {settings.data_root()}")
    typer.echo(f"catalog:     {settings.catalog_url()}")
