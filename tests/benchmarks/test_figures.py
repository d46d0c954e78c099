"""Curves go into benchmark.fits and come back unchanged (any length, any name)."""

from __future__ import annotations

import numpy as np

from datapipe_ops.benchmarks.figures import Curve, Figure, read_curves, write_curves


def test_curves_round_trip(tmp_path):
    curves = (
        Curve("0.1–1 TeV θ²", [1.0, 2.0, 3.0], [0.5, np.nan, 2.0], [10, 0, 3]),
        Curve("back\\slash", [1.0], [4.0]),
    )
    figure = Figure("f", "F", "x", "y", "lower", curves=curves)
    write_curves([figure, Figure("empty", "E", "x", "y")], tmp_path / "b.fits", {"BENCH": "x"})
    back = read_curves(tmp_path / "b.fits")
    assert set(back) == {("f", c.name) for c in curves}
    for curve in curves:
        read = back[("f", curve.name)]
        np.testing.assert_array_equal(read.x, curve.x)
        np.testing.assert_array_equal(read.y, curve.y)
        assert (read.n is None) == (curve.n is None)
