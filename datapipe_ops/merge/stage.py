"""``datapipe merge``: DL1 or DL2 products into one product, streamed in blocks of rows.

:func:`merge_products` writes one product of the inputs' level in which

* every event table and array (trigger, DL1 parameters and images, DL2 tables, simulation
  truth, pointing) and every run table (``/configuration/simulation/run``,
  ``/configuration/observation/*``) is the concatenation of the inputs' (inputs in the order
  of their first ``(obs_id, event_id)``, so that merged runs stay sorted);
* ``/simulation/service/shower_distribution`` histograms are summed: one row per particle and
  binning, ``n_entries`` and ``histogram`` the sums, ``obs_id`` -1 when several runs were
  summed;
* the instrument description and ``/dl2/service/models`` are the first input's (all inputs
  must agree; an instrument written before the ctapipe-readable tables existed is written
  anew with them);
* the provenance lists every input with its sha256; the root attributes are those all inputs
  share, plus ``merged`` (True), ``n_inputs`` and ``processing_config_hash``.

Memory is bounded by the block size (one input file open at a time, every dataset copied in
blocks of about :data:`BLOCK_BYTES`), whatever the number and size of the inputs. Where an
input's dataset has the output's dtype, chunk shape and filters and its rows start on a chunk
boundary of the output, its stored chunks are copied without decoding (:func:`_direct_rows`);
the other rows are decoded and written again (the content is the same either way). Before
anything is written every input is checked: readable, a DL1 or DL2 product of this schema
version, the same level, schema version, instrument, processing configuration (the
``config_hash`` of the stage that made it, or of the products a merged input was made from)
and model set as the first input, and the same tables with the same column types; the first
input that differs is named in a one-line :class:`~datapipe_ops.errors.InputFileError`.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from datapipe_ops.errors import InputFileError
from datapipe_ops.io import ProductWriter, layout, open_product, read_provenance
from datapipe_ops.io.instrument import CTAPIPE_CAMERA_GROUP, read_subarray
from datapipe_ops.io.outputs import check_output
from datapipe_ops.io.tables import META_SUFFIX, read_rows
from datapipe_ops.progress import progress_bar

log = logging.getLogger(__name__)

STAGE = "merge"
#: levels that can be merged
LEVELS = ("DL1", "DL2")
#: bytes of rows read and written at a time per dataset
BLOCK_BYTES = 8 << 20
#: taken from the first input only (all inputs agree on them)
FIRST_ONLY = (layout.INSTRUMENT_GROUP, layout.DL2_MODELS)
#: second names of tables (hard links) that the product writer recreates
ALIASES = (layout.CTAPIPE_TRIGGER, layout.CTAPIPE_TRIGGER + META_SUFFIX)
#: root attributes that are the merge's own
OWN_ATTRS = ("schema_version", "data_level", "merged", "n_inputs", "processing_config_hash")


@dataclass
class MergeSummary:
    """What a merge produced."""

    output: Path
    n_inputs: int = 0
    n_events: int = 0
    n_bytes_read: int = 0
    #: of those, the bytes whose stored chunks were copied without decoding
    n_bytes_direct: int = 0
    product_id: int | None = None


@dataclass
class _Input:
    """What the checks learn about one input."""

    path: Path
    level: str
    schema_version: str
    config_hash: str
    model_set_id: str | None
    first_key: tuple[int, int]
    datasets: dict[str, tuple[np.dtype, tuple[int, ...]]]
    instrument: str
    event_ranges: dict[int, tuple[int, int]]
    attrs: dict[str, Any]
    n_events: int


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def processing_config_hash(h5file: h5py.File) -> str:
    """The configuration hash of the processing that made a product (its stage's, or for a
    merged product the one its inputs shared)."""
    inherited = h5file.attrs.get("processing_config_hash")
    if inherited is not None:
        return _text(inherited)
    return str(read_provenance(h5file).get("config_hash", ""))


def _is_first_only(name: str) -> bool:
    return any(name == p or name.startswith(p + "/") for p in FIRST_ONLY)


def _data_datasets(h5file: h5py.File) -> dict[str, tuple[np.dtype, tuple[int, ...]]]:
    """Every dataset that is merged row-wise: path → (dtype, shape)."""
    found: dict[str, tuple[np.dtype, tuple[int, ...]]] = {}

    def visit(name: str, link: h5py.HardLink | h5py.SoftLink | h5py.ExternalLink) -> None:
        path = "/" + name
        if path.endswith(META_SUFFIX) or _is_first_only(path) or path in ALIASES:
            return
        node = h5file.get(path)
        if isinstance(node, h5py.Dataset):
            found[path] = (node.dtype, node.shape)

    h5file.visititems_links(visit)
    return found


def _inspect(path: Path) -> _Input:
    with open_product(path, level=LEVELS) as h5:
        level = _text(h5.attrs["data_level"])
        first_key = (1 << 62, 1 << 62)
        n_events = 0
        if layout.TRIGGER in h5:
            n_events = int(h5[layout.TRIGGER].shape[0])
            if n_events:
                row = read_rows(h5[layout.TRIGGER], 0, 1)[0]
                first_key = (int(row["obs_id"]), int(row["event_id"]))
        model_set = h5.attrs.get("model_set_id")
        return _Input(
            path=path,
            level=level,
            schema_version=_text(h5.attrs["schema_version"]),
            config_hash=processing_config_hash(h5),
            model_set_id=None if model_set is None else _text(model_set),
            first_key=first_key,
            datasets=_data_datasets(h5),
            instrument=instrument_digest(h5),
            event_ranges=_event_ranges(h5),
            attrs={k: v for k, v in h5.attrs.items() if k not in OWN_ATTRS},
            n_events=n_events,
        )


def _event_ranges(h5file: h5py.File) -> dict[int, tuple[int, int]]:
    """obs_id → (first, last) event_id of the trigger table, read in blocks."""
    ranges: dict[int, tuple[int, int]] = {}
    if layout.TRIGGER not in h5file:
        return ranges
    dset = h5file[layout.TRIGGER]
    step = max(1, BLOCK_BYTES // dset.dtype.itemsize)
    for start in range(0, dset.shape[0], step):
        rows = read_rows(dset, start, start + step)
        for obs_id in np.unique(rows["obs_id"]):
            events = rows["event_id"][rows["obs_id"] == obs_id]
            low, high = int(events.min()), int(events.max())
            if int(obs_id) in ranges:
                low, high = min(low, ranges[int(obs_id)][0]), max(high, ranges[int(obs_id)][1])
            ranges[int(obs_id)] = (low, high)
    return ranges


def _overlap(inputs: Sequence[_Input]) -> tuple[_Input, _Input, int] | None:
    """Two inputs holding events of the same run with overlapping event ids, if any."""
    seen: dict[int, list[tuple[int, int, _Input]]] = {}
    for item in inputs:
        for obs_id, (low, high) in item.event_ranges.items():
            for other_low, other_high, other in seen.get(obs_id, []):
                if low <= other_high and other_low <= high:
                    return other, item, obs_id
            seen.setdefault(obs_id, []).append((low, high, item))
    return None


def _instrument(path: Path) -> Any:
    with open_product(path) as h5:
        return read_subarray(h5)


def instrument_digest(h5file: h5py.File) -> str:
    """sha256 of the instrument tables' rows (cheap: no subarray is built)."""
    digest = hashlib.sha256()
    names: list[str] = []
    if layout.INSTRUMENT_GROUP in h5file:
        h5file[layout.INSTRUMENT_GROUP].visit(names.append)
    for name in sorted(names):
        node = h5file[layout.INSTRUMENT_GROUP][name]
        if isinstance(node, h5py.Dataset) and not name.endswith(META_SUFFIX):
            digest.update(name.encode())
            digest.update(np.ascontiguousarray(read_rows(node)).tobytes())
    return digest.hexdigest()


