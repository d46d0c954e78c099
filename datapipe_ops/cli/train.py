"""``datapipe train``: train LightGBM reconstruction models into one model set."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from datapipe_ops.cli.options import Config

KIND_NAMES = {"energy": "energy", "gammaness": "gammaness", "disp": "disp"}
KIND_NAMES |= {"event-type": "event_type", "event_type": "event_type"}


def train(
    kinds: Annotated[
        list[str],
        typer.Argument(
            help="What to train: energy, gammaness, disp, event-type (several, or 'all').",
            show_default=False,
        ),
    ],
    inputs: Annotated[
        list[Path] | None,
        typer.Option(
            "--input", "-i", help="A training product (merged DL1 or DL2); repeat for more."
        ),
    ] = None,
    dataset: Annotated[
        str | None,
        typer.Option("--dataset", help="A catalog dataset of training products instead."),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Directory of model sets (default: <data root>/models); the set goes to <id>/.",
            show_default=False,
        ),
    ] = None,
    config: Config = None,
    seed: Annotated[
        int | None, typer.Option("--seed", min=0, help="Seed (default: the configuration's).")
    ] = None,
    base_model_set: Annotated[
        str | None,
        typer.Option(
            "--base-model-set",
            help="event-type without disp: take the disp/energy/gammaness models from this set.",
        ),
    ] = None,
    catalog: Annotated[
        str | None,
        typer.Option(
            "--catalog", help="Catalog URL (default: $DATAPIPE_CATALOG_URL).", show_default=False
        ),
    ] = None,
    no_register: Annotated[
        bool, typer.Option("--no-register", help="Do not register the model set.")
    ] = False,
    exist_ok: Annotated[
        bool,
        typer.Option(
            "--exist-ok",
            help="A set of the same id already in the output directory is kept (a retry of the "
            "same training), not an error.",
        ),
    ] = False,
) -> None:
    """Train models on simulated gammas and protons and write them as one immutable model set.

    Prints the model set id and its directory; the set is registered in the catalog with
    lineage to the training products.
    """
    from datapipe_ops.catalog import Catalog
    from datapipe_ops.config import load_config
    from datapipe_ops.errors import ConfigError
    from datapipe_ops.reco.models.config import KINDS, ModelTrainingConfig
    from datapipe_ops.reco.models.training import train_model_set

    chosen: list[str] = []
    for kind in kinds:
        if kind == "all":
            chosen += list(KINDS)
        elif kind in KIND_NAMES:
            chosen.append(KIND_NAMES[kind])
        else:
            raise ConfigError(f"unknown model kind {kind!r} (energy, gammaness, disp, event-type)")
    settings = load_config(config, ModelTrainingConfig)
    if seed is not None:
        settings = settings.model_copy(update={"seed": seed})
    paths = list(inputs or [])
    if dataset is not None:
        with Catalog(catalog) as cat:
            paths += [Path(p) for p in cat.get_dataset(dataset).paths]
    if not paths:
        raise ConfigError("no training products: give --input or --dataset")
    summary = train_model_set(
        paths,
        chosen,
        settings,
        output_root=output,
        base_model_set=base_model_set,
        register=not no_register,
        catalog_url=catalog,
        exist_ok=exist_ok,
    )
    metrics = ", ".join(f"{k} {v:.4g}" for k, v in summary.metrics.items())
    registered = "" if summary.product_id is None else f", catalog id {summary.product_id}"
    typer.echo(
        f"model set {summary.model_set_id} ({', '.join(summary.kinds)}): {summary.directory}; "
        f"{summary.n_events} events, {summary.n_telescope_events} telescope events, "
        f"{summary.seconds:.1f} s{registered}"
    )
    typer.echo(f"cross-validation: {metrics}")
