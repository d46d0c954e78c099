"""The telescope-frame geometry of the kernels against ctapipe's transform_to(TelescopeFrame)."""

from __future__ import annotations

import numpy as np
import pytest

from datapipe_ops.image.geometry import ImageGeometry, border_masks


@pytest.mark.parametrize("camera_name", ["LSTCam", "NectarCam", "FlashCam", "CHEC"])
@pytest.mark.requirement("DPPS-DP-R-034", "DPPS-DP-R-043")
def test_geometry_matches_ctapipe_telescope_frame(camera_of, focal_lengths, camera_name):
    from ctapipe.coordinates import TelescopeFrame

    from testkit.ctapipe_reference import ctapipe_geometry

    camera, geometry = camera_of(camera_name)
    reference = ctapipe_geometry(camera.geometry, focal_lengths[camera_name])
    telescope = reference.transform_to(TelescopeFrame())
    assert np.allclose(geometry.fov_lon, telescope.pix_x.to_value("deg"), rtol=1e-9, atol=1e-12)
    assert np.allclose(geometry.fov_lat, telescope.pix_y.to_value("deg"), rtol=1e-9, atol=1e-12)
    assert np.allclose(geometry.pix_area, telescope.pix_area.to_value("deg2"), rtol=1e-9)
    assert np.allclose(geometry.pixel_width, telescope.pixel_width.to_value("deg"), rtol=1e-9)
    for width, ours in ((1, geometry.border_1), (2, geometry.border_2)):
        assert np.array_equal(ours, reference.get_border_pixel_mask(width))
    sparse = reference.neighbor_matrix_sparse
    assert np.array_equal(geometry.neighbor_offsets, sparse.indptr)
    assert np.array_equal(geometry.neighbor_indices, sparse.indices)


def test_from_arrays_sorts_neighbours_and_is_read_only():
    offsets = np.array([0, 2, 3, 4], np.int32)
    indices = np.array([2, 1, 0, 0], np.int32)
    geometry = ImageGeometry.from_arrays(
        "toy", np.zeros(3), np.zeros(3), np.ones(3), "square", offsets, indices
    )
    assert list(geometry.neighbor_indices) == [1, 2, 0, 0]
    assert not geometry.fov_lon.flags.writeable
    with pytest.raises(ValueError):
        ImageGeometry.from_arrays(
            "toy", np.zeros(3), np.zeros(3), np.ones(3), "round", offsets, indices
        )


def test_border_masks_of_a_chain():
    # 0 - 1 - 2 - 3 - 4 (a line): the ends have fewer neighbours
    offsets = np.array([0, 1, 3, 5, 7, 8])
    indices = np.array([1, 0, 2, 1, 3, 2, 4, 3])
    border_1, border_2 = border_masks(offsets, indices)
    assert list(border_1) == [True, False, False, False, True]
    assert list(border_2) == [False, True, False, True, False]
