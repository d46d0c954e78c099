"""Camera geometries: pixel counts, sizes, neighbours (identical to ctapipe's), tables."""

import numpy as np
import pytest
from astropy import units as u

from datapipe_ops.errors import InputFileError
from datapipe_ops.instrument import (
    CameraGeometry,
    CameraReadout,
    available_cameras,
    load_camera,
    load_optics,
)
from datapipe_ops.instrument.pulse import measured_fwhm

# camera -> (pixels, pixel type, optics, target pixel field of view [deg]) from the real cameras
REAL = {
    "LSTCam": (1855, "hexagon", "LST", 0.10),
    "NectarCam": (1855, "hexagon", "MST", 0.17),
    "FlashCam": (1764, "hexagon", "MST", 0.17),
    "CHEC": (2048, "square", "SST", 0.16),
}


def ctapipe_geometry(geometry: CameraGeometry):
    from ctapipe.instrument import CameraGeometry as CtapipeGeometry

    return CtapipeGeometry(
        geometry.name,
        geometry.pix_id,
        geometry.pix_x * u.m,
        geometry.pix_y * u.m,
        geometry.pix_area * u.m**2,
        pix_type=geometry.pix_type,
        pix_rotation=geometry.pix_rotation_deg * u.deg,
        cam_rotation=geometry.cam_rotation_deg * u.deg,
    )


@pytest.mark.requirement("DPPS-DP-R-034")
def test_all_real_cameras_are_available():
    assert set(REAL) <= set(available_cameras())


@pytest.mark.parametrize("name", sorted(REAL))
def test_pixel_count_type_and_ids(name):
    n_pixels, pix_type, _, _ = REAL[name]
    geometry = load_camera(name).geometry
    assert geometry.n_pixels == n_pixels
    assert geometry.pix_type == pix_type
    assert np.array_equal(geometry.pix_id, np.arange(n_pixels))
    assert geometry.pix_x.dtype == np.float64 and geometry.pix_id.dtype == np.int32


@pytest.mark.parametrize("name", sorted(REAL))
def test_pixels_do_not_overlap_and_tile_at_the_pitch(name):
    geometry = load_camera(name).geometry
    dx = geometry.pix_x[:, None] - geometry.pix_x[None, :]
    dy = geometry.pix_y[:, None] - geometry.pix_y[None, :]
    distance = np.hypot(dx, dy) + np.diag(np.full(geometry.n_pixels, np.inf))
    nearest = distance.min(axis=1)
    # every pixel touches another one at exactly one pixel width: no overlap, no isolated pixel
    np.testing.assert_allclose(nearest, geometry.pixel_width, rtol=1e-9)


@pytest.mark.parametrize("name", sorted(REAL))
@pytest.mark.requirement("DPPS-DP-R-034")
def test_pixel_field_of_view_matches_the_real_camera(name):
    _, _, optics_name, target_deg = REAL[name]
    geometry = load_camera(name).geometry
    fov = load_optics(optics_name).pixel_fov_deg(geometry.pixel_width)
    assert np.all(np.abs(fov / target_deg - 1) < 0.10), (fov.min(), fov.max(), target_deg)