def check_inputs(paths: Sequence[Path]) -> list[_Input]:
    """Inspect every input and refuse (one line naming the file) any that differs from the
    first in level, schema version, instrument, processing configuration, model set or tables,
    or that holds events of a run another input has too (overlapping event ids).
    """
    if not paths:
        raise InputFileError("no input products to merge")
    inputs = [_inspect(Path(p)) for p in paths]
    first = inputs[0]
    instrument = None
    for other in inputs[1:]:
        name = first.path.name
        if other.level != first.level:
            problem = f"is a {other.level} product, {name} is {first.level}"
        elif other.schema_version != first.schema_version:
            problem = f"schema version {other.schema_version} differs from {name}'s "
            problem += first.schema_version
        elif other.config_hash != first.config_hash:
            problem = f"processing configuration {other.config_hash} differs from {name}'s "
            problem += first.config_hash
        elif other.model_set_id != first.model_set_id:
            problem = f"model set {other.model_set_id} differs from {name}'s {first.model_set_id}"
        elif other.instrument != first.instrument and (
            _instrument(other.path) != (instrument := instrument or _instrument(first.path))
        ):  # the tables differ: compare the descriptions (another software version?)
            problem = f"instrument description differs from {name}'s"
        else:
            problem = _table_difference(first, other)
        if problem:
            raise InputFileError(problem, path=other.path)
    overlap = _overlap(inputs)
    if overlap is not None:
        earlier, later, obs_id = overlap
        raise InputFileError(
            f"has events of obs_id {obs_id} that {earlier.path.name} also has (merged twice?)",
            path=later.path,
        )
    return inputs


