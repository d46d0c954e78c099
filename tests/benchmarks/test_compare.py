"""The verdicts: direction, tolerance, bias, distributions, thin bins, missing reference."""

from __future__ import annotations

import numpy as np
import pytest

from datapipe_ops.benchmarks.compare import compare_curve, compare_figure
from datapipe_ops.benchmarks.config import ComparisonConfig
from datapipe_ops.benchmarks.figures import Curve, Figure

X = np.array([0.1, 1.0, 10.0])
N = np.array([100, 100, 100])


def figure(better, y, n=N, name="a"):
    return Figure("f", "F", "x", "y", better, curves=(Curve(name, X, y, n),))


@pytest.mark.parametrize(
    ("better", "new", "verdict"),
    [
        ("lower", [1.1, 1.1, 1.1], "worse"),
        ("lower", [0.9, 0.9, 0.9], "better"),
        ("lower", [1.03, 1.0, 0.99], "no change"),
        ("higher", [1.1, 1.1, 1.1], "better"),
        ("higher", [0.5, 1.0, 1.0], "worse"),
        ("zero", [0.05, -0.05, 0.05], "worse"),  # |bias| up by 0.05 > 0.02
        (None, [1.0, 1.0, 1.0], "no change"),
        (None, [3.0, 0.0, 0.0], "changed"),
    ],
)
def test_verdicts(better, new, verdict):
    reference = figure(better, np.ones(3) * (0.0 if better == "zero" else 1.0))
    result = compare_figure(figure(better, np.array(new)), reference, ComparisonConfig())
    assert result.verdict == verdict, result.line()
    assert result.line().startswith(f"f: {verdict}")


def test_the_tolerance_is_per_figure():
    lenient = ComparisonConfig(tolerances={"f": 0.5})
    result = compare_figure(figure("lower", np.full(3, 1.2)), figure("lower", np.ones(3)), lenient)
    assert result.verdict == "no change" and result.tolerance == 0.5


def test_thin_bins_and_missing_curves_are_left_out():
    thin = np.array([100, 100, 3])
    new = figure("lower", np.array([1.0, 1.0, 5.0]), thin)
    assert compare_figure(new, figure("lower", np.ones(3)), ComparisonConfig()).verdict == (
        "no change"
    )
    other = figure("lower", np.ones(3), name="b")
    result = compare_figure(new, other, ComparisonConfig())
    assert result.verdict == "not comparable" and "not comparable" in result.line()
    assert compare_figure(new, None, ComparisonConfig()).verdict == "not comparable"


def test_curves_on_different_bins_are_compared_where_they_meet():
    new = Curve("a", [1.0, 10.0, 100.0], [2.0, 1.0, 1.0])
    reference = Curve("a", [0.1, 1.0, 10.0], [9.0, 2.0, 1.0])
    change = compare_curve(new, reference, "lower", 0.05, 0)
    assert change.bins == 2 and change.change == 0.0 and change.verdict == "no change"
