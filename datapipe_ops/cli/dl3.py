"""``datapipe dl2-to-dl3``: one observation's DL2 events → a GADF DL3 file, indexed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from datapipe_ops.cli.irf import Cuts, Output
from datapipe_ops.cli.options import CatalogURL, Config, NoRegister, Overwrite


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
    catalog: CatalogURL = None,
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


def deliver(
    event_lists: Annotated[
        list[Path], typer.Argument(help="DL3 event lists of one directory to deliver.")
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="The delivery directory to write.")
    ],
    model_set: Annotated[
        str | None,
        typer.Option("--model-set", help="The model set of the events (id, prefix, directory)."),
    ] = None,
    irf_set: Annotated[
        str | None,
        typer.Option("--irf-set", help="The IRF set of the IRFs (id, prefix, directory)."),
    ] = None,
    meta: Annotated[
        list[str] | None,
        typer.Option("--meta", help="KEY=VALUE for the manifest (version, night...); repeat."),
    ] = None,
    campaign: Annotated[
        str | None, typer.Option("--campaign", help="The campaign the delivery belongs to.")
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing delivery.")
    ] = False,
    catalog: CatalogURL = None,
    no_register: NoRegister = False,
) -> None:
    """Deliver DL3 event lists to an outbox directory: the files, their index files and a
    MANIFEST.json of sha256s, atomically; the delivery is recorded in the catalog."""
    from datapipe_ops.dl3.delivery import deliver as run_stage
    from datapipe_ops.errors import InputFileError

    metadata: dict[str, str] = {}
    for item in meta or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InputFileError(f"--meta {item!r} is not KEY=VALUE")
        metadata[key] = value
    extra: list[Path] = []
    if campaign:
        metadata["campaign"] = campaign
    if model_set:
        from datapipe_ops.reco.models.model_set import CARD, resolve_model_set

        directory = resolve_model_set(model_set, catalog)
        metadata["model_set_id"] = directory.name
        extra.append(directory.absolute() / CARD)
    if irf_set:
        from datapipe_ops.irf.irf_set import resolve_irf_set

        resolved = resolve_irf_set(irf_set, catalog)
        metadata["irf_set_id"] = resolved.id
        extra.append(resolved.directory.absolute() / "irf_set.json")
    summary = run_stage(
        event_lists,
        output,
        metadata=metadata,
        lineage_extra=extra,
        overwrite=overwrite,
        register=not no_register,
        catalog_url=catalog,
        campaign=campaign,
    )
    registered = "" if summary.product_id is None else f", catalog id {summary.product_id}"
    typer.echo(
        f"{summary.directory}: {len(summary.obs_ids)} observation(s) delivered "
        f"({', '.join(map(str, summary.obs_ids))}), manifest {summary.manifest.name}{registered}"
    )
