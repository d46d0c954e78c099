"""``datapipe dl0-to-dl1``: calibrate DL0 waveforms into DL1 images and image parameters."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from datapipe_ops.cli.options import CatalogURL, Config, NoRegister, Quiet

if TYPE_CHECKING:
    from datapipe_ops.calib.stage import DL1Job


def _default_coefficients(input_path: Path) -> Path:
    """``run.dl0.h5`` → ``run.coefficients.h5`` (where ``datapipe simulate`` puts them)."""
    name = input_path.name
    for suffix in (".dl0.h5", ".h5"):
        if name.endswith(suffix):
            return input_path.with_name(name[: -len(suffix)] + ".coefficients.h5")
    return input_path.with_name(name + ".coefficients.h5")


@contextmanager
def collection_paused_until_first_event() -> Iterator[Callable[[], None]]:
    """Pause Python's cyclic garbage collector for the start-up; yields the function that
    resumes it (called before the first event; at the latest when the block ends).

    The start-up creates about a million long-lived objects (modules, numba's type registries,
    astropy's units) and little garbage: the collector's full passes over them cost a fifth of
    the start-up. When it resumes they are frozen (:func:`gc.freeze`), so that the collections
    during processing do not walk them again; they are unfrozen when the block ends (a caller
    in the same process, a test, keeps its usual collection).
    """
    was_enabled = gc.isenabled()
    gc.disable()

    def resume() -> None:
        gc.freeze()
        if was_enabled:
            gc.enable()

    try:
        yield resume
    finally:
        gc.unfreeze()
        if was_enabled:
            gc.enable()


def dl1_output_name(input_path: Path) -> str:
    """``run.dl0.h5`` → ``run.dl1.h5`` (the name a DL1 product gets in ``--output-dir``)."""
    name = input_path.name
    for suffix in (".dl0.h5", ".h5"):
        if name.endswith(suffix):
            return name[: -len(suffix)] + ".dl1.h5"
    return name + ".dl1.h5"


def jobs_of(
    inputs: list[Path],
    outputs: list[Path],
    output_dir: Path | None,
    coefficients: list[Path],
) -> list[DL1Job]:
    """Pair the inputs with their outputs and coefficients (one line :class:`DataPipeError`
    when the counts do not match).

    Outputs: one ``--output`` per ``--input`` in the same order, or ``--output-dir`` (each
    output named after its input, :func:`dl1_output_name`). Coefficients: none (each input's
    ``<stem>.coefficients.h5`` beside it), one for every input, or one per input.
    """
    from datapipe_ops.calib.stage import DL1Job
    from datapipe_ops.errors import ConfigError, OutputError

    if not inputs:
        raise ConfigError("no input: give --input")
    if output_dir is not None:
        if outputs:
            raise OutputError("give either --output (one per --input) or --output-dir, not both")
        outputs = [output_dir / dl1_output_name(path) for path in inputs]
    if len(outputs) != len(inputs):
        raise OutputError(
            f"{len(inputs)} --input but {len(outputs)} --output: give one --output per "
            "--input (in the same order) or --output-dir"
        )
    if not coefficients:
        coefficients = [_default_coefficients(path) for path in inputs]
    elif len(coefficients) == 1:
        coefficients = coefficients * len(inputs)
    elif len(coefficients) != len(inputs):
        raise ConfigError(
            f"{len(inputs)} --input but {len(coefficients)} --coefficients: give none, one "
            "for all inputs, or one per --input (in the same order)"
        )
    return [DL1Job(*paths) for paths in zip(inputs, outputs, coefficients, strict=True)]


def dl0_to_dl1(
    input_paths: Annotated[
        list[Path],
        typer.Option(
            "--input", "-i", help="A DL0 product to read (repeat it to process several files)."
        ),
    ],
    outputs: Annotated[
        list[Path] | None,
        typer.Option(
            "--output", "-o", help="The DL1 product to write, one per --input in the same order."
        ),
    ] = None,
    output_dir: Annotated[
        Path | None,
        typer.Option(
            "--output-dir",
            help="Write each DL1 product here, named after its input (run.dl0.h5 → run.dl1.h5).",
            show_default=False,
        ),
    ] = None,
    coefficients: Annotated[
        list[Path] | None,
        typer.Option(
            "--coefficients",
            help="CalibPipe coefficients: one for all inputs, or one per --input (default: "
            "<input stem>.coefficients.h5 beside each input).",
            show_default=False,
        ),
    ] = None,
    config: Config = None,
    chunk_size: Annotated[
        int | None,
        typer.Option("--chunk-size", min=1, help="Telescope events per chunk (default: config)."),
    ] = None,
    catalog: CatalogURL = None,
    campaign: Annotated[
        str | None,
        typer.Option(help="Register the products in this catalog campaign (it must exist)."),
    ] = None,
    no_register: NoRegister = False,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite",
            help="Replace existing outputs (without it an existing output is refused; "
            "an output that is one of the inputs is refused always).",
        ),
    ] = False,
    quiet: Quiet = False,
) -> None:
    """Calibrate, extract, clean and parameterise every telescope event of DL0 products.

    Writes DL1 parameters per telescope (and images if the configuration says so), passes the
    instrument, simulation and trigger tables through, records provenance and registers the
    product with its inputs in the catalog. Several inputs (repeated --input, with one --output
    each or --output-dir) are processed in one process, each into its own product, registered
    with its own lineage. Everything is checked before the first event of the first file
    (inputs, coefficients, configuration, outputs, catalog); each output appears in one rename.
    """
    with collection_paused_until_first_event() as first_event:
        from datapipe_ops.calib.config import DL0ToDL1Config
        from datapipe_ops.calib.stage import dl0_to_dl1_files
        from datapipe_ops.config import load_config

        jobs = jobs_of(input_paths, outputs or [], output_dir, coefficients or [])
        settings = load_config(config, DL0ToDL1Config)
        summaries = dl0_to_dl1_files(
            jobs,
            settings,
            chunk_size=chunk_size,
            register=not no_register,
            catalog_url=catalog,
            campaign=campaign,
            overwrite=overwrite,
            show_progress=not quiet,
            before_first_event=first_event,
        )
    for summary in summaries:
        registered = "" if summary.product_id is None else f", catalog id {summary.product_id}"
        typer.echo(
            f"{summary.output}: {summary.n_telescope_events} telescope events of "
            f"{summary.n_events} events, {summary.n_valid} with valid parameters{registered}"
        )
