"""``datapipe quality``: measure one product, judge it, write ``<product>.quality.json`` and
record the metrics and the product's flag in the catalog.

Before the first event: the configuration is validated, the input opened as a product of the
level asked for, the JSON output checked against the output policy and, when recording, the
catalog checked. The JSON is written atomically; the catalog gets every metric (one row per
product and name, replaced on a rerun), ``products.quality_flag`` = the worst flag, and the
report itself as a ``QUALITY`` product with the measured product as its input. If recording
fails, a JSON that did not exist before is removed again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datapipe_ops import __version__
from datapipe_ops.catalog.models import QualityFlag
from datapipe_ops.config import config_hash, resolved_config
from datapipe_ops.errors import InputFileError
from datapipe_ops.io.atomic import atomic_output
from datapipe_ops.io.outputs import absolute_path, check_output
from datapipe_ops.preflight import preflight
from datapipe_ops.quality.compute import LEVELS, Measurement, measure
from datapipe_ops.quality.config import QualityConfig
from datapipe_ops.quality.metrics import worst

#: suffixes stripped from a product's name before ``.quality.json`` is added
PRODUCT_SUFFIXES = (".fits.gz", ".fits", ".h5", ".hdf5")


@dataclass
class QualitySummary:
    """What the stage measured and wrote."""

    output: Path
    level: str
    flag: QualityFlag
    reasons: list[str]
    n_metrics: int
    product_id: int | None = None


def default_output(product: str | Path) -> Path:
    """``<product>.quality.json`` beside the product (``x.dl1.h5`` → ``x.dl1.quality.json``)."""
    product = Path(product)
    name = product.name
    for suffix in PRODUCT_SUFFIXES:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return product.with_name(f"{name}.quality.json")


def check_dl3(path: Path) -> None:
    """The input exists and is a FITS file (gzipped or not); its HDUs are checked on reading."""
    if not path.is_file():
        raise InputFileError("does not exist", path=path)
    with path.open("rb") as handle:
        start = handle.read(30)
    if not (start.startswith(b"\x1f\x8b") or start.startswith(b"SIMPLE  =")):
        raise InputFileError("is not a FITS file", path=path)


def report(path: Path, measured: Measurement, config: QualityConfig) -> dict[str, Any]:
    """The JSON content of a quality report."""
    flag = worst([m.flag for m in measured.metrics])
    used = {m.name.split(".", 1)[0] for m in measured.metrics}
    thresholds = {
        name: t.model_dump(mode="json") for name, t in config.thresholds.items() if name in used
    }
    return {
        "product": str(path),
        "level": measured.level,
        "obs_id": measured.obs_id,
        "time_start": measured.time_start and measured.time_start.isoformat(),
        "time_stop": measured.time_stop and measured.time_stop.isoformat(),
        "flag": flag.value,
        "reasons": [m.reason for m in measured.metrics if m.reason and m.flag is not None],
        "metrics": [m.as_json() for m in measured.metrics],
        "thresholds": thresholds,
        "config": resolved_config(config),
        "config_hash": config_hash(config),
        "software_version": __version__,
    }


def quality(
    level: str,
    input_path: str | Path,
    config: QualityConfig | None = None,
    *,
    output: str | Path | None = None,
    overwrite: bool = False,
    register: bool = True,
    catalog_url: str | None = None,
    coefficients: str | Path | None = None,
) -> QualitySummary:
    """Measure the ``level`` product ``input_path``, write its report and record it.

    For DL0, ``coefficients`` (a CalibPipe coefficients product covering the events) adds the
    pedestal's deviation from CalibPipe's and the fraction of pixels CalibPipe masks.

    Raises
    ------
    InputFileError
        The input is missing, not a product of ``level`` or unreadable.
    OutputError
        The report exists (without ``overwrite``), is the input, or cannot be written.
    CatalogError
        Recording is on and the catalog is unreachable.
    """
    config = config or QualityConfig()
    level = level.upper()
    if level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}, not {level!r}")
    input_path = absolute_path(input_path)
    output = output or default_output(input_path)
    if level == "DL3":  # a FITS event list: preflight opens HDF5 products only
        check_dl3(input_path)
        output = check_output(output, [input_path], overwrite)
        preflight({}, [], register=register, catalog_url=catalog_url)
    else:
        inputs: dict[Path, str] = {input_path: level}
        if coefficients is not None:
            if level != "DL0":
                raise InputFileError("coefficients are compared with DL0 only", path=coefficients)
            coefficients = absolute_path(coefficients)
            inputs[coefficients] = "CALIBRATION"
        output = preflight(inputs, [output], overwrite=overwrite,
                           register=register, catalog_url=catalog_url)[0]  # fmt: skip
    measured = measure(input_path, level, config, coefficients)
    content = report(input_path, measured, config)
    content["coefficients"] = None if coefficients is None else str(coefficients)
    existed = output.exists()
    with atomic_output(output) as tmp:
        tmp.write_text(json.dumps(content, indent=2, allow_nan=False) + "\n")
    summary = QualitySummary(
        output, level, QualityFlag(content["flag"]), content["reasons"], len(measured.metrics)
    )
    if register:
        try:
            summary.product_id = record(input_path, output, measured, content, catalog_url)
        except BaseException:
            if not existed:
                output.unlink(missing_ok=True)
            raise
    return summary


def record(
    product: Path,
    report_path: Path,
    measured: Measurement,
    content: dict[str, Any],
    catalog_url: str | None = None,
) -> int:
    """Record the metrics and the flag of ``product`` (registered now if it is not yet, with
    the time range it covers when the catalog lacks it) and the report as a ``QUALITY``
    product made from it; the product's id."""
    from datapipe_ops.catalog import Catalog, ProductRecord

    with Catalog(catalog_url) as catalog:
        known = catalog.find_product(product)
        update: dict[str, Any] = {}
        if known is None or known.obs_id is None:
            update["obs_id"] = measured.obs_id
        if known is None or known.time_start is None:
            update["time_start"], update["time_stop"] = measured.time_start, measured.time_stop
        if known is None:
            catalog.register_product(ProductRecord.from_file(product, level=measured.level,
                                                             **update))  # fmt: skip
        elif any(v is not None for v in update.values()):
            catalog.register_product(ProductRecord(path=product, level=known.level, **update))
        metrics = [(m.name, m.value, m.unit, m.flag) for m in measured.metrics]
        found = catalog.get_product(catalog.record_quality(product, metrics, content["flag"]))
        catalog.register_product(
            ProductRecord.from_file(
                report_path,
                level="QUALITY",
                kind="quality_report",
                campaign=found.campaign,
                config_hash=content["config_hash"],
                software_version=__version__,
                quality_flag=content["flag"],
            ),
            inputs=[found.path],
        )
        return found.id
