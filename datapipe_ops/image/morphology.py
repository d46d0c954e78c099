"""Island labelling and morphology parameters of cleaning masks.

An island is a set of surviving pixels connected through the camera's neighbour relation.
Labels follow ctapipe 0.32 (``ctapipe.image.morphology.number_of_islands``): 0 for pixels not
in the mask, then 1, 2, … in the order of each island's lowest pixel index. Island sizes are
classified as ctapipe does: small ≤ 2 pixels, medium 3–50, large > 50.
"""

from __future__ import annotations

import numpy as np
from numba import njit

SMALL_ISLAND_MAX = 2
LARGE_ISLAND_MIN = 51


@njit(cache=True)
def label_one(mask, offsets, indices, labels, stack):
    """Label the islands of one mask in place; returns the number of islands.

    ``labels`` (int32, n_pixels) receives the labels; ``stack`` is int32 scratch of n_pixels.
    """
    n_pixels = mask.shape[0]
    for p in range(n_pixels):
        labels[p] = 0
    n_islands = 0
    for p in range(n_pixels):
        if not mask[p] or labels[p] != 0:
            continue
        n_islands += 1
        labels[p] = n_islands
        top = 0
        stack[top] = p
        top += 1
        while top > 0:
            top -= 1
            q = stack[top]
            for k in range(offsets[q], offsets[q + 1]):
                neighbor = indices[k]
                if mask[neighbor] and labels[neighbor] == 0:
                    labels[neighbor] = n_islands
                    stack[top] = neighbor
                    top += 1
    return n_islands


@njit(cache=True)
def island_size_classes(labels, n_islands, sizes):
    """(n_small, n_medium, n_large) islands; ``sizes`` is int32 scratch of n_pixels + 1."""
    for i in range(n_islands + 1):
        sizes[i] = 0
    for p in range(labels.shape[0]):
        sizes[labels[p]] += 1
    n_small = 0
    n_large = 0
    for i in range(1, n_islands + 1):
        if sizes[i] <= SMALL_ISLAND_MAX:
            n_small += 1
        elif sizes[i] >= LARGE_ISLAND_MIN:
            n_large += 1
    return n_small, n_islands - n_small - n_large, n_large


@njit(cache=True)
def _size_class(size):
    """0 small, 1 medium, 2 large."""
    return (size > SMALL_ISLAND_MAX) + (size >= LARGE_ISLAND_MIN)


@njit(cache=True)
def island_counts(pixels, mask, offsets, indices, seen, stack, counts):
    """Islands of one mask, visiting only its pixels; returns the number of islands.

    ``pixels`` are the indices of the mask's pixels; ``counts[0:3]`` receives the numbers of
    small, medium and large islands. ``seen`` (bool, n_pixels) must be all False on entry and
    is so again on return; ``stack`` is int32 scratch of at least ``len(pixels)``.
    """
    counts[0] = 0
    counts[1] = 0
    counts[2] = 0
    n_islands = 0
    for start in pixels:
        if seen[start]:
            continue
        n_islands += 1
        seen[start] = True
        stack[0] = start
        top = 1
        size = 1
        while top > 0:
            top -= 1
            q = stack[top]
            for k in range(offsets[q], offsets[q + 1]):
                neighbor = indices[k]
                if mask[neighbor] and not seen[neighbor]:
                    seen[neighbor] = True
                    stack[top] = neighbor
                    top += 1
                    size += 1
        counts[_size_class(size)] += 1
    for p in pixels:
        seen[p] = False
    return n_islands


@njit(cache=True)
def _label_chunk(masks, offsets, indices, labels, n_islands):
    stack = np.empty(masks.shape[1], dtype=np.int32)
    for e in range(masks.shape[0]):
        n_islands[e] = label_one(masks[e], offsets, indices, labels[e], stack)


def label_islands(
    masks: np.ndarray, neighbor_offsets: np.ndarray, neighbor_indices: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Island labels of a chunk of cleaning masks.

    Parameters
    ----------
    masks
        bool ``(n_events, n_pixels)``.
    neighbor_offsets, neighbor_indices
        The camera's neighbour relation as CSR arrays.

    Returns
    -------
    n_islands, labels
        int32 ``(n_events,)`` and int32 ``(n_events, n_pixels)`` (0: not in the mask).
    """
    masks = np.ascontiguousarray(masks, dtype=np.bool_)
    if masks.ndim != 2:
        raise ValueError(f"masks must be (n_events, n_pixels), got shape {masks.shape}")
    labels = np.empty(masks.shape, dtype=np.int32)
    n_islands = np.empty(masks.shape[0], dtype=np.int32)
    _label_chunk(
        masks,
        np.asarray(neighbor_offsets, np.int32),
        np.asarray(neighbor_indices, np.int32),
        labels,
        n_islands,
    )
    return n_islands, labels
