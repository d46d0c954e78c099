"""Output buffers reused from chunk to chunk give the same results as fresh arrays."""

from __future__ import annotations

import numpy as np
import pytest

from datapipe_ops.calib.buffers import ChunkBuffers, output_array
from datapipe_ops.calib.cleaning import clean_images
from datapipe_ops.calib.extraction import extract_images


def test_output_array_checks_shape_dtype_and_layout():
    assert output_array(None, (2, 3), np.float32).shape == (2, 3)
    good = np.empty((2, 3), np.float32)
    assert output_array(good, (2, 3), np.float32) is good
    for bad in (np.empty((3, 2), np.float32), np.empty((2, 3)), np.empty((3, 2), np.float32).T):
        with pytest.raises(ValueError, match="C-contiguous float32 array of shape"):
            output_array(bad, (2, 3), np.float32)


def test_chunk_buffers_views_and_capacity():
    buffers = ChunkBuffers.allocate(4, 10)
    image, peak_time, masks = buffers.first(3)
    assert image.shape == peak_time.shape == masks.shape == (3, 10)
    assert np.shares_memory(image, buffers.image) and masks.dtype == np.bool_
    with pytest.raises(ValueError, match="exceeds the buffers"):
        buffers.first(5)


def test_reused_buffers_give_the_fresh_results(lstcam, make_toy):
    geometry = lstcam.geometry
    args = (geometry.neighbor_offsets, geometry.neighbor_indices, 1.0)
    buffers = ChunkBuffers.allocate(8, geometry.n_pixels)
    buffers.image[:] = np.nan  # left-overs of an earlier chunk must not matter
    buffers.masks[:] = True
    for seed, n_events in ((1, 8), (2, 5)):
        toy = make_toy(lstcam, n_events, seed=seed)
        coefficients = toy.coefficients()
        kwargs = {
            "pedestal_offset": coefficients["pedestal_offset"],
            "factor": coefficients["factor"],
        }
        fresh = extract_images(toy.waveforms, *args, **kwargs)
        image, peak_time, masks = buffers.first(n_events)
        reused = extract_images(toy.waveforms, *args, **kwargs, out=(image, peak_time))
        assert reused[0] is image and reused[1] is peak_time
        assert np.array_equal(fresh[0], image) and np.array_equal(fresh[1], peak_time)
        cleaning = {"picture_threshold": 6.0, "boundary_threshold": 3.0}
        expected = clean_images(image, args[0], args[1], **cleaning)
        assert clean_images(image, args[0], args[1], **cleaning, out=masks) is masks
        assert np.array_equal(masks, expected)
