"""Pixel positions generated from a camera recipe: hexagonal and square lattices.

Every function returns pixel centres ``(x, y)`` in metres, camera centre at the origin, not yet
rotated, in a deterministic storage order (module by module, or row by row). Orders are decided
on integer lattice coordinates, never on rounded floats, so they are the same on every machine.

Hexagonal lattice: basis ``a1 = (p, 0)``, ``a2 = (p/2, p·√3/2)`` for the pitch ``p`` (the
flat-to-flat width of a pixel), i.e. hexagons with flat sides facing ±x (ctapipe's
``pix_rotation = 0``).
"""

from __future__ import annotations

import numpy as np

SQRT3 = np.sqrt(3.0)

#: The 7-pixel "flower" of LSTCam and NectarCAM modules, in (a1, a2) lattice coordinates.
FLOWER = np.array([(0, 0), (1, 0), (0, 1), (-1, 1), (-1, 0), (0, -1), (1, -1)], dtype=np.int64)
#: Lattice vectors between neighbouring flowers (|B| = √7 p), B2 = B1 rotated by 60°.
FLOWER_B1 = np.array([2, 1], dtype=np.int64)
FLOWER_B2 = np.array([-1, 3], dtype=np.int64)


def hex_to_xy(m: np.ndarray, n: np.ndarray, pitch: float) -> tuple[np.ndarray, np.ndarray]:
    """Cartesian positions of hexagonal-lattice points ``m·a1 + n·a2``."""
    return pitch * (m + 0.5 * n), pitch * (SQRT3 / 2.0) * n


def hex_region(rings: int) -> np.ndarray:
    """Axial coordinates ``(i, j)`` of the hexagon of ``rings`` rings around (0, 0), row order.

    With 60° basis vectors the hexagonal distance of ``(i, j)`` is ``max(|i|, |j|, |i + j|)``.
    """
    i, j = np.meshgrid(np.arange(-rings, rings + 1), np.arange(-rings, rings + 1), indexing="xy")
    i, j = i.ravel(), j.ravel()
    keep = np.maximum(np.maximum(np.abs(i), np.abs(j)), np.abs(i + j)) <= rings
    return np.column_stack([i[keep], j[keep]])


def hex_corners(rings: int) -> np.ndarray:
    """The six corner points of :func:`hex_region` (axial coordinates)."""
    r = rings
    return np.array([(r, 0), (0, r), (-r, r), (-r, 0), (0, -r), (r, -r)], dtype=np.int64)


def hex_modules(
    pitch: float, module_rings: int, drop_corner_modules: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Cameras built of 7-pixel flower modules (LSTCam, NectarCAM).

    Module centres fill a hexagon of ``module_rings`` rings on the flower super-lattice,
    optionally without its six corner modules (the real cameras: 271 - 6 = 265 modules).
    Pixels are stored module by module (modules in rows from -y to +y).
    """
    modules = hex_region(module_rings)
    if drop_corner_modules and module_rings > 0:
        corners = {tuple(c) for c in hex_corners(module_rings)}
        modules = np.array([m for m in modules if tuple(m) not in corners], dtype=np.int64)
    centres = modules[:, :1] * FLOWER_B1 + modules[:, 1:] * FLOWER_B2  # (m, n) lattice coords
    order = np.lexsort((2 * centres[:, 0] + centres[:, 1], centres[:, 1]))
    pixels = (centres[order][:, None, :] + FLOWER[None, :, :]).reshape(-1, 2)
    return hex_to_xy(pixels[:, 0].astype(np.float64), pixels[:, 1].astype(np.float64), pitch)


def hex_circle(pitch: float, n_pixels: int, centre: str) -> tuple[np.ndarray, np.ndarray]:
    """The ``n_pixels`` hexagonal-lattice pixels closest to the camera centre (FlashCam).

    ``centre`` is ``"pixel"`` (the camera centre is a pixel centre, 6-fold symmetry) or
    ``"vertex"`` (a corner shared by three pixels, 3-fold symmetry). ``n_pixels`` must complete
    a shell of equidistant pixels, otherwise the camera would not be symmetric.

    Raises
    ------
    ValueError
        If ``n_pixels`` does not complete a shell.
    """
    if n_pixels < 1:
        raise ValueError("n_pixels must be positive")
    rings = int(np.ceil(np.sqrt(n_pixels))) + 2
    span = np.arange(-rings, rings + 1, dtype=np.int64)
    m, n = (a.ravel() for a in np.meshgrid(span, span, indexing="xy"))
    # squared distances to the centre, in units of pitch² scaled to exact integers
    # (times 12 around a pixel centre, times 36 around the vertex (1/2, √3/6))
    if centre == "pixel":
        d12 = 3 * (2 * m + n) ** 2 + 9 * n**2
    elif centre == "vertex":
        d12 = (6 * m + 3 * n - 3) ** 2 + 3 * (3 * n - 1) ** 2
    else:
        raise ValueError(f"centre must be 'pixel' or 'vertex', got {centre!r}")
    by_distance = np.argsort(d12, kind="stable")
    if n_pixels < len(d12) and d12[by_distance[n_pixels - 1]] == d12[by_distance[n_pixels]]:
        raise ValueError(f"{n_pixels} pixels do not complete a shell around the {centre}")
    chosen = by_distance[:n_pixels]
    m, n = m[chosen], n[chosen]
    order = np.lexsort((2 * m + n, n))
    x, y = hex_to_xy(m[order].astype(np.float64), n[order].astype(np.float64), pitch)
    if centre == "vertex":
        x, y = x - 0.5 * pitch, y - pitch * SQRT3 / 6.0
    return x, y


def square_modules(
    pitch: float,
    module_size: int,
    module_grid: int,
    module_gap: float,
    drop_corner_modules: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Cameras of square modules of ``module_size²`` square pixels (CHEC).

    Modules sit on a ``module_grid × module_grid`` grid with ``module_gap`` [m] between them,
    optionally without the four corner modules (CHEC: 36 - 4 = 32 modules of 8×8 pixels).
    Pixels are stored module by module, rows of modules from -y, each module row by row.
    """
    module_pitch = module_size * pitch + module_gap
    k = np.arange(module_grid)
    col, row = (a.ravel() for a in np.meshgrid(k, k, indexing="xy"))
    if drop_corner_modules and module_grid > 1:
        edge = module_grid - 1
        corner = ((col == 0) | (col == edge)) & ((row == 0) | (row == edge))
        col, row = col[~corner], row[~corner]
    c = np.arange(module_size)
    pcol, prow = (a.ravel() for a in np.meshgrid(c, c, indexing="xy"))
    module_x = (col - (module_grid - 1) / 2.0) * module_pitch
    module_y = (row - (module_grid - 1) / 2.0) * module_pitch
    pixel_x = (pcol - (module_size - 1) / 2.0) * pitch
    pixel_y = (prow - (module_size - 1) / 2.0) * pitch
    x = (module_x[:, None] + pixel_x[None, :]).ravel()
    y = (module_y[:, None] + pixel_y[None, :]).ravel()
    return x, y


def rotate(x: np.ndarray, y: np.ndarray, angle_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """Rotate points counter-clockwise by ``angle_deg`` about the origin."""
    if angle_deg == 0.0:
        return x, y
    c, s = np.cos(np.deg2rad(angle_deg)), np.sin(np.deg2rad(angle_deg))
    return c * x - s * y, s * x + c * y
