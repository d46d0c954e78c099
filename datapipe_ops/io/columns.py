"""Reading a few columns of a compressed HDF5 table fast.

Our tables are 1-D chunked compound datasets filtered with shuffle + deflate
(:data:`datapipe_ops.io.tables.TABLE_COMPRESSION`). Asking HDF5 for some fields of such a table
costs about three times the decompression itself (HDF5 un-shuffles every byte and converts the
compound type row by row). :func:`read_columns` reads each stored chunk as it is on disk,
inflates it with :mod:`zlib` and picks the wanted fields straight out of the shuffled bytes
(byte ``k`` of row ``i`` of a shuffled chunk of ``n`` rows sits at ``k * n + i``), so only the
bytes of the wanted columns are ever rearranged. Any other layout, filter, byte order or a chunk
stored with a filter skipped goes through h5py's own reader: the result is the same either way.
"""

from __future__ import annotations

import functools
import os
import zlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext

import h5py
import numpy as np
from numba import njit

_SHUFFLE = h5py.h5z.FILTER_SHUFFLE
_DEFLATE = h5py.h5z.FILTER_DEFLATE
#: threads inflating chunks
_WORKERS = min(2, os.cpu_count() or 1)


def _filters(dset: h5py.Dataset) -> tuple[int, ...]:
    plist = dset.id.get_create_plist()
    return tuple(plist.get_filter(i)[0] for i in range(plist.get_nfilters()))


def _raw_readable(dset: h5py.Dataset, names: Sequence[str]) -> bool:
    """Whether the stored bytes of ``dset`` can be decoded here (else h5py reads it)."""
    dtype = dset.dtype
    if dset.ndim != 1 or dset.chunks is None or dtype.names is None:
        return False
    if _filters(dset) not in ((_SHUFFLE, _DEFLATE), (_DEFLATE,)):
        return False
    if dset.id.get_type().get_size() != dtype.itemsize:
        return False
    for name in names:
        field = dtype.fields[name][0]
        base = field.base
        if base.kind not in "biuf" or (base.itemsize > 1 and base.byteorder not in "<="):
            return False
    return np.little_endian


def _stored_chunk(dset: h5py.Dataset, first: int) -> bytes | None:
    """The stored bytes of the chunk starting at row ``first`` (None: not stored, or stored
    with a filter skipped)."""
    try:
        mask, raw = dset.id.read_direct_chunk((first,))
    except (KeyError, OSError, RuntimeError, ValueError):
        return None
    return None if mask else raw


def _inflate(
    raw: bytes | None, itemsize: int, chunk_rows: int, shuffled: bool
) -> np.ndarray | None:
    """The bytes of one stored chunk as (bytes of a row, rows) planes if ``shuffled`` else
    (rows, bytes of a row); None if it does not inflate to a whole chunk."""
    if raw is None:
        return None
    try:
        data = np.frombuffer(zlib.decompress(raw), np.uint8)
    except zlib.error:
        return None
    if data.size != chunk_rows * itemsize:
        return None
    return data.reshape((itemsize, chunk_rows) if shuffled else (chunk_rows, itemsize))


@njit(cache=True, nogil=True)
def _unshuffle_into(
    planes: np.ndarray, offset: int, skip: int, n: int, out: np.ndarray, out_start: int
) -> None:
    """Bytes ``offset…`` of rows ``skip:skip+n`` of shuffled ``planes`` into the rows
    ``out_start…`` of ``out`` (rows × bytes of one field)."""
    size = out.shape[1]
    if size == 8:  # a constant count lets the compiler unroll the common sizes
        for i in range(n):
            for k in range(8):
                out[out_start + i, k] = planes[offset + k, skip + i]
    elif size == 4:
        for i in range(n):
            for k in range(4):
                out[out_start + i, k] = planes[offset + k, skip + i]
    else:
        for i in range(n):  # rows outside: the writes stay contiguous
            for k in range(size):
                out[out_start + i, k] = planes[offset + k, skip + i]


def read_columns(
    dset: h5py.Dataset, names: Sequence[str], start: int | None = None, stop: int | None = None
) -> dict[str, np.ndarray]:
    """Columns ``names`` of rows ``start:stop`` of a table, one array per column (field dtype
    and shape as h5py gives them)."""
    names = list(names)
    start, stop, _ = slice(start, stop).indices(dset.shape[0] if dset.ndim == 1 else 0)
    if not _raw_readable(dset, names):
        rows = dset.fields(names)[start:stop]
        return {name: np.asarray(rows[name]) for name in names}
    dtype = dset.dtype
    chunk_rows = dset.chunks[0]
    shuffled = _filters(dset)[0] == _SHUFFLE
    n_out = max(stop - start, 0)
    out = {
        name: np.empty((n_out, *dtype.fields[name][0].shape), dtype.fields[name][0].base)
        for name in names
    }
    # each column as rows × its bytes, written in place
    out_bytes = {
        name: out[name]
        .reshape(n_out, dtype.fields[name][0].itemsize // dtype.fields[name][0].base.itemsize)
        .view(np.uint8)
        for name in names
    }
    starts = range(start - start % chunk_rows, stop, chunk_rows)
    stored = [_stored_chunk(dset, first) for first in starts]  # h5py: one thread at a time
    inflate = functools.partial(
        _inflate, itemsize=dtype.itemsize, chunk_rows=chunk_rows, shuffled=shuffled
    )
    # zlib inflates without the GIL: the chunks inflate on the pool while this thread copies
    workers = min(_WORKERS, len(starts))
    with ThreadPoolExecutor(workers) if workers > 1 else nullcontext() as pool:
        chunks = pool.map(inflate, stored) if pool else map(inflate, stored)
        for first, data in zip(starts, chunks, strict=True):
            a, b = max(first, start), min(first + chunk_rows, stop)
            for name in names:
                offset = dtype.fields[name][1]
                size = dtype.fields[name][0].itemsize
                if data is None:
                    out[name][a - start : b - start] = dset.fields(name)[a:b]
                elif shuffled:
                    _unshuffle_into(data, offset, a - first, b - a, out_bytes[name], a - start)
                else:
                    out_bytes[name][a - start : b - start] = data[
                        a - first : b - first, offset : offset + size
                    ]
    return out