def _table_difference(first: _Input, other: _Input) -> str:
    missing = sorted(set(first.datasets) - set(other.datasets))
    extra = sorted(set(other.datasets) - set(first.datasets))
    if missing:
        return f"lacks {missing[0]} that {first.path.name} has"
    if extra:
        return f"has {extra[0]} that {first.path.name} lacks"
    for path, (dtype, shape) in first.datasets.items():
        other_dtype, other_shape = other.datasets[path]
        if other_dtype != dtype or other_shape[1:] != shape[1:]:
            return f"{path} has other columns or shape than in {first.path.name}"
    return ""


def _common_attrs(inputs: Sequence[_Input]) -> dict[str, Any]:
    out = {}
    for key, value in inputs[0].attrs.items():
        if all(key in i.attrs and np.array_equal(i.attrs[key], value) for i in inputs[1:]):
            out[key] = value
    return out


def _create_like(out: h5py.File, source: h5py.Dataset, path: str, n_rows: int) -> h5py.Dataset:
    """An output dataset of ``n_rows`` with the source's dtype, chunks, filters and attrs."""
    parent, _, leaf = path.rpartition("/")
    group = out.require_group(parent or "/")
    options: dict[str, Any] = {"chunks": source.chunks}
    if source.compression is not None:
        options["compression"] = source.compression
        options["compression_opts"] = source.compression_opts
        options["shuffle"] = source.shuffle
    else:
        plist = source.id.get_create_plist()
        if plist.get_nfilters():  # a plugin filter (e.g. Blosc through hdf5plugin)
            code, _, values, _ = plist.get_filter(0)
            options["compression"] = code
            options["compression_opts"] = tuple(values)
    dset = group.create_dataset(
        leaf,
        shape=(n_rows, *source.shape[1:]),
        maxshape=(None, *source.shape[1:]),
        dtype=source.dtype,
        track_times=False,
        **options,
    )
    for key, value in source.attrs.items():
        dset.attrs[key] = value
    return dset


