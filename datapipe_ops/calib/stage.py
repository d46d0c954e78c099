"""The DL0→DL1 stage (UC-130-1.2.1): calibrated images and image parameters from DL0 waveforms.

:func:`dl0_to_dl1` streams a DL0 product telescope by telescope in chunks of events: one
compiled call per chunk calibrates and extracts (:func:`~datapipe_ops.calib.extraction.
extract_images`), one cleans (:func:`~datapipe_ops.calib.cleaning.clean_images`), one
parameterises (:func:`~datapipe_ops.image.parameters.image_parameters`). It writes a DL1 product
atomically: per telescope the parameters (always) and the images (if configured), the
instrument, simulation and trigger tables passed through, and the provenance; then it registers
the product and its inputs in the catalog. Memory is bounded by the chunk size, whatever the
file size.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from astropy import units as u
from astropy.table import QTable

from datapipe_ops.calib.buffers import ChunkBuffers
from datapipe_ops.calib.calibration import CoefficientSeries
from datapipe_ops.calib.cleaning import clean_images
from datapipe_ops.calib.config import CleaningConfig, DL0ToDL1Config, ExtractionConfig
from datapipe_ops.calib.extraction import extract_images, integration_correction
from datapipe_ops.checksum import BackgroundChecksums
from datapipe_ops.errors import CalibrationError, InputFileError
from datapipe_ops.faults import stop_point
from datapipe_ops.image.geometry import ImageGeometry
from datapipe_ops.image.parameters import (
    PARAMETER_UNITS,
    image_parameters,
    parameters_rows,
)
from datapipe_ops.io import ProductWriter, layout, open_product, read_rows
from datapipe_ops.io.instrument import read_subarray
from datapipe_ops.io.outputs import absolute_path
from datapipe_ops.io.tables import META_SUFFIX, iter_chunks
from datapipe_ops.preflight import preflight
from datapipe_ops.progress import progress_bar

log = logging.getLogger(__name__)

STAGE = "dl0_to_dl1"
#: what a DL1 product passes through from its DL0 input, unchanged
PASS_THROUGH = ("/configuration", "/simulation", "/dl0/monitoring", layout.TRIGGER)
#: block of trigger-table rows read at a time to look up event times
TRIGGER_BLOCK = 65536


@dataclass(frozen=True)
class TelescopePlan:
    """Everything needed to process the events of one telescope."""

    tel_id: int
    camera: str
    geometry: ImageGeometry
    sampling_rate_ghz: float
    extraction: ExtractionConfig
    cleaning: CleaningConfig
    correction: np.ndarray | None
    coefficients: CoefficientSeries


@dataclass
class DL1Summary:
    """What a run of the stage produced."""

    output: Path
    n_events: int = 0
    n_telescope_events: int = 0
    n_valid: int = 0
    telescope_events: dict[int, int] = field(default_factory=dict)
    product_id: int | None = None
    provenance: dict[str, Any] = field(default_factory=dict, repr=False)
    root_attrs: dict[str, Any] = field(default_factory=dict, repr=False)


class EventTimes:
    """Trigger times [MJD TAI] of event ids, read from the trigger table block by block.

    Look-ups must come in ascending event id (as a telescope's event index is): the table is
    streamed once, so memory stays bounded whatever its length.
    """

    def __init__(self, h5file: h5py.File) -> None:
        if layout.TRIGGER not in h5file:
            raise InputFileError(f"has no trigger table {layout.TRIGGER}", path=h5file.filename)
        self._dset = h5file[layout.TRIGGER]
        self._next = 0
        self._ids = np.zeros(0, np.int64)
        self._times = np.zeros(0, np.float64)

    def _read_block(self) -> bool:
        n_rows = self._dset.shape[0]
        if self._next >= n_rows:
            return False
        stop = min(self._next + TRIGGER_BLOCK, n_rows)
        rows = read_rows(self._dset, self._next, stop)
        self._next = stop
        ids = rows["event_id"].astype(np.int64)
        previous = self._ids[-1:] if self._ids.size else np.zeros(0, np.int64)
        check_increasing(np.concatenate([previous, ids]), self._dset)
        self._ids = np.concatenate([self._ids, ids])
        self._times = np.concatenate([self._times, rows["time"].astype(np.float64)])
        return True

    def lookup(self, event_id: np.ndarray) -> np.ndarray:
        """Times of ``event_id`` (ascending); InputFileError if one is not in the table."""
        if event_id.size == 0:
            return np.zeros(0, np.float64)
        if np.any(np.diff(event_id) < 0):
            raise InputFileError(
                "telescope event index is not sorted by event_id", path=self._dset.file.filename
            )
        while (self._ids.size == 0 or self._ids[-1] < event_id[-1]) and self._read_block():
            pass
        keep = np.searchsorted(self._ids, event_id[0])  # drop rows no later look-up can need
        self._ids, self._times = self._ids[keep:], self._times[keep:]
        where = np.searchsorted(self._ids, event_id)
        where = np.clip(where, 0, max(self._ids.size - 1, 0))
        if self._ids.size == 0 or np.any(self._ids[where] != event_id):
            missing = event_id[(self._ids.size == 0) | (self._ids[where] != event_id)][0]
            raise InputFileError(
                f"event_id {missing} is not in the trigger table", path=self._dset.file.filename
            )
        return self._times[where]


def _plan(
    tel_id: int,
    subarray: Any,
    coefficients: h5py.File,
    config: DL0ToDL1Config,
) -> TelescopePlan:
    telescope = subarray.telescopes[tel_id]
    camera = telescope.camera
    extraction, cleaning = config.for_camera(camera.name)
    series = CoefficientSeries.read(coefficients, tel_id)
    if series.n_pixels != camera.geometry.n_pixels:
        raise CalibrationError(
            f"coefficients of telescope {tel_id} have {series.n_pixels} pixels, its camera "
            f"{camera.name} has {camera.geometry.n_pixels}",
            path=coefficients.filename,
        )
    if series.n_channels != 1:
        raise CalibrationError(
            f"coefficients of telescope {tel_id} have {series.n_channels} gain channels, but "
            "the DL0 waveforms carry no gain selection (one channel expected)",
            path=coefficients.filename,
        )
    readout = camera.readout
    correction = None
    if extraction.apply_integration_correction:
        correction = integration_correction(
            readout.reference_pulse_shape,
            readout.reference_pulse_sample_width_ns,
            readout.sample_width_ns,
            extraction.window_width,
            extraction.window_shift,
        )
    return TelescopePlan(
        tel_id=tel_id,
        camera=camera.name,
        geometry=ImageGeometry.from_camera(
            camera.geometry, telescope.optics.effective_focal_length_m
        ),
        sampling_rate_ghz=readout.sampling_rate_ghz,
        extraction=extraction,
        cleaning=cleaning,
        correction=correction,
        coefficients=series,
    )


def _telescope_datasets(dl0: h5py.File, tel_id: int) -> tuple[h5py.Dataset, h5py.Dataset]:
    wave_path = layout.tel_path(layout.WAVEFORMS, tel_id)
    index_path = layout.tel_path(layout.DL0_TEL_INDEX, tel_id)
    if index_path not in dl0:
        raise InputFileError(f"has waveforms but no event index {index_path}", path=dl0.filename)
    waves, index = dl0[wave_path], dl0[index_path]
    if waves.ndim != 3 or waves.shape[0] != index.shape[0]:
        raise InputFileError(
            f"{wave_path} has shape {waves.shape} but {index_path} has {index.shape[0]} rows",
            path=dl0.filename,
        )
    return waves, index


def _obs_id(dl0: h5py.File, index_rows: np.ndarray) -> int:
    if index_rows.size:
        return int(index_rows["obs_id"][0])
    return int(dl0.attrs.get("obs_id", -1))


def check_increasing(event_id: np.ndarray, dset: h5py.Dataset) -> None:
    """InputFileError naming the first event id of ``dset`` that repeats or goes backwards."""
    steps = np.diff(event_id)
    bad = np.flatnonzero(steps <= 0)
    if bad.size:
        i = int(bad[0])
        problem = (
            f"event_id {int(event_id[i + 1])} appears more than once"
            if steps[i] == 0
            else f"is not sorted by event_id ({int(event_id[i])} before {int(event_id[i + 1])})"
        )
        raise InputFileError(f"{dset.name} {problem}", path=dset.file.filename)


def check_coverage(dl0: h5py.File, plans: dict[int, TelescopePlan], block: int = 65536) -> None:
    """Fail early (before any waveform is read) if a telescope's event ids repeat or an event
    has no valid coefficients."""
    for tel_id, plan in plans.items():
        _, index = _telescope_datasets(dl0, tel_id)
        times = EventTimes(dl0)
        last = np.zeros(0, np.int64)
        for start, stop in iter_chunks(index.shape[0], block):
            rows = read_rows(index, start, stop)
            event_id = rows["event_id"].astype(np.int64)
            check_increasing(np.concatenate([last, event_id]), index)
            last = event_id[-1:]
            plan.coefficients.rows_for(times.lookup(event_id), _obs_id(dl0, rows))


def _aligned_chunk(dset: h5py.Dataset, chunk_size: int) -> int:
    """``chunk_size`` rounded down to whole HDF5 chunks (no chunk is decompressed twice)."""
    rows = dset.chunks[0] if dset.chunks else 1
    return max(rows, chunk_size // rows * rows)


def extract_chunk(
    plan: TelescopePlan,
    waveforms: np.ndarray,
    rows: np.ndarray | None = None,
    out: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Calibrated charge and peak time [ns] of a chunk of one telescope's uint16 waveforms,
    with the plan's extractor and the coefficient row ``rows`` of each event (written into
    ``out`` if given)."""
    geometry, ext, cal = plan.geometry, plan.extraction, plan.coefficients
    return extract_images(
        waveforms,
        geometry.neighbor_offsets,
        geometry.neighbor_indices,
        plan.sampling_rate_ghz,
        method=ext.method,
        window_width=ext.window_width,
        window_shift=ext.window_shift,
        peak_index=ext.peak_index,
        local_weight=ext.local_weight,
        correction=plan.correction,
        pedestal_offset=cal.pedestal_offset,
        factor=cal.factor,
        time_shift_ns=cal.time_shift_ns,
        outlier_mask=cal.outlier_mask,
        rows=rows,
        out=out,
    )


def clean_chunk(
    plan: TelescopePlan,
    image: np.ndarray,
    peak_time: np.ndarray,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """The cleaning masks of a chunk of one telescope's images, with the plan's cleaning
    (written into ``out`` if given)."""
    geometry, cln = plan.geometry, plan.cleaning
    return clean_images(
        image,
        geometry.neighbor_offsets,
        geometry.neighbor_indices,
        picture_threshold=cln.picture_threshold_pe,
        boundary_threshold=cln.boundary_threshold_pe,
        min_picture_neighbors=cln.min_picture_neighbors,
        keep_isolated_pixels=cln.keep_isolated_pixels,
        peak_times=peak_time,
        time_limit_ns=cln.time_limit_ns,
        time_min_neighbors=cln.time_min_neighbors,
        out=out,
    )


def process_chunk_arrays(
    waveforms: np.ndarray,
    rows: np.ndarray,
    plan: TelescopePlan,
    rng: np.random.Generator,
    buffers: ChunkBuffers | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Images, peak times, masks and the parameters (the arrays ``(floats, ints, is_valid)``) of
    one chunk of one telescope; images, peak times and masks are written into ``buffers`` (views
    returned) if given."""
    geometry = plan.geometry
    image_out = peak_time_out = masks_out = None
    if buffers is not None:
        image_out, peak_time_out, masks_out = buffers.first(len(waveforms))
    image, peak_time = extract_chunk(plan, waveforms, rows, out=(image_out, peak_time_out))
    masks = clean_chunk(plan, image, peak_time, out=masks_out)
    return image, peak_time, masks, image_parameters(image, peak_time, masks, geometry, rng)


IDS_DTYPE = np.dtype([("obs_id", np.int32), ("event_id", np.int64), ("tel_id", np.int16)])


def _ids_rows(index_rows: np.ndarray, tel_id: int) -> np.ndarray:
    """The event ids of a chunk as a structured array (the leading parameter columns)."""
    ids = np.empty(len(index_rows), dtype=IDS_DTYPE)
    ids["obs_id"] = index_rows["obs_id"]
    ids["event_id"] = index_rows["event_id"]
    ids["tel_id"] = tel_id
    return ids


def _ids_table(index_rows: np.ndarray, tel_id: int) -> QTable:
    n = len(index_rows)
    return QTable(
        {
            "obs_id": np.asarray(index_rows["obs_id"], dtype=np.int32),
            "event_id": np.asarray(index_rows["event_id"], dtype=np.int64),
            "tel_id": np.full(n, tel_id, dtype=np.int16),
        }
    )


def _process_telescope(
    dl0: h5py.File,
    writer: ProductWriter,
    plan: TelescopePlan,
    config: DL0ToDL1Config,
    chunk_size: int,
    advance: Callable[[int], None],
) -> tuple[int, int]:
    """Process and write every event of one telescope; returns (n_events, n_valid)."""
    waves, index = _telescope_datasets(dl0, plan.tel_id)
    n_events, n_pixels, n_samples = waves.shape
    if n_pixels != plan.geometry.n_pixels:
        raise InputFileError(
            f"telescope {plan.tel_id} waveforms have {n_pixels} pixels, its camera "
            f"{plan.camera} has {plan.geometry.n_pixels}",
            path=dl0.filename,
        )
    times = EventTimes(dl0)
    rng = np.random.default_rng([config.timing_seed, plan.tel_id])
    step = _aligned_chunk(waves, chunk_size)
    buffer = np.empty((min(step, n_events), n_pixels, n_samples), dtype=waves.dtype)
    outputs = ChunkBuffers.allocate(len(buffer), n_pixels)
    params_path = layout.tel_path(layout.DL1_PARAMETERS, plan.tel_id)
    images_path = layout.tel_path(layout.DL1_IMAGES, plan.tel_id)
    n_valid = 0
    chunks = list(iter_chunks(n_events, step)) or [(0, 0)]
    for start, stop in chunks:
        ids = read_rows(index, start, stop)
        rows = plan.coefficients.rows_for(
            times.lookup(ids["event_id"].astype(np.int64)), _obs_id(dl0, ids)
        )
        block = buffer[: stop - start]
        if stop > start:
            try:
                waves.read_direct(block, np.s_[start:stop], np.s_[0 : stop - start])
            except (OSError, RuntimeError) as exc:
                raise InputFileError(
                    f"cannot read {waves.name} rows {start}:{stop} (truncated or corrupt "
                    f"file?): {exc}",
                    path=dl0.filename,
                ) from None
        image, peak_time, masks, (floats, ints, valid) = process_chunk_arrays(
            block, rows, plan, rng, outputs
        )
        writer.append_rows(
            params_path,
            parameters_rows(floats, ints, valid, _ids_rows(ids, plan.tel_id)),
            PARAMETER_UNITS,
        )
        if config.write_images:
            images = QTable(_ids_table(ids, plan.tel_id))
            images["image"] = image
            images["peak_time"] = peak_time * u.ns
            images["image_mask"] = masks
            writer.append_table(images_path, images)
        n_valid += int(np.count_nonzero(valid))
        advance(stop - start)
        stop_point("stage:chunk")
    attrs = {
        "camera": plan.camera,
        "extraction": plan.extraction.model_dump_json(),
        "cleaning": plan.cleaning.model_dump_json(),
    }
    writer.set_attrs(params_path, **attrs)
    if config.write_images:
        writer.set_attrs(images_path, **attrs)
    return n_events, n_valid


def _copy_pass_through(dl0: h5py.File, out: h5py.File) -> None:
    """Copy the instrument, simulation, trigger and monitoring nodes unchanged."""
    for path in PASS_THROUGH:
        for name in (path, path + META_SUFFIX):
            if name in dl0 and name not in out:
                parent = name.rsplit("/", 1)[0] or "/"
                out.require_group(parent)
                dl0.copy(dl0[name], out[parent], name=name.rsplit("/", 1)[1])


def _root_attrs(dl0: h5py.File) -> dict[str, Any]:
    return {k: v for k, v in dl0.attrs.items() if k not in ("schema_version", "data_level")}


@dataclass(frozen=True)
class DL1Job:
    """One file of a ``dl0-to-dl1`` task: its DL0 input, DL1 output and coefficients."""

    input_path: Path
    output_path: Path
    coefficients_path: Path


@dataclass
class _Checked:
    """A job whose input passed every check: what its processing needs."""

    job: DL1Job
    tel_ids: list[int]
    plans: dict[int, TelescopePlan]


class InstrumentCache:
    """Subarray descriptions read once per distinct instrument description in a task.

    The files of one production share their instrument: the second file's subarray (camera
    geometries, neighbour tables) is the first one's, found by a digest of the instrument
    tables' bytes.
    """

    def __init__(self) -> None:
        self._subarrays: dict[str, Any] = {}

    def subarray(self, dl0: h5py.File) -> Any:
        """The subarray description of an open DL0 product."""
        key = _instrument_digest(dl0)
        if key not in self._subarrays:
            self._subarrays[key] = read_subarray(dl0)
        return self._subarrays[key]


def _instrument_digest(dl0: h5py.File) -> str:
    """sha256 over the names and bytes of the instrument tables (empty if there are none)."""
    digest = hashlib.sha256()
    if layout.INSTRUMENT_GROUP not in dl0:
        return ""

    def add(name: str, node: h5py.HLObject) -> None:
        if isinstance(node, h5py.Dataset):
            digest.update(name.encode())
            digest.update(np.ascontiguousarray(node[()]).tobytes())
            digest.update(repr(sorted(node.attrs.items())).encode())

    dl0[layout.INSTRUMENT_GROUP].visititems(add)
    return digest.hexdigest()


def _check_job(job: DL1Job, config: DL0ToDL1Config, instruments: InstrumentCache) -> _Checked:
    """Everything about one file that can be checked before its first event: the subarray,
    the coefficients of every telescope and their coverage of every event."""
    with (
        open_product(job.input_path, level="DL0") as dl0,
        open_product(job.coefficients_path, level="CALIBRATION") as calibration,
    ):
        subarray = instruments.subarray(dl0)
        tel_ids = layout.tel_ids_in(dl0, layout.WAVEFORMS)
        unknown = [t for t in tel_ids if t not in subarray.telescopes]
        if unknown:
            raise InputFileError(
                f"telescope(s) {unknown} have waveforms but are not in the subarray description",
                path=job.input_path,
            )
        plans = {t: _plan(t, subarray, calibration, config) for t in tel_ids}
        check_coverage(dl0, plans)
    return _Checked(job, tel_ids, plans)


def dl0_to_dl1(
    input_path: str | Path,
    output_path: str | Path,
    coefficients_path: str | Path,
    config: DL0ToDL1Config | None = None,
    *,
    chunk_size: int | None = None,
    register: bool = True,
    catalog_url: str | None = None,
    campaign: str | None = None,
    overwrite: bool = False,
    show_progress: bool = False,
) -> DL1Summary:
    """Turn a DL0 product into a DL1 product (parameters, optionally images).

    Everything the stage needs is checked before the first event
    (:func:`~datapipe_ops.preflight.preflight`, then the coefficients' coverage of every event);
    the product appears at ``output_path`` in one rename, then is registered with its lineage
    in one catalog transaction.

    Parameters
    ----------
    input_path
        The DL0 product.
    output_path
        The DL1 product to write (atomically). An existing file is refused unless
        ``overwrite``; an output that is one of the inputs is refused always.
    coefficients_path
        The CalibPipe coefficients product (level CALIBRATION) covering the DL0 events.
    config
        Stage configuration (default: built-in defaults).
    chunk_size
        Telescope events per compiled call (default: the configuration's ``chunk_size``).
    register, catalog_url, campaign
        Register the product in ``campaign`` (which must exist), with its inputs (registered
        too if they are not yet), in the catalog at ``catalog_url`` (default:
        ``DATAPIPE_CATALOG_URL``).
    overwrite
        Replace an existing output (a DAG task passes it inside its own version directory, so
        that a retry is idempotent).
    show_progress
        Show a progress bar (telescope events) on stderr.

    Raises
    ------
    InputFileError
        Missing, truncated or foreign DL0 product, wrong schema version, inconsistent content.
    CalibrationError
        Missing coefficients, or events outside their validity.
    OutputError
        The output exists (without ``overwrite``), is an input, or cannot be written.
    CatalogError
        Registration is on and the catalog is unreachable or lacks the campaign.
    """
    job = DL1Job(Path(input_path), Path(output_path), Path(coefficients_path))
    (summary,) = dl0_to_dl1_files(
        [job],
        config,
        chunk_size=chunk_size,
        register=register,
        catalog_url=catalog_url,
        campaign=campaign,
        overwrite=overwrite,
        show_progress=show_progress,
    )
    return summary


def dl0_to_dl1_files(
    jobs: Sequence[DL1Job],
    config: DL0ToDL1Config | None = None,
    *,
    chunk_size: int | None = None,
    register: bool = True,
    catalog_url: str | None = None,
    campaign: str | None = None,
    overwrite: bool = False,
    show_progress: bool = False,
    before_first_event: Callable[[], None] | None = None,
) -> list[DL1Summary]:
    """:func:`dl0_to_dl1` for several files in one process: the fixed cost of a task
    (interpreter, imports, compiled kernels, catalog connection) is paid once for the group.

    Every file gets its own DL1 product, provenance, registration and lineage, exactly as if it
    were processed alone. Every input of every file is checked before the first event of the
    first file (:func:`~datapipe_ops.preflight.preflight` on all inputs and outputs, then each
    file's subarray, coefficients and coverage): a bad file fails the task with its one error
    before any output is written. The instrument set-up is shared by files with the same
    instrument description (:class:`InstrumentCache`); all inputs are hashed in one background
    thread in the order they are processed. ``before_first_event`` is called once every check
    has passed, before the first event is read (the command uses it to end its start-up).
    Arguments and errors are otherwise those of :func:`dl0_to_dl1`.
    """
    config = config or DL0ToDL1Config()
    chunk_size = chunk_size or config.chunk_size
    jobs = [
        DL1Job(absolute_path(j.input_path), absolute_path(j.output_path),
               absolute_path(j.coefficients_path))
        for j in jobs
    ]  # fmt: skip
    inputs = {job.input_path: "DL0" for job in jobs}  # a DL0 input given as coefficients too
    for job in jobs:  # fails as the level it must have as input
        inputs.setdefault(job.coefficients_path, "CALIBRATION")
    preflight(
        inputs,
        [job.output_path for job in jobs],
        overwrite=overwrite,
        register=register,
        catalog_url=catalog_url,
        campaign=campaign,
    )
    instruments = InstrumentCache()
    checked = [_check_job(job, config, instruments) for job in jobs]
    if before_first_event is not None:
        before_first_event()
    stop_point("stage:start")
    checksums = BackgroundChecksums(
        [path for job in jobs for path in (job.input_path, job.coefficients_path)]
    )
    summaries = []
    for item in checked:
        summary = _write_dl1(item, config, chunk_size, checksums, show_progress)
        if register:
            summary.product_id = register_dl1(
                summary, item.job.input_path, item.job.coefficients_path,
                summary.provenance, summary.root_attrs, catalog_url, campaign,
            )  # fmt: skip
        summaries.append(summary)
    return summaries


def _write_dl1(
    item: _Checked,
    config: DL0ToDL1Config,
    chunk_size: int,
    checksums: BackgroundChecksums,
    show_progress: bool,
) -> DL1Summary:
    """Process one checked file into its DL1 product (written atomically)."""
    job, tel_ids = item.job, item.tel_ids
    summary = DL1Summary(output=job.output_path)
    with open_product(job.input_path, level="DL0") as dl0:
        total = sum(dl0[layout.tel_path(layout.WAVEFORMS, t)].shape[0] for t in tel_ids)
        writer = ProductWriter(
            job.output_path,
            "DL1",
            stage=STAGE,
            config=config,
            inputs=[job.input_path, job.coefficients_path],
            attrs=_root_attrs(dl0),
            checksums=checksums,
        )
        with writer, progress_bar("dl0-to-dl1", total, enabled=show_progress) as advance:
            _copy_pass_through(dl0, writer.h5)
            for tel_id in tel_ids:
                n, n_valid = _process_telescope(
                    dl0, writer, item.plans[tel_id], config, chunk_size, advance
                )
                summary.telescope_events[tel_id] = n
                summary.n_telescope_events += n
                summary.n_valid += n_valid
        summary.n_events = dl0[layout.TRIGGER].shape[0] if layout.TRIGGER in dl0 else 0
        summary.root_attrs = _root_attrs(dl0)
    summary.provenance = writer.provenance
    return summary


def register_dl1(
    summary: DL1Summary,
    input_path: Path,
    coefficients_path: Path,
    provenance: dict[str, Any],
    root_attrs: dict[str, Any],
    catalog_url: str | None = None,
    campaign: str | None = None,
) -> int:
    """Register the DL1 product in ``campaign`` with its lineage, in one transaction (the
    inputs are registered in it too if they are not yet)."""
    from datapipe_ops.catalog import Catalog, ProductRecord

    hashes = {Path(r["path"]): r["sha256"] for r in provenance["inputs"]}
    obs_id = int(root_attrs["obs_id"]) if "obs_id" in root_attrs else None
    particle = root_attrs.get("particle")
    particle = particle.decode() if isinstance(particle, bytes) else particle
    inputs = [
        ProductRecord(
            path=path.absolute(),
            level=level,
            sha256=hashes.get(path.absolute()),
            size_bytes=path.stat().st_size,
            obs_id=obs_id,
            particle=particle if level == "DL0" else None,
        )
        for path, level in ((input_path, "DL0"), (coefficients_path, "CALIBRATION"))
    ]
    record = ProductRecord.from_file(
        summary.output.absolute(),
        level="DL1",
        campaign=campaign,
        n_events=summary.n_events,
        obs_id=obs_id,
        particle=particle,
        config_hash=provenance["config_hash"],
    )
    with Catalog(catalog_url) as catalog:
        return catalog.register_product(record, new_inputs=inputs)
