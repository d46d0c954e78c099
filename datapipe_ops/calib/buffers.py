"""Output arrays reused from chunk to chunk.

A fresh numpy array of a few megabytes is new memory: the kernel page-faults it in, one fault
per 4 KiB page, and the kernel zeroes each page first. For a chunk of LSTCam images that costs
several microseconds per telescope event, as much as a whole compiled pass. The stage therefore
allocates its per-chunk outputs once per telescope (:class:`ChunkBuffers`) and the kernels write
into them (their ``out`` arguments, checked by :func:`output_array`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def output_array(out: np.ndarray | None, shape: tuple[int, ...], dtype: type) -> np.ndarray:
    """``out``, checked to be a C-contiguous ``shape`` array of ``dtype``; or a new array."""
    if out is None:
        return np.empty(shape, dtype=dtype)
    if out.shape != shape or out.dtype != dtype or not out.flags.c_contiguous:
        raise ValueError(f"out must be a C-contiguous {np.dtype(dtype)} array of shape {shape}")
    return out


@dataclass(frozen=True)
class ChunkBuffers:
    """Images, peak times and cleaning masks of up to ``capacity`` telescope events."""

    image: np.ndarray
    peak_time: np.ndarray
    masks: np.ndarray

    @classmethod
    def allocate(cls, capacity: int, n_pixels: int) -> ChunkBuffers:
        """Buffers for chunks of at most ``capacity`` events of a ``n_pixels`` camera."""
        shape = (capacity, n_pixels)
        return cls(
            np.empty(shape, np.float32), np.empty(shape, np.float32), np.empty(shape, np.bool_)
        )

    @property
    def capacity(self) -> int:
        """The most events a chunk may have."""
        return self.image.shape[0]

    def first(self, n_events: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Image, peak-time and mask arrays of the first ``n_events`` rows (views)."""
        if n_events > self.capacity:
            raise ValueError(f"a chunk of {n_events} events exceeds the buffers ({self.capacity})")
        return self.image[:n_events], self.peak_time[:n_events], self.masks[:n_events]
