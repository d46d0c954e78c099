"""``datapipe quality dl0|dl1|dl2|dl3``: the data-quality metrics of one product, and
``datapipe quality trend``: a metric over time."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from datapipe_ops.cli.options import CatalogURL, Config, NoRegister, Overwrite

app = typer.Typer(
    help="Data-quality metrics: measure a product, judge it, record it; read trends.",
    no_args_is_help=True,
)

Input = Annotated[Path, typer.Option("--input", "-i", help="The product to measure.")]
Report = Annotated[
    Path | None,
    typer.Option("--output", "-o", help="The report (default: <product>.quality.json beside it)."),
]


def _run(
    level: str, input_path, config, output, overwrite, catalog, no_register, coefficients=None
) -> None:
    from datapipe_ops.config import load_config
    from datapipe_ops.quality.config import QualityConfig
    from datapipe_ops.quality.stage import quality

    settings = load_config(config, QualityConfig)
    summary = quality(
        level,
        input_path,
        settings,
        output=output,
        overwrite=overwrite,
        register=not no_register,
        catalog_url=catalog,
        coefficients=coefficients,
    )
    registered = "" if summary.product_id is None else f", catalog id {summary.product_id}"
    typer.echo(
        f"{summary.output}: {summary.level} {summary.flag.value} "
        f"({summary.n_metrics} metrics){registered}"
    )
    for reason in summary.reasons:
        typer.echo(f"  {reason}")


def _command(level: str):
    def command(
        input_path: Input,
        config: Config = None,
        catalog: CatalogURL = None,
        output: Report = None,
        overwrite: Overwrite = False,
        no_register: NoRegister = False,
    ) -> None:
        _run(level, input_path, config, output, overwrite, catalog, no_register)

    command.__doc__ = (
        f"The quality metrics of one {level} product: writes <product>.quality.json, records "
        "the metrics and the product's flag (worst of good/warning/bad) in the catalog. "
        "Exit 0 whatever the flag."
    )
    return command


@app.command("dl0")
def dl0(
    input_path: Input,
    coefficients: Annotated[
        Path | None,
        typer.Option(
            "--coefficients",
            help="CalibPipe coefficients covering the events: compare the pedestals with theirs.",
        ),
    ] = None,
    config: Config = None,
    catalog: CatalogURL = None,
    output: Report = None,
    overwrite: Overwrite = False,
    no_register: NoRegister = False,
) -> None:
    """The quality metrics of one DL0 product: writes <product>.quality.json, records the
    metrics and the product's flag (worst of good/warning/bad) in the catalog. Exit 0
    whatever the flag."""
    _run("DL0", input_path, config, output, overwrite, catalog, no_register, coefficients)


for _level in ("dl1", "dl2", "dl3"):
    app.command(_level)(_command(_level.upper()))


@app.command("trend")
def trend(
    metric: Annotated[str, typer.Option("--metric", "-m", help="The metric's name.")],
    campaign: Annotated[str | None, typer.Option(help="Only this campaign's products.")] = None,
    since: Annotated[
        str | None, typer.Option(help="Only products starting at or after (ISO date/time).")
    ] = None,
    plot: Annotated[
        Path | None, typer.Option("--plot", "-o", help="Also plot the trend into this PNG.")
    ] = None,
    config: Config = None,
    overwrite: Overwrite = False,
    catalog: CatalogURL = None,
) -> None:
    """Print a metric's values over time (one line per product), optionally plot them."""
    from datapipe_ops.config import load_config
    from datapipe_ops.errors import ConfigError
    from datapipe_ops.io.outputs import check_output
    from datapipe_ops.quality.config import QualityConfig
    from datapipe_ops.quality.trend import plot_trend
    from datapipe_ops.quality.trend import trend as read_trend

    settings = load_config(config, QualityConfig)
    if plot is not None:
        plot = check_output(plot, [], overwrite)
    try:
        points = read_trend(metric, campaign, since, catalog)
    except ValueError as exc:  # a --since that is no date
        raise ConfigError(str(exc), path="--since") from None
    for p in points:
        unit = f" {p.unit}" if p.unit else ""
        typer.echo(
            f"{p.time.isoformat(timespec='seconds')}  {p.value:.6g}{unit}  "
            f"{p.flag or '-'}  obs {p.obs_id if p.obs_id is not None else '-'}  {p.path}"
        )
    typer.echo(f"{metric}: {len(points)} value(s)")
    if plot is not None:
        typer.echo(f"plot: {plot_trend(points, metric, plot, settings)}")
