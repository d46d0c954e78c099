"""The comparison of a benchmark with its reference: one verdict per figure.

Each curve is compared with the reference curve of the same name on the x values both have
(bins with fewer than ``min_events_per_bin`` events on either side left out):

- ``better="lower"`` / ``"higher"``: the mean relative change ``(new - ref) / |ref|`` over the
  bins; beyond the figure's tolerance it is "better" or "worse" by its sign;
- ``better="zero"`` (a bias): the mean change of ``|value|``, absolute;
- ``better=None`` (a distribution): the total-variation distance of the two normalised
  histograms (0: same shape, 1: disjoint); beyond the tolerance it is "changed".

A figure is "worse" if one of its curves is worse, else "better" if one is better, else
"changed" if one changed, else "no change". A benchmark compared with itself is "no change".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from datapipe_ops.benchmarks.config import ComparisonConfig
from datapipe_ops.benchmarks.figures import Curve, Figure

NO_CHANGE, BETTER, WORSE, CHANGED, NOT_COMPARABLE = (
    "no change",
    "better",
    "worse",
    "changed",
    "not comparable",
)
_RANK = {WORSE: 4, BETTER: 3, CHANGED: 2, NO_CHANGE: 1, NOT_COMPARABLE: 0}


@dataclass(frozen=True)
class CurveChange:
    """How one curve changed: ``change`` (relative, absolute or a distance) and its verdict."""

    curve: str
    change: float
    bins: int
    verdict: str


@dataclass(frozen=True)
class FigureVerdict:
    """The verdict of one figure and the changes of its curves."""

    figure: str
    verdict: str
    tolerance: float
    measure: str
    curves: tuple[CurveChange, ...]

    def line(self) -> str:
        """The one-line verdict shown under the figure and in the report."""
        if not self.curves or self.verdict == NOT_COMPARABLE:
            return f"{self.figure}: not comparable (no common bins with the reference)"
        worst = max(self.curves, key=lambda c: (_RANK[c.verdict], abs(c.change)))
        if self.measure == "relative":
            amount = f"{worst.change:+.1%} ({worst.curve}), tolerance {self.tolerance:.0%}"
        elif self.measure == "absolute":
            amount = f"{worst.change:+.3f} ({worst.curve}), tolerance {self.tolerance:.3f}"
        else:
            amount = f"shape distance {worst.change:.3f} ({worst.curve}), tolerance "
            amount += f"{self.tolerance:.3f}"
        return f"{self.figure}: {self.verdict} — {amount}"

    def as_dict(self) -> dict:
        """For the JSON summary."""
        return {
            "verdict": self.verdict,
            "line": self.line(),
            "tolerance": self.tolerance,
            "measure": self.measure,
            "curves": {
                c.curve: {"change": _finite_or_none(c.change), "bins": c.bins, "verdict": c.verdict}
                for c in self.curves
            },
        }


def _finite_or_none(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def common_points(
    new: Curve, reference: Curve, min_events: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, new y, reference y) on the x values both curves have, finite, with enough events."""
    x_new = np.round(new.x, 9)
    x_ref = np.round(reference.x, 9)
    if x_new.shape == x_ref.shape and np.array_equal(x_new, x_ref):  # same axis (maps too)
        common = x_new
        i_new = i_ref = np.arange(x_new.size)
    else:
        common, i_new, i_ref = np.intersect1d(x_new, x_ref, return_indices=True)
    y_new, y_ref = new.y[i_new], reference.y[i_ref]
    keep = np.isfinite(y_new) & np.isfinite(y_ref)
    for curve, index in ((new, i_new), (reference, i_ref)):
        if curve.n is not None:
            keep &= np.nan_to_num(curve.n[index]) >= min_events
    return common[keep], y_new[keep], y_ref[keep]


def compare_curve(
    new: Curve, reference: Curve, better: str | None, tolerance: float, min_events: int
) -> CurveChange:
    """How ``new`` differs from ``reference`` (see the module docstring)."""
    if better is None:  # a distribution: compare shapes, all bins
        _, y_new, y_ref = common_points(new, reference, 0)
        total_new, total_ref = y_new.sum(), y_ref.sum()
        if y_new.size == 0 or total_new <= 0 or total_ref <= 0:
            return CurveChange(new.name, np.nan, 0, NOT_COMPARABLE)
        distance = 0.5 * float(np.abs(y_new / total_new - y_ref / total_ref).sum())
        verdict = CHANGED if distance > tolerance else NO_CHANGE
        return CurveChange(new.name, distance, int(y_new.size), verdict)
    _, y_new, y_ref = common_points(new, reference, min_events)
    if better == "zero":
        if y_new.size == 0:
            return CurveChange(new.name, np.nan, 0, NOT_COMPARABLE)
        change = float(np.mean(np.abs(y_new) - np.abs(y_ref)))
        worse = change > tolerance
        improved = change < -tolerance
    else:
        both_zero = (y_ref == 0) & (y_new == 0)
        usable = (y_ref != 0) | both_zero
        y_new, y_ref = y_new[usable], y_ref[usable]
        if y_new.size == 0:
            return CurveChange(new.name, np.nan, 0, NOT_COMPARABLE)
        with np.errstate(divide="ignore", invalid="ignore"):
            relative = np.where(y_ref == 0, 0.0, (y_new - y_ref) / np.abs(y_ref))
        change = float(np.mean(relative))
        sign = 1.0 if better == "lower" else -1.0
        worse = sign * change > tolerance
        improved = sign * change < -tolerance
    verdict = WORSE if worse else BETTER if improved else NO_CHANGE
    return CurveChange(new.name, change, int(y_new.size), verdict)


def compare_figure(
    new: Figure, reference: Figure | None, config: ComparisonConfig
) -> FigureVerdict:
    """The verdict on ``new`` against ``reference`` (curves matched by name)."""
    tolerance = config.tolerance(new.key, new.better)
    measure = {None: "distance", "zero": "absolute"}.get(new.better, "relative")
    changes = []
    for curve in new.curves:
        ref = reference.curve(curve.name) if reference is not None else None
        if ref is None:
            continue
        changes.append(compare_curve(curve, ref, new.better, tolerance, config.min_events_per_bin))
    comparable = [c for c in changes if c.verdict != NOT_COMPARABLE]
    verdict = max((c.verdict for c in comparable), key=_RANK.get, default=NOT_COMPARABLE)
    return FigureVerdict(new.key, verdict, tolerance, measure, tuple(changes))


def ratio(new: Curve, reference: Curve) -> tuple[np.ndarray, np.ndarray]:
    """(x, new / reference) on the common x values (NaN where the reference is 0)."""
    x, y_new, y_ref = common_points(new, reference, 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return x, np.where(y_ref != 0, y_new / y_ref, np.nan)