def _block_rows(dset: h5py.Dataset) -> int:
    row_bytes = dset.dtype.itemsize * int(np.prod(dset.shape[1:], dtype=np.int64))
    rows = max(1, BLOCK_BYTES // max(row_bytes, 1))
    if dset.chunks:
        rows = max(dset.chunks[0], rows // dset.chunks[0] * dset.chunks[0])
    return rows


def _filters(dset: h5py.Dataset) -> tuple[tuple[Any, ...], ...]:
    """The dataset's filter pipeline: (code, flags, values) of every filter, in order."""
    plist = dset.id.get_create_plist()
    return tuple(plist.get_filter(i)[:3] for i in range(plist.get_nfilters()))


def _direct_rows(source: h5py.Dataset, target: h5py.Dataset, start: int) -> int:
    """How many leading rows of ``source`` can be copied into ``target`` from row ``start`` as
    stored (compressed) chunks: whole chunks, when both have the same dtype, chunk shape (one
    chunk across the row) and filters and ``start`` is on a chunk boundary; also the partial
    last chunk when it ends the target."""
    chunks, n_rows = source.chunks, source.shape[0]
    if (
        not chunks
        or not n_rows
        or chunks != target.chunks
        or chunks[1:] != source.shape[1:]
        or start % chunks[0]
        or source.dtype != target.dtype
        or _filters(source) != _filters(target)
    ):
        return 0
    n_chunks = -(-n_rows // chunks[0])
    if source.id.get_num_chunks() != n_chunks:  # a chunk never written: decode (fill values)
        return 0
    if start + n_rows == target.shape[0]:
        return n_rows
    return n_rows // chunks[0] * chunks[0]


def _copy_chunks(source: h5py.Dataset, target: h5py.Dataset, start: int, n_rows: int) -> None:
    """Copy the stored chunks holding rows ``0:n_rows`` of ``source`` (see
    :func:`_direct_rows`) to ``target`` from row ``start``, without decoding them."""
    step, tail = source.chunks[0], (0,) * (source.ndim - 1)
    for first in range(0, n_rows, step):
        try:
            mask, data = source.id.read_direct_chunk((first, *tail))
        except (OSError, RuntimeError) as exc:
            raise InputFileError(
                f"cannot read {source.name} rows {first}:{first + step} (truncated or corrupt"
                f" file?): {exc}",
                path=source.file.filename,
            ) from None
        target.id.write_direct_chunk((start + first, *tail), data, mask)


def _append(
    source: h5py.Dataset, target: h5py.Dataset, start: int, direct: bool = True
) -> tuple[int, int]:
    """Copy every row of ``source`` into ``target`` from row ``start``; return the bytes
    (uncompressed) of all rows and of those copied as stored chunks.

    Where the layouts allow (:func:`_direct_rows`) the stored chunks are copied as they are;
    the other rows (all of them when ``direct`` is false) are decoded and written in blocks.
    """
    n_rows = source.shape[0]
    row_bytes = source.dtype.itemsize * int(np.prod(source.shape[1:], dtype=np.int64))
    copied = _direct_rows(source, target, start) if direct else 0
    if copied:
        _copy_chunks(source, target, start, copied)
    step = _block_rows(source)
    for first in range(copied, n_rows, step):
        stop = min(first + step, n_rows)
        target[start + first : start + stop] = read_rows(source, first, stop)
    return n_rows * row_bytes, copied * row_bytes


class _Histograms:
    """Shower-distribution rows summed by (particle, hist_id, binning)."""

    def __init__(self) -> None:
        self.rows: dict[bytes, np.ndarray] = {}
        self.runs: dict[bytes, int] = {}

    def add(self, rows: np.ndarray) -> None:
        for row in rows:
            key = b"".join(
                np.ascontiguousarray(row[name]).tobytes()
                for name in row.dtype.names
                if name not in ("obs_id", "n_entries", "histogram")
            )
            if key not in self.rows:
                self.rows[key] = row.copy()
                self.runs[key] = 1
            else:
                self.rows[key]["n_entries"] += row["n_entries"]
                self.rows[key]["histogram"] += row["histogram"]
                self.runs[key] += 1

    def table(self, dtype: np.dtype) -> np.ndarray:
        out = np.empty(len(self.rows), dtype=dtype)
        for i, (key, row) in enumerate(self.rows.items()):
            out[i] = row
            if self.runs[key] > 1:
                out[i]["obs_id"] = -1
        return out


def merge_products(
    inputs: Sequence[str | Path],
    output_path: str | Path,
    *,
    overwrite: bool = False,
    register: bool = True,
    catalog_url: str | None = None,
    show_progress: bool = False,
    direct_chunks: bool = True,
) -> MergeSummary:
    """Merge DL1 or DL2 products into ``output_path`` (see the module docstring).

    With ``direct_chunks`` (the default) stored chunks are copied without decoding wherever an
    input's layout matches the output's; without, every row is decoded and encoded again (the
    content is the same either way).

    Raises
    ------
    InputFileError
        An input is missing, unreadable, not DL1/DL2, or differs from the first; the output
        is an input, exists without ``overwrite`` or cannot be written.
    CatalogError
        The catalog cannot be reached (when registering).
    """
    paths = [Path(p) for p in inputs]
    output_path = Path(output_path)
    check_output(output_path, paths, overwrite)
    checked = check_inputs(paths)
    checked.sort(key=lambda i: i.first_key)
    if register:
        from datapipe_ops.catalog import Catalog

        with Catalog(catalog_url) as catalog:
            catalog.find_product(output_path.absolute())
    first = checked[0]
    totals = {
        path: sum(i.datasets[path][1][0] for i in checked)
        for path in first.datasets
        if path != layout.SHOWER_DISTRIBUTION
    }
    attrs = _common_attrs(checked) | {
        "merged": True,
        "n_inputs": len(checked),
        "processing_config_hash": first.config_hash,
    }
    summary = MergeSummary(output=output_path, n_inputs=len(checked))
    summary.n_events = sum(i.n_events for i in checked)
    writer = ProductWriter(
        output_path, first.level, stage=STAGE, inputs=[i.path for i in checked], attrs=attrs
    )
    histograms = _Histograms()
    histogram_dtype = None
    with writer, progress_bar("merge", len(checked), enabled=show_progress) as advance:
        out = writer.h5
        offsets = dict.fromkeys(totals, 0)
        for n, item in enumerate(checked):
            with open_product(item.path, level=LEVELS) as h5:
                if n == 0:
                    if CTAPIPE_CAMERA_GROUP not in h5:  # written before ctapipe's tables
                        writer.write_subarray(read_subarray(h5))
                    writer.copy_nodes(h5, FIRST_ONLY)
                    for path in first.datasets:
                        meta = path + META_SUFFIX
                        if meta in h5:
                            writer.copy_nodes(h5, [meta])
                for path in first.datasets:
                    source = h5[path]
                    if path == layout.SHOWER_DISTRIBUTION:
                        histograms.add(read_rows(source))
                        histogram_dtype = source.dtype
                        continue
                    if path not in out:
                        _create_like(out, source, path, totals[path])
                    n_bytes, n_direct = _append(source, out[path], offsets[path], direct_chunks)
                    summary.n_bytes_read += n_bytes
                    summary.n_bytes_direct += n_direct
                    offsets[path] += source.shape[0]
                if n == 0:
                    _copy_group_attrs(h5, out)
            advance(1)
        if histogram_dtype is not None:
            with open_product(first.path) as h5:
                source = h5[layout.SHOWER_DISTRIBUTION]
                rows = histograms.table(histogram_dtype)
                dset = _create_like(out, source, layout.SHOWER_DISTRIBUTION, len(rows))
                if len(rows):
                    dset[:] = rows
    if register:
        summary.product_id = register_merged(summary, checked, writer.provenance, catalog_url)
    return summary


def _copy_group_attrs(source: h5py.File, out: h5py.File) -> None:
    """Attributes of the groups (e.g. a model set id on /dl2/service) of the first input."""

    def visit(name: str, node: h5py.HLObject) -> None:
        if isinstance(node, h5py.Group) and name in out and name != "provenance":
            for key, value in node.attrs.items():
                out[name].attrs[key] = value

    source.visititems(visit)


def register_merged(
    summary: MergeSummary,
    inputs: Sequence[_Input],
    provenance: dict[str, Any],
    catalog_url: str | None = None,
) -> int:
    """Register the merged product with lineage to every input (registered first if needed)."""
    from datapipe_ops.catalog import Catalog, ProductRecord

    hashes = {Path(r["path"]): r["sha256"] for r in provenance["inputs"]}
    particles = {_text(i.attrs["particle"]) for i in inputs if "particle" in i.attrs}
    particle = particles.pop() if len(particles) == 1 else None
    with Catalog(catalog_url) as catalog:
        paths = []
        for item in inputs:
            path = item.path.absolute()
            if catalog.find_product(path) is None:
                catalog.register_product(
                    ProductRecord(
                        path=path,
                        level=item.level,
                        sha256=hashes.get(path),
                        size_bytes=path.stat().st_size,
                        n_events=item.n_events,
                    )
                )
            paths.append(path)
        record = ProductRecord.from_file(
            summary.output.absolute(),
            level=inputs[0].level,
            kind="merged",
            n_events=summary.n_events,
            particle=particle,
            config_hash=inputs[0].config_hash or None,
        )
        return catalog.register_product(record, inputs=paths)