@pytest.mark.parametrize("name", sorted(REAL))
def test_neighbour_relation_is_symmetric_without_self_and_bounded(name):
    geometry = load_camera(name).geometry
    matrix = geometry.neighbor_matrix
    assert np.array_equal(matrix, matrix.T)
    assert not matrix.diagonal().any()
    counts = geometry.n_neighbors
    interior_count = 6 if geometry.pix_type == "hexagon" else 4
    assert counts.max() == interior_count
    # most pixels are interior ones
    assert np.mean(counts == interior_count) > 0.85
    assert counts.min() >= 2
    # the CSR rows are sorted and consistent with the dense matrix
    for pixel in (0, geometry.n_pixels // 2, geometry.n_pixels - 1):
        row = geometry.neighbors_of(pixel)
        assert np.array_equal(row, np.flatnonzero(matrix[pixel]))


def test_interior_pixels_have_the_lattice_neighbours():
    lst = load_camera("LSTCam").geometry
    centre = int(np.argmin(np.hypot(lst.pix_x, lst.pix_y)))
    neighbours = lst.neighbors_of(centre)
    assert len(neighbours) == 6
    distances = np.hypot(
        lst.pix_x[neighbours] - lst.pix_x[centre], lst.pix_y[neighbours] - lst.pix_y[centre]
    )
    np.testing.assert_allclose(distances, 0.05, rtol=1e-9)

    chec = load_camera("CHEC").geometry
    centre = int(np.argmin(np.hypot(chec.pix_x - 0.01, chec.pix_y - 0.01)))
    neighbours = chec.neighbors_of(centre)
    dx = np.abs(chec.pix_x[neighbours] - chec.pix_x[centre])
    dy = np.abs(chec.pix_y[neighbours] - chec.pix_y[centre])
    # 4 edge neighbours, no diagonals: exactly one coordinate changes
    assert len(neighbours) == 4
    assert np.all((dx < 1e-9) ^ (dy < 1e-9))


def test_chec_pixels_are_neighbours_across_module_gaps():
    chec = load_camera("CHEC").geometry
    # pixels on both sides of the gap at x = 0 (between module columns 2 and 3)
    left = np.flatnonzero(np.isclose(chec.pix_x, -0.0007 - 0.003) & np.isclose(chec.pix_y, 0.0037))
    right = np.flatnonzero(np.isclose(chec.pix_x, 0.0007 + 0.003) & np.isclose(chec.pix_y, 0.0037))
    assert len(left) == 1 and len(right) == 1
    assert chec.neighbor_matrix[left[0], right[0]]


@pytest.mark.parametrize("name", sorted(REAL))
@pytest.mark.requirement("DPPS-DP-R-034")
def test_neighbours_and_border_are_identical_to_ctapipe(name):
    geometry = load_camera(name).geometry
    reference = ctapipe_geometry(geometry)
    np.testing.assert_allclose(reference.pix_x.to_value(u.m), geometry.pix_x)
    assert np.array_equal(reference.neighbor_matrix, geometry.neighbor_matrix)
    for width in (1, 2):
        assert np.array_equal(
            reference.get_border_pixel_mask(width), geometry.border_pixel_mask(width)
        )


# Small angles only: on a square grid turned by 20-45 deg, diagonal candidates tie in the L1 norm
# and ctapipe's choice among them is arbitrary (it warns that its matrix is not symmetric).
@pytest.mark.parametrize("cam_rotation", [0.0, 5.0, -10.0])
@pytest.mark.requirement("DPPS-DP-R-034")
def test_given_camera_rotation_is_applied_like_ctapipe(cam_rotation):
    chec = load_camera("CHEC").geometry
    rotated = CameraGeometry(
        "CHEC",
        chec.pix_id,
        chec.pix_x,
        chec.pix_y,
        chec.pix_area,
        "square",
        pix_rotation_deg=0.0,
        cam_rotation_deg=cam_rotation,
    )
    from ctapipe.instrument import CameraGeometry as CtapipeGeometry

    reference = CtapipeGeometry(
        "CHEC",
        chec.pix_id,
        chec.pix_x * u.m,
        chec.pix_y * u.m,
        chec.pix_area * u.m**2,
        pix_type="square",
        cam_rotation=cam_rotation * u.deg,
    )
    assert rotated.cam_rotation_deg == 0.0
    assert rotated.pix_rotation_deg == pytest.approx(reference.pix_rotation.to_value(u.deg))
    np.testing.assert_allclose(rotated.pix_x, reference.pix_x.to_value(u.m), atol=1e-15)
    np.testing.assert_allclose(rotated.pix_y, reference.pix_y.to_value(u.m), atol=1e-15)
    assert np.array_equal(rotated.neighbor_matrix, reference.neighbor_matrix)


def test_geometry_arrays_are_read_only():
    geometry = load_camera("LSTCam").geometry
    for array in (geometry.pix_x, geometry.neighbor_indices, geometry.neighbor_offsets):
        with pytest.raises(ValueError):
            array[0] = 0
    assert load_camera("LSTCam") is load_camera("LSTCam")


@pytest.mark.parametrize("name", sorted(REAL))
def test_geometry_table_round_trip(name):
    geometry = load_camera(name).geometry
    table = geometry.to_table()
    assert table["pix_x"].unit == u.m and table["pix_area"].unit == u.m**2
    assert table.meta["pix_type"] == geometry.pix_type
    # units are honoured: a table in mm gives the same geometry
    table["pix_x"] = table["pix_x"].to(u.mm)
    table["pix_y"] = table["pix_y"].to(u.mm)
    back = CameraGeometry.from_table(table)
    np.testing.assert_allclose(back.pix_x, geometry.pix_x, rtol=1e-15)
    assert back.name == geometry.name and back.pix_rotation_deg == geometry.pix_rotation_deg
    assert np.array_equal(back.neighbor_indices, geometry.neighbor_indices)
    assert CameraGeometry.from_table(geometry.to_table()) == geometry


def test_geometry_table_problems_are_input_file_errors():
    table = load_camera("CHEC").geometry.to_table()
    del table["pix_y"]
    with pytest.raises(InputFileError, match="no column 'pix_y'"):
        CameraGeometry.from_table(table)
    table = load_camera("CHEC").geometry.to_table()
    table["pix_x"] = table["pix_x"].value * u.s
    with pytest.raises(InputFileError, match="pix_x"):
        CameraGeometry.from_table(table)
    table = load_camera("CHEC").geometry.to_table()
    table.meta["pix_type"] = "triangle"
    with pytest.raises(InputFileError, match="triangle"):
        CameraGeometry.from_table(table)


@pytest.mark.parametrize("name", sorted(REAL))
def test_readout_pulse_is_normalised_with_the_stated_fwhm(name):
    readout = load_camera(name).readout
    shape = readout.reference_pulse_shape
    dt = readout.reference_pulse_sample_width_ns
    assert shape.shape[0] == readout.n_channels == 1
    assert shape.sum() * dt == pytest.approx(1.0, rel=1e-12)
    assert abs(measured_fwhm(shape[0], dt) - readout.pulse_fwhm_ns) < dt
    assert shape[0, 0] < 1e-3 * shape.max() and shape[0, -1] < 1e-3 * shape.max()
    assert len(readout.reference_pulse_time_ns) == shape.shape[1]


@pytest.mark.requirement("DPPS-DP-R-034")
def test_readout_parameters_of_the_real_cameras():
    expected = {
        "LSTCam": (1.0, 40),
        "NectarCam": (1.0, 60),
        "FlashCam": (0.25, 25),
        "CHEC": (1.0, 128),
    }
    for name, (rate, n_samples) in expected.items():
        readout = load_camera(name).readout
        assert (readout.sampling_rate_ghz, readout.n_samples) == (rate, n_samples)
    assert (
        load_camera("FlashCam").readout.pulse_fwhm_ns > load_camera("LSTCam").readout.pulse_fwhm_ns
    )


@pytest.mark.parametrize("name", sorted(REAL))
def test_readout_table_round_trip(name):
    readout = load_camera(name).readout
    table = readout.to_table()
    assert table["time"].unit == u.ns
    assert CameraReadout.from_table(table) == readout
    del table.meta["sampling_rate"]
    with pytest.raises(InputFileError, match="sampling_rate"):
        CameraReadout.from_table(table)


def _brute_force_neighbors(x, y, k, l1_norm, radius):
    """ctapipe's rule by brute force: k nearest by (distance, index), within radius * nearest."""
    dx, dy = x[None, :] - x[:, None], y[None, :] - y[:, None]
    dist = np.abs(dx) + np.abs(dy) if l1_norm else np.sqrt(dx * dx + dy * dy)
    np.fill_diagonal(dist, np.inf)
    rows = []
    for i in range(x.size):
        best = np.lexsort((np.arange(x.size), dist[i]))[:k]
        rows.append(np.sort(best[dist[i, best] < radius * dist[i, best[0]]]))
    return np.cumsum([0] + [r.size for r in rows]), np.concatenate(rows)


@pytest.mark.parametrize("pix_type", ["hexagon", "square"])
def test_neighbour_search_matches_brute_force_on_shuffled_and_tied_points(pix_type):
    from datapipe_ops.instrument.neighbors import NEIGHBOR_RULES, neighbor_csr

    rng = np.random.default_rng(3)
    gx, gy = np.meshgrid(np.arange(12.0), np.arange(9.0))
    order = rng.permutation(gx.size)
    for x, y in (
        (gx.ravel()[order], gy.ravel()[order]),  # ties everywhere, pixels out of order
        (rng.random(300), rng.random(300)),
    ):
        offsets, indices = neighbor_csr(x, y, pix_type)
        ref_offsets, ref_indices = _brute_force_neighbors(x, y, *NEIGHBOR_RULES[pix_type])
        np.testing.assert_array_equal(offsets, ref_offsets)
        np.testing.assert_array_equal(indices, ref_indices)
