"""The ``datapipe benchmark <level>`` stage: inputs → numbers, plots and verdicts in a directory.

:func:`run_benchmark` checks everything first (the output directory may be written, the
inputs are products of the level, the reference can be read, the catalog is ready), computes
the benchmark and, given a reference, the same benchmark of the reference (or reads it from a
benchmark output directory) and the verdict of every figure; it then writes the directory
atomically (a hidden temporary directory renamed into place):

- ``benchmark.fits``: every curve (FITS table ``CURVES``, one row per curve);
- ``summary.json``: level, inputs, reference, headline numbers, figures, verdicts, provenance;
- ``<figure>.png``: one plot per figure;

and registers ``benchmark.fits`` in the catalog (level ``BENCHMARK``, kind
``benchmark-<level>``) with lineage to the inputs.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from datapipe_ops import __version__
from datapipe_ops.benchmarks.compare import FigureVerdict, compare_figure
from datapipe_ops.benchmarks.config import BenchmarkConfig
from datapipe_ops.benchmarks.figures import (
    BenchmarkResult,
    figure_from_meta,
    figure_meta,
    read_curves,
    write_curves,
)
from datapipe_ops.config import config_hash
from datapipe_ops.errors import InputFileError, OutputError
from datapipe_ops.io.outputs import absolute_path, check_writable_directory, same_file

CURVES_FILE, SUMMARY_FILE = "benchmark.fits", "summary.json"
#: benchmark name → catalog level of its inputs
INPUT_LEVELS = {
    "dl0": "DL0",
    "dl1": "DL1",
    "models": "DL2",
    "dl2": "DL2",
    "irf": "IRF",
    "dl3": "DL3",
}
BENCHMARKS = tuple(INPUT_LEVELS)


@dataclass
class BenchmarkSummary:
    """What a benchmark run wrote."""

    output: Path
    result: BenchmarkResult
    verdicts: dict[str, FigureVerdict] = field(default_factory=dict)
    product_id: int | None = None

    @property
    def verdict_lines(self) -> list[str]:
        """One line per compared figure."""
        return [v.line() for v in self.verdicts.values()]


def compute(level: str, inputs: Sequence[Path], config: BenchmarkConfig) -> BenchmarkResult:
    """The benchmark ``level`` of ``inputs``."""
    functions: dict[str, Callable[[Sequence[Path], BenchmarkConfig], BenchmarkResult]]
    from datapipe_ops.benchmarks import camera_levels, dl2, dl3, irf

    functions = {
        "dl0": camera_levels.dl0_benchmark,
        "dl1": camera_levels.dl1_benchmark,
        "models": dl2.models_benchmark,
        "dl2": dl2.dl2_benchmark,
        "irf": irf.irf_benchmark,
        "dl3": dl3.dl3_benchmark,
    }
    if level not in functions:
        raise InputFileError(f"unknown benchmark {level!r} (one of {', '.join(BENCHMARKS)})")
    return functions[level]([Path(p) for p in inputs], config)


def is_benchmark_directory(path: Path) -> bool:
    """Whether ``path`` is the output directory of a benchmark."""
    return path.is_dir() and (path / SUMMARY_FILE).is_file() and (path / CURVES_FILE).is_file()


def read_benchmark(directory: Path) -> tuple[BenchmarkResult, dict]:
    """A benchmark output directory read back: its result and its summary."""
    try:
        summary = json.loads((directory / SUMMARY_FILE).read_text())
        curves = read_curves(directory / CURVES_FILE)
    except (OSError, ValueError, KeyError) as exc:
        raise InputFileError(f"not a readable benchmark directory: {exc}", path=directory) from None
    figures = [figure_from_meta(meta, curves) for meta in summary["figures"]]
    return BenchmarkResult(summary["level"], figures, summary.get("numbers", {})), summary


def load_reference(
    level: str, reference: Sequence[Path], config: BenchmarkConfig
) -> tuple[BenchmarkResult, dict]:
    """The reference's result: read from a benchmark directory, or computed from inputs."""
    if len(reference) == 1 and is_benchmark_directory(Path(reference[0])):
        result, summary = read_benchmark(Path(reference[0]))
        if result.level != level:
            raise InputFileError(f"is a {result.level} benchmark, not {level}", path=reference[0])
        return result, {"directory": str(absolute_path(reference[0])), "inputs": summary["inputs"]}
    return compute(level, reference, config), {"inputs": [str(absolute_path(p)) for p in reference]}


def check_output_directory(output: Path, inputs: Sequence[Path], overwrite: bool) -> Path:
    """The output directory may be written: not an input (nor inside one), absent unless
    ``overwrite``, its parent writable."""
    output = absolute_path(output)
    for source in inputs:
        if same_file(output, source) or absolute_path(source).is_relative_to(output):
            raise OutputError(
                "holds an input of this benchmark; an input is never overwritten", path=output
            )
    if output.exists() and not output.is_dir():
        raise OutputError("is a file, not a benchmark directory", path=output)
    if output.exists() and not overwrite:
        raise OutputError("exists; give --overwrite to replace it", path=output)
    check_writable_directory(output.parent, output)
    return output


