"""``datapipe dl2-to-dl3``: one observation's DL2 events → a GADF DL3 file, indexed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from datapipe_ops.cli.irf import Catalog, Config, Cuts, NoRegister, Output, Overwrite


def dl2_to_dl3(
    input_path: Annotated[
        Path, typer.Option("--input", "-i", help="The observation's DL2 product.")
    ],
    cuts: Cuts,
    irf: Annotated[
        Path, typer.Option("--irf", help="IRFs for this observation (interpolated or a node).")
    ],
    output: Output,
    config: Config = None,
    overwrite: Overwrite = False,
    catalog: Catalog = None,
    no_register: NoRegister = False,
) -> None:
    """Apply the cuts, convert to RA/Dec and write EVENTS, GTI, POINTING and the IRF HDUs.

    The observation is added to hdu-index.fits.gz and obs-index.fits.gz beside the output.
    """
    from datapipe_ops.config import load_config
    from datapipe_ops.dl3.config import DL3Config
    from datapipe_ops.dl3.stage import dl2_to_dl3 as run_stage

    settings = load_config(config, DL3Config)
    summary = run_stage(
        input_path,
        cuts,
        irf,
        output,
        settings,
        overwrite=overwrite,
        register=not no_register,
        catalog_url=catalog,
    )
    registered = "" if summary.product_id is None else f", catalog id {summary.product_id}"
    typer.echo(
        f"{summary.output}: observation {summary.obs_id}, {summary.n_selected} of "
        f"{summary.n_events} events after the cuts and GTIs{registered}"
    )
