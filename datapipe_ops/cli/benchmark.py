"""``datapipe benchmark dl0|dl1|models|dl2|irf|dl3`` and ``datapipe report``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from datapipe_ops.cli.options import CatalogURL, Config, NoRegister, Overwrite

app = typer.Typer(
    help="Science benchmarks per level: numbers, plots, and verdicts against a reference.",
    no_args_is_help=True,
)

Inputs = Annotated[
    list[Path] | None,
    typer.Option("--input", "-i", help="Input product (repeat the option)."),
]
Campaign = Annotated[
    str | None,
    typer.Option(
        "--campaign",
        help="Take the inputs from the catalog: this campaign's products (and register the "
        "benchmark in it).",
    ),
]
Level = Annotated[
    str | None,
    typer.Option(
        "--level",
        help="Catalog level of the campaign's inputs (default: the "
        "benchmark's: DL0, DL1, DL2, DL2, IRF, DL3).",
    ),
]
Output = Annotated[Path, typer.Option("--output", "-o", help="Output directory.")]
Reference = Annotated[
    list[Path] | None,
    typer.Option(
        "--reference",
        help="Compare with: another benchmark's output directory, or other input products "
        "(repeat).",
    ),
]
ReferenceCampaign = Annotated[
    str | None,
    typer.Option("--reference-campaign", help="Compare with this campaign's products."),
]
Labels = Annotated[
    str, typer.Option("--labels", help="Legend names of this run and the reference, 'A,B'.")
]


def _resolve(
    benchmark: str,
    inputs: list[Path] | None,
    campaign: str | None,
    level: str | None,
    catalog: str | None,
) -> list[Path]:
    from datapipe_ops.benchmarks.stage import campaign_inputs
    from datapipe_ops.errors import InputFileError

    if inputs:
        return list(inputs)
    if campaign is None:
        raise InputFileError("give the inputs (--input) or a campaign (--campaign)")
    return campaign_inputs(campaign, benchmark, catalog, level)


def _run(
    benchmark: str,
    inputs: list[Path] | None,
    campaign: str | None,
    level: str | None,
    output: Path,
    reference: list[Path] | None,
    reference_campaign: str | None,
    labels: str,
    config: Path | None,
    overwrite: bool,
    catalog: str | None,
    no_register: bool,
) -> None:
    from datapipe_ops.benchmarks.config import BenchmarkConfig
    from datapipe_ops.benchmarks.stage import run_benchmark
    from datapipe_ops.config import load_config
    from datapipe_ops.errors import InputFileError

    settings = load_config(config, BenchmarkConfig)
    files = _resolve(benchmark, inputs, campaign, level, catalog)
    compare_with = list(reference or [])
    if reference_campaign:
        compare_with += _resolve(benchmark, None, reference_campaign, level, catalog)
    names = tuple(part.strip() for part in labels.split(","))
    if len(names) != 2 or not all(names):
        raise InputFileError(f"--labels must be two names 'A,B', not {labels!r}")
    summary = run_benchmark(
        benchmark,
        files,
        output,
        settings,
        reference=compare_with,
        labels=names,
        campaign=campaign,
        overwrite=overwrite,
        register=not no_register,
        catalog_url=catalog,
    )
    for line in summary.verdict_lines:
        typer.echo(line)
    registered = "" if summary.product_id is None else f", catalog id {summary.product_id}"
    typer.echo(
        f"{summary.output}: {benchmark} benchmark of {len(files)} product(s), "
        f"{len(summary.result.figures)} figure(s){registered}"
    )


def _command(benchmark: str, doc: str):
    def command(
        output: Output,
        inputs: Inputs = None,
        campaign: Campaign = None,
        level: Level = None,
        reference: Reference = None,
        reference_campaign: ReferenceCampaign = None,
        labels: Labels = "this,reference",
        config: Config = None,
        overwrite: Overwrite = False,
        catalog: CatalogURL = None,
        no_register: NoRegister = False,
    ) -> None:
        _run(
            benchmark,
            inputs,
            campaign,
            level,
            output,
            reference,
            reference_campaign,
            labels,
            config,
            overwrite,
            catalog,
            no_register,
        )

    command.__doc__ = doc
    command.__name__ = benchmark
    return command


for _name, _doc in (
    ("dl0", "DL0: pedestal and noise per pixel, peak positions, trigger rate and multiplicity."),
    ("dl1", "DL1: image parameters per telescope type, charge vs truth, cleaning survival."),
    ("models", "Models: ROC and AUC per energy, gammaness, energy, event-type separation."),
    ("dl2", "DL2: angular resolution, energy bias/resolution, gammaness, reco energy."),
    ("irf", "IRFs: effective area, migration, PSF, energy resolution, background, sensitivity."),
    ("dl3", "DL3: counts map, θ² with ON/OFF excess, event rate over time."),
):
    app.command(_name)(_command(_name, _doc))