def _replace_directory(tmp: Path, output: Path) -> None:
    """Rename ``tmp`` to ``output``; an existing ``output`` goes only once ``tmp`` is ready."""
    if output.exists():
        old = output.with_name(f".{output.name}.{os.getpid()}.old")
        os.replace(output, old)
        os.replace(tmp, output)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, output)


def _input_level(path: Path, level: str) -> str:
    if level == "irf":
        from astropy.io import fits

        return "BENCHMARK" if fits.getheader(path, 0).get("DPKIND") == "SENSITIVITY" else "IRF"
    return INPUT_LEVELS[level]


def run_benchmark(
    level: str,
    inputs: Sequence[Path],
    output: Path,
    config: BenchmarkConfig | None = None,
    *,
    reference: Sequence[Path] = (),
    labels: tuple[str, str] = ("this", "reference"),
    campaign: str | None = None,
    overwrite: bool = False,
    register: bool = True,
    catalog_url: str | None = None,
) -> BenchmarkSummary:
    """Run benchmark ``level`` on ``inputs`` into the directory ``output`` (see the module
    docstring); ``reference``: other inputs or a benchmark directory to compare with."""
    from datapipe_ops.benchmarks.plots import plot_figure
    from datapipe_ops.irf.products import register_output

    config = config or BenchmarkConfig()
    inputs = [Path(p) for p in inputs]
    if not inputs:
        raise InputFileError(f"no input given to the {level} benchmark")
    output = check_output_directory(Path(output), [*inputs, *reference], overwrite)
    if register:
        from datapipe_ops.catalog import Catalog

        with Catalog(catalog_url) as catalog:
            catalog.check_ready(campaign)
    result = compute(level, inputs, config)
    reference_result, reference_info = (
        load_reference(level, reference, config) if reference else (None, {})
    )
    verdicts: dict[str, FigureVerdict] = {}
    if reference_result is not None:
        for figure in result.figures:
            verdicts[figure.key] = compare_figure(
                figure, reference_result.figure(figure.key), config.comparison
            )
    digest = config_hash(config)
    tmp = output.with_name(f".{output.name}.{socket.gethostname()}.{os.getpid()}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        write_curves(
            result.figures,
            tmp / CURVES_FILE,
            {
                "DPKIND": "BENCHMARK",
                "BENCH": level,
                "CREATOR": f"DataPipe {__version__}",
                "CONFHASH": digest,
            },
        )
        plots = {}
        for figure in result.figures:
            name = f"{figure.key}.png"
            ref_figure = reference_result.figure(figure.key) if reference_result else None
            plot_figure(figure, tmp / name, ref_figure, verdicts.get(figure.key), labels)
            plots[figure.key] = name
        summary = {
            "level": level,
            "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "software_version": __version__,
            "config_hash": digest,
            "config": config.model_dump(mode="json"),
            "campaign": campaign,
            "inputs": [str(absolute_path(p)) for p in inputs],
            "reference": reference_info or None,
            "labels": list(labels),
            "numbers": result.numbers,
            "reference_numbers": reference_result.numbers if reference_result else None,
            "info": result.info,
            "figures": [figure_meta(f) | {"plot": plots[f.key]} for f in result.figures],
            "verdicts": {key: v.as_dict() for key, v in verdicts.items()},
        }
        (tmp / SUMMARY_FILE).write_text(json.dumps(summary, indent=2, default=float) + "\n")
        _replace_directory(tmp, output)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    done = BenchmarkSummary(output, result, verdicts)
    if register:
        done.product_id = register_output(
            output / CURVES_FILE,
            "BENCHMARK",
            f"benchmark-{level}",
            {p: _input_level(p, level) for p in inputs},
            catalog_url,
            campaign=campaign,
            config_hash=digest,
        )
    return done


def campaign_inputs(
    campaign: str, level: str, catalog_url: str | None = None, input_level: str | None = None
) -> list[Path]:
    """The products of ``campaign`` a ``level`` benchmark reads, from the catalog: DL0, DL1,
    DL2 or DL3 products; for ``irf`` the IRF products (kind ``irf``) and the sensitivities.
    ``input_level`` overrides the catalog level queried."""
    from datapipe_ops.catalog import Catalog, ProductQuery

    wanted = INPUT_LEVELS.get(level)
    if wanted is None:
        raise InputFileError(f"unknown benchmark {level!r} (one of {', '.join(BENCHMARKS)})")
    if input_level is not None and input_level.upper() != wanted:
        wanted, level = input_level.upper(), "other"
    with Catalog(catalog_url) as catalog:
        catalog.get_campaign(campaign)
        if level == "irf":
            found = catalog.list_products(ProductQuery(campaign=campaign, level="IRF", kind="irf"))
            found += catalog.list_products(
                ProductQuery(campaign=campaign, level="BENCHMARK", kind="sensitivity")
            )
        else:
            found = catalog.list_products(ProductQuery(campaign=campaign, level=wanted))
    paths = [Path(p.path) for p in found if Path(p.path).is_file()]
    if not paths:
        raise InputFileError(
            f"campaign {campaign} has no {wanted} products in the catalog for the {level} benchmark"
        )
    return paths
