"""Image cleaning: tail cuts with an optional time constraint, over a chunk of images at once.

Definitions are ctapipe 0.32's (``ctapipe.image.cleaning``), so the masks are identical:

tail cuts (``tailcuts_clean``)
    *picture* pixels have ``image >= picture_threshold`` (and, unless isolated pixels are kept,
    at least ``min_picture_neighbors`` picture neighbours); a pixel survives if it is a picture
    pixel with a neighbour above the boundary threshold (any picture pixel when
    ``keep_isolated_pixels``), or it is above ``boundary_threshold`` with a picture neighbour.
time constraint (``apply_time_delta_cleaning``)
    a surviving pixel is kept only if at least ``time_min_neighbors`` of its surviving
    neighbours have a peak time within ``time_limit_ns`` of its own.

Thresholds are compared in the image's float32 precision, as numpy compares a float32 array
with a Python float.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from datapipe_ops.calib.buffers import output_array
from datapipe_ops.image.masks import selected_pixels


@njit(cache=True)
def _tailcuts_one(
    image,
    picture,
    boundary,
    min_picture_neighbors,
    keep_isolated,
    offsets,
    indices,
    above_pic,
    in_picture,
    above_bnd,
    candidates,
    mask,
):
    """Tail-cuts mask of one image into ``mask`` (uint8); returns the number of candidates.

    Only pixels above one of the thresholds (``candidates[:n]`` on return, ascending) can
    survive; every other pixel is False after one vectorised pass.
    """
    n_pixels = image.shape[0]
    for p in range(n_pixels):
        value = image[p]
        above_pic[p] = value >= picture
        above_bnd[p] = value >= boundary
        in_picture[p] = above_pic[p]
        mask[p] = above_pic[p] | above_bnd[p]
    n = selected_pixels(mask, candidates)
    if not keep_isolated and min_picture_neighbors > 0:
        for c in range(n):
            p = candidates[c]
            if above_pic[p]:
                count = 0
                for k in range(offsets[p], offsets[p + 1]):
                    count += above_pic[indices[k]]
                in_picture[p] = count >= min_picture_neighbors
    for c in range(n):
        p = candidates[c]
        picture_neighbor = False
        boundary_neighbor = False
        for k in range(offsets[p], offsets[p + 1]):
            neighbor = indices[k]
            picture_neighbor |= in_picture[neighbor] != 0
            boundary_neighbor |= above_bnd[neighbor] != 0
        kept = above_bnd[p] and picture_neighbor
        if keep_isolated:
            mask[p] = kept or in_picture[p]
        else:
            mask[p] = kept or (in_picture[p] and boundary_neighbor)
    return n


@njit(cache=True)
def _time_delta_one(mask, candidates, peak_time, time_limit, min_neighbors, offsets, indices, out):
    """Time constraint on the tail-cuts ``mask`` into ``out``.

    Only the ``candidates`` of :func:`_tailcuts_one` can be in ``mask``; every other pixel of
    ``out`` is set False.
    """
    for p in range(mask.shape[0]):
        out[p] = False
    for c in range(candidates.shape[0]):
        p = candidates[c]
        if not mask[p]:
            continue
        count = 0
        for k in range(offsets[p], offsets[p + 1]):
            neighbor = indices[k]
            if mask[neighbor] and abs(peak_time[p] - peak_time[neighbor]) < time_limit:
                count += 1
        out[p] = count >= min_neighbors


@njit(cache=True)
def _clean_chunk(
    images,
    peak_times,
    picture,
    boundary,
    min_picture_neighbors,
    keep_isolated,
    use_time,
    time_limit,
    time_min_neighbors,
    offsets,
    indices,
    masks,
):
    n_events, n_pixels = images.shape
    above_pic = np.empty(n_pixels, dtype=np.uint8)
    in_picture = np.empty(n_pixels, dtype=np.uint8)
    above_bnd = np.empty(n_pixels, dtype=np.uint8)
    tail = np.empty(n_pixels, dtype=np.uint8)
    candidates = np.empty(n_pixels, dtype=np.int64)
    for e in range(n_events):
        n = _tailcuts_one(
            images[e],
            picture,
            boundary,
            min_picture_neighbors,
            keep_isolated,
            offsets,
            indices,
            above_pic,
            in_picture,
            above_bnd,
            candidates,
            tail if use_time else masks[e],
        )
        if use_time:
            _time_delta_one(
                tail,
                candidates[:n],
                peak_times[e],
                time_limit,
                time_min_neighbors,
                offsets,
                indices,
                masks[e],
            )


def clean_images(
    images: np.ndarray,
    neighbor_offsets: np.ndarray,
    neighbor_indices: np.ndarray,
    *,
    picture_threshold: float,
    boundary_threshold: float,
    min_picture_neighbors: int = 0,
    keep_isolated_pixels: bool = False,
    peak_times: np.ndarray | None = None,
    time_limit_ns: float | None = None,
    time_min_neighbors: int = 1,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Cleaning masks of a chunk of images (True: the pixel is part of the shower image).

    Parameters
    ----------
    images
        ``(n_events, n_pixels)`` charges [p.e.].
    neighbor_offsets, neighbor_indices
        The camera's neighbour relation as CSR arrays.
    picture_threshold, boundary_threshold, min_picture_neighbors, keep_isolated_pixels
        The tail-cuts parameters (see the module docstring).
    peak_times
        ``(n_events, n_pixels)`` peak times [ns]; needed with ``time_limit_ns``.
    time_limit_ns, time_min_neighbors
        The time constraint; ``time_limit_ns=None`` switches it off.
    out
        A C-contiguous bool ``(n_events, n_pixels)`` array to write the masks into (reused
        from chunk to chunk, it spares the page faults of a fresh array); default: a new one.

    Returns
    -------
    numpy.ndarray
        bool ``(n_events, n_pixels)`` (``out`` if given).
    """
    images = np.ascontiguousarray(images)
    if images.ndim != 2:
        raise ValueError(f"images must be (n_events, n_pixels), got shape {images.shape}")
    use_time = time_limit_ns is not None
    if use_time and peak_times is None:
        raise ValueError("the time constraint needs peak_times")
    if use_time:
        times = np.ascontiguousarray(peak_times)
        if times.shape != images.shape:
            raise ValueError("peak_times and images must have the same shape")
    else:  # not read
        times = np.zeros((images.shape[0], 0), dtype=images.dtype)
    # compare in the image precision, as numpy does for a float32 array and a Python float
    dtype = images.dtype.type
    masks = output_array(out, images.shape, np.bool_)
    _clean_chunk(
        images,
        times,
        dtype(picture_threshold),
        dtype(boundary_threshold),
        int(min_picture_neighbors),
        bool(keep_isolated_pixels),
        use_time,
        times.dtype.type(time_limit_ns if use_time else 0.0),
        int(time_min_neighbors),
        np.asarray(neighbor_offsets, np.int32),
        np.asarray(neighbor_indices, np.int32),
        masks.view(np.uint8),
    )
    return masks
