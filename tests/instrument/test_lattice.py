"""Pixel lattices generated from recipe parameters."""

import numpy as np
import pytest

from datapipe_ops.instrument import lattice


def unique_points(x, y):
    return len({(round(a, 9), round(b, 9)) for a, b in zip(x, y, strict=True)})


@pytest.mark.parametrize(
    ("rings", "drop", "modules"), [(1, False, 7), (2, True, 13), (9, True, 265)]
)
def test_hex_modules_tile_without_overlap(rings, drop, modules):
    x, y = lattice.hex_modules(1.0, rings, drop)
    assert len(x) == 7 * modules
    assert unique_points(x, y) == len(x)
    # all pixels on the lattice: distances between centres are multiples of the pitch grid
    assert np.allclose(np.hypot(x[1:7] - x[0], y[1:7] - y[0]), 1.0)
    # the camera is centred
    assert abs(x.mean()) < 1e-9 and abs(y.mean()) < 1e-9


def test_hex_region_and_corners():
    region = lattice.hex_region(3)
    assert len(region) == 1 + 3 * 3 * 4
    corners = {tuple(c) for c in lattice.hex_corners(3)}
    assert corners <= {tuple(r) for r in region}


@pytest.mark.parametrize(("centre", "n_pixels"), [("pixel", 1801), ("vertex", 1764), ("vertex", 3)])
def test_hex_circle_shells(centre, n_pixels):
    x, y = lattice.hex_circle(0.05, n_pixels, centre)
    assert len(x) == n_pixels == unique_points(x, y)
    assert abs(x.mean()) < 1e-9 and abs(y.mean()) < 1e-9  # symmetric about the centre


def test_hex_circle_refuses_an_open_shell():
    with pytest.raises(ValueError, match="shell"):
        lattice.hex_circle(0.05, 1765, "vertex")
    with pytest.raises(ValueError, match="centre"):
        lattice.hex_circle(0.05, 7, "edge")


def test_square_modules_with_gaps_and_corners():
    x, y = lattice.square_modules(0.006, 8, 6, 0.0014, True)
    assert len(x) == 32 * 64 == unique_points(x, y)
    columns = np.unique(np.round(x, 9))
    steps = np.round(np.diff(columns), 9)
    assert set(steps) == {0.006, 0.0074}  # pixel pitch inside modules, pitch + gap between
    assert np.isclose(x.max(), -x.min()) and np.isclose(y.max(), -y.min())
    # no pixel in the corner modules
    assert not np.any((np.abs(x) > 0.1) & (np.abs(y) > 0.1))
    x, y = lattice.square_modules(0.006, 8, 6, 0.0014, False)
    assert len(x) == 36 * 64


def test_rotate():
    x, y = lattice.rotate(np.array([1.0]), np.array([0.0]), 90.0)
    np.testing.assert_allclose([x[0], y[0]], [0.0, 1.0], atol=1e-15)
