"""The DL1→DL2 stage (UC-130-2.1): stereo geometry, and a model set's reconstruction if given.

:func:`dl1_to_dl2` streams a DL1 (or merged DL1) product in chunks of subarray events
(:class:`~datapipe_ops.reco.events.EventReader`), reconstructs each chunk's geometry in one
compiled call (:func:`~datapipe_ops.reco.geometry.reconstruct_chunk`) and, with a model set,
its energy, gammaness, disp direction (``StereoDisp``) and event type
(:class:`~datapipe_ops.reco.models.apply.ModelApplication`). It writes a DL2 product atomically
(layout: ``docs/data-model.md``): the input's instrument, simulation, trigger, pointing and DL1
parameter tables passed through unchanged, the subarray table
``/dl2/event/subarray/geometry/HillasIntersection`` (one row per event, trigger order), the
telescope tables ``/dl2/event/telescope/geometry/HillasIntersection/tel_NNN`` (the impact
distance, one row per DL1 parameter row), the model tables, the provenance; then it registers
the product with its lineage (the DL1 input, and the model set) in the catalog.

Everything that can be checked is checked before the first event: the output path (not an
input, not existing unless ``overwrite``, its directory writable), the input (a readable DL1
product of this schema with trigger, parameters and pointing), the model set (its features and
telescope types against the input) and the catalog (reachable).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from astropy import units as u

from datapipe_ops.io import ProductWriter, layout, open_product
from datapipe_ops.io.outputs import check_output
from datapipe_ops.progress import progress_bar
from datapipe_ops.reco import names
from datapipe_ops.reco.config import DL1ToDL2Config
from datapipe_ops.reco.events import EventChunk, EventReader
from datapipe_ops.reco.geometry import (
    GEOMETRY_COLUMNS,
    ArrayGeometry,
    GeometryResult,
    reconstruct_chunk,
)

log = logging.getLogger(__name__)

STAGE = "dl1_to_dl2"
#: what a DL2 product passes through from its DL1 input, unchanged
PASS_THROUGH = (
    layout.SIMULATION_RUN.rpartition("/")[0],
    layout.OBSERVATION.rpartition("/")[0],
    "/simulation",
    layout.TRIGGER,
    layout.POINTING,
    layout.DL1_PARAMETERS,
)
IMPACT_COLUMN = names.tel_column(names.HILLAS_INTERSECTION, "impact_distance")


@dataclass
class DL2Summary:
    """What a run of the stage produced."""

    output: Path
    n_events: int = 0
    n_valid: int = 0
    model_set_id: str | None = None
    product_id: int | None = None


def geometry_dtype(algorithm: str, n_tels: int) -> np.dtype:
    """The row type of a subarray geometry table of ``algorithm`` for ``n_tels`` telescopes."""
    fields: list[tuple[Any, ...]] = [("obs_id", np.int32), ("event_id", np.int64)]
    fields += [(names.column(algorithm, name), np.float64) for name, _ in GEOMETRY_COLUMNS]
    fields += [(names.column(algorithm, "is_valid"), np.bool_)]
    fields += [(names.column(algorithm, "telescopes"), np.bool_, (n_tels,))]
    return np.dtype(fields)


def geometry_units(algorithm: str) -> dict[str, u.UnitBase | None]:
    """Units of the columns of a subarray geometry table."""
    return {names.column(algorithm, name): unit for name, unit in GEOMETRY_COLUMNS}


def geometry_rows(
    chunk: EventChunk, result: GeometryResult, algorithm: str = names.HILLAS_INTERSECTION
) -> np.ndarray:
    """The subarray geometry table rows of a chunk."""
    rows = np.empty(chunk.n_events, dtype=geometry_dtype(algorithm, len(chunk.tel_ids)))
    rows["obs_id"] = chunk.obs_id
    rows["event_id"] = chunk.event_id
    for name, _ in GEOMETRY_COLUMNS:
        rows[names.column(algorithm, name)] = result.columns[name]
    rows[names.column(algorithm, "is_valid")] = result.is_valid
    rows[names.column(algorithm, "telescopes")] = result.telescopes
    return rows


IMPACT_DTYPE = np.dtype(
    [
        ("obs_id", np.int32),
        ("event_id", np.int64),
        ("tel_id", np.int16),
        (IMPACT_COLUMN, np.float64),
    ]
)


def impact_rows(chunk: EventChunk, result: GeometryResult, column: int) -> np.ndarray:
    """Impact-distance rows of telescope ``chunk.tel_ids[column]``, one per parameter row."""
    tel = chunk.telescopes[int(chunk.tel_ids[column])]
    rows = np.empty(len(tel), dtype=IMPACT_DTYPE)
    if len(tel):
        rows["obs_id"] = tel.rows["obs_id"]
        rows["event_id"] = tel.rows["event_id"]
        rows["tel_id"] = tel.tel_id
        rows[IMPACT_COLUMN] = result.impact_distance[tel.event_row, column]
    return rows


def _check_catalog(catalog_url: str | None, input_path: Path) -> None:
    """Reach the catalog now (a one-line CatalogError if it cannot be used)."""
    from datapipe_ops.catalog import Catalog

    with Catalog(catalog_url) as catalog:
        catalog.find_product(input_path.absolute())


def _root_attrs(h5file: h5py.File) -> dict[str, Any]:
    return {k: v for k, v in h5file.attrs.items() if k not in ("schema_version", "data_level")}


def dl1_to_dl2(
    input_path: str | Path,
    output_path: str | Path,
    config: DL1ToDL2Config | None = None,
    *,
    model_set: str | Path | None = None,
    overwrite: bool = False,
    register: bool = True,
    catalog_url: str | None = None,
    show_progress: bool = False,
) -> DL2Summary:
    """Turn a DL1 product into a DL2 product (geometry; the model set's reconstruction if given).

    Parameters
    ----------
    input_path
        The DL1 product (one run or a merged product).
    output_path
        The DL2 product to write (atomically).
    config
        Stage configuration (default: built-in defaults).
    model_set
        A model set: its directory, its id in the catalog, or ``latest``.
    overwrite
        Replace an existing output (refused otherwise).
    register, catalog_url
        Register the product and its lineage in the catalog at ``catalog_url`` (default:
        ``DATAPIPE_CATALOG_URL``).
    show_progress
        Show a progress bar (subarray events) on stderr.

    Raises
    ------
    InputFileError
        Bad output path; missing, truncated or foreign input; wrong level or schema version;
        a model set that does not fit the input.
    CatalogError
        The catalog cannot be reached.
    """
    config = config or DL1ToDL2Config()
    input_path, output_path = Path(input_path), Path(output_path)
    check_output(output_path, [input_path], overwrite)
    summary = DL2Summary(output=output_path)
    with open_product(input_path, level="DL1") as dl1:
        reader = EventReader(dl1, chunk_size=config.chunk_size)
        array = ArrayGeometry.from_subarray(reader.subarray)
        application = None
        if model_set is not None:
            from datapipe_ops.reco.models.apply import ModelApplication

            application = ModelApplication.prepare(model_set, reader, input_path, catalog_url)
            summary.model_set_id = str(application.model_set.id)
        if register:
            _check_catalog(catalog_url, input_path)
        root = _root_attrs(dl1)
        attrs = dict(root)
        if summary.model_set_id is not None:
            attrs["model_set_id"] = summary.model_set_id
        writer = ProductWriter(
            output_path, "DL2", stage=STAGE, config=config, inputs=[input_path], attrs=attrs
        )
        subarray_path = names.subarray_path(names.GEOMETRY, names.HILLAS_INTERSECTION)
        tel_group = names.telescope_group(names.GEOMETRY, names.HILLAS_INTERSECTION)
        units = geometry_units(names.HILLAS_INTERSECTION)
        impact_units = {IMPACT_COLUMN: u.m}
        with (
            writer,
            progress_bar("dl1-to-dl2", reader.n_events, enabled=show_progress) as advance,
        ):
            writer.write_subarray(reader.subarray)
            writer.copy_nodes(dl1, PASS_THROUGH)
            for chunk in reader:
                result = reconstruct_chunk(chunk, array, config.geometry)
                writer.append_rows(subarray_path, geometry_rows(chunk, result), units)
                for j, tel_id in enumerate(chunk.tel_ids):
                    if int(tel_id) in reader.parameter_tel_ids:
                        path = layout.tel_path(tel_group, int(tel_id))
                        writer.append_rows(path, impact_rows(chunk, result, j), impact_units)
                if application is not None:
                    for path, table in application.apply_chunk(chunk, result).items():
                        writer.append_table(path, table)
                summary.n_events += chunk.n_events
                summary.n_valid += int(np.count_nonzero(result.is_valid))
                advance(chunk.n_events)
            if reader.n_events == 0:
                empty = np.zeros(0, dtype=geometry_dtype(names.HILLAS_INTERSECTION, array.n_tels))
                writer.append_rows(subarray_path, empty, units)
            for tel_id in reader.parameter_tel_ids:
                path = layout.tel_path(tel_group, tel_id)
                if path not in writer.h5:
                    writer.append_rows(path, np.zeros(0, IMPACT_DTYPE), impact_units)
            if application is not None:
                writer.write_table(layout.DL2_MODELS, application.models_table())
                writer.set_attrs(layout.DL2_MODELS, model_set_id=summary.model_set_id)
    if register:
        inputs = [input_path]
        if application is not None:
            inputs.append(application.model_set.directory)
        summary.product_id = register_dl2(summary, inputs, writer.provenance, root, catalog_url)
    return summary


def register_dl2(
    summary: DL2Summary,
    inputs: list[Path],
    provenance: dict[str, Any],
    root_attrs: dict[str, Any],
    catalog_url: str | None = None,
) -> int:
    """Register the DL2 product with its lineage: the DL1 input (registered first if needed)
    and the model set's card when the set is in the catalog."""
    from datapipe_ops.catalog import Catalog, ProductRecord

    hashes = {Path(r["path"]): r["sha256"] for r in provenance["inputs"]}
    obs_id = int(root_attrs["obs_id"]) if "obs_id" in root_attrs else None
    particle = root_attrs.get("particle")
    particle = particle.decode() if isinstance(particle, bytes) else particle
    with Catalog(catalog_url) as catalog:
        lineage = []
        dl1 = inputs[0].absolute()
        if catalog.find_product(dl1) is None:
            catalog.register_product(
                ProductRecord(
                    path=dl1,
                    level="DL1",
                    sha256=hashes.get(dl1),
                    size_bytes=dl1.stat().st_size,
                    obs_id=obs_id,
                    particle=particle,
                )
            )
        lineage.append(dl1)
        for directory in inputs[1:]:
            from datapipe_ops.reco.models.model_set import CARD

            card = (Path(directory) / CARD).absolute()
            if catalog.find_product(card) is not None:
                lineage.append(card)
        record = ProductRecord.from_file(
            summary.output.absolute(),
            level="DL2",
            n_events=summary.n_events,
            obs_id=obs_id,
            particle=particle,
            config_hash=provenance["config_hash"],
        )
        return catalog.register_product(record, inputs=lineage)
