"""Quality metrics as numbers, their verdicts, and the statistics they share.

A :class:`Metric` is one number of one product (``name``; ``<name>.tel_NNN`` for one
telescope), in a unit, judged against its :class:`~datapipe_ops.quality.config.Threshold`
by :func:`judge`. The product's flag is the worst of its metrics' flags (:func:`worst`).

The stability metrics compare values in equal time bins (:func:`time_bins`) and give the
spread *beyond* what counting statistics explain, as a fraction of the mean
(:func:`excess_variability`): 0 for a steady rate whatever the number of events, 0.3 for a
rate that really wanders by 30 %.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from datapipe_ops.catalog.models import QualityFlag
from datapipe_ops.quality.config import QualityConfig, Threshold

_ORDER = {QualityFlag.GOOD: 0, QualityFlag.WARNING: 1, QualityFlag.BAD: 2}


@dataclass(frozen=True)
class Metric:
    """One quality number of a product, with its verdict."""

    name: str
    value: float
    unit: str | None = None
    flag: QualityFlag | None = None
    reason: str | None = None

    def as_json(self) -> dict:
        """The metric as plain JSON data (NaN as null)."""
        return {
            "name": self.name,
            "value": None if math.isnan(self.value) else self.value,
            "unit": self.unit,
            "flag": self.flag.value if self.flag else None,
            "reason": self.reason,
        }


def judge(name: str, value: float, threshold: Threshold | None) -> tuple[QualityFlag | None, str]:
    """The flag of ``value`` against ``threshold`` and why (None: not judged)."""
    if threshold is None:
        return None, ""
    if math.isnan(value):
        return None, f"{name} not measurable"
    above = threshold.direction == "above"
    past = (lambda limit: value > limit) if above else (lambda limit: value < limit)
    sign = ">" if above else "<"
    if threshold.bad is not None and past(threshold.bad):
        return QualityFlag.BAD, f"{name} = {value:.4g} {sign} bad limit {threshold.bad:g}"
    if threshold.warn is not None and past(threshold.warn):
        return QualityFlag.WARNING, f"{name} = {value:.4g} {sign} warning limit {threshold.warn:g}"
    return QualityFlag.GOOD, ""


def metric(name: str, value: float, unit: str | None, config: QualityConfig) -> Metric:
    """A metric judged against the threshold ``config`` holds for it."""
    value = float(value)
    flag, reason = judge(name, value, config.threshold(name))
    return Metric(name, value, unit, flag, reason or None)


def worst(flags: list[QualityFlag | None]) -> QualityFlag:
    """The worst of ``flags`` (unjudged ones ignored); ``good`` when none is judged."""
    judged = [f for f in flags if f is not None]
    return max(judged, key=_ORDER.__getitem__) if judged else QualityFlag.GOOD


def per_telescope(
    name: str, values: dict[int, float], unit: str | None, config: QualityConfig
) -> list[Metric]:
    """One metric per telescope (``<name>.tel_NNN``) and the product's ``<name>``: the value of
    the worst telescope (largest for an ``above`` threshold, smallest for ``below``), or the
    mean over the telescopes for a metric that is not judged (a rate, a mean intensity)."""
    metrics = [
        metric(f"{name}.tel_{tel:03d}", v, unit, config) for tel, v in sorted(values.items())
    ]
    finite = [v for v in values.values() if not math.isnan(v)]
    threshold = config.threshold(name)
    if not finite:
        overall = math.nan
    elif threshold is None:
        overall = float(np.mean(finite))
    elif threshold.direction == "below":
        overall = min(finite)
    else:
        overall = max(finite)
    return [metric(name, overall, unit, config), *metrics]


# --------------------------------------------------------------------------------------------
# statistics over time


def n_time_bins(n_entries: int, config: QualityConfig) -> int:
    """How many time bins ``n_entries`` events fill: ``time_bins``, fewer when the product has
    fewer than ``min_counts_per_bin`` events per bin (0: too few for a stability measure)."""
    n = min(config.time_bins, n_entries // config.min_counts_per_bin)
    return n if n >= 2 else 0


def time_bins(times_s: np.ndarray, start_s: float, stop_s: float, n_bins: int) -> np.ndarray:
    """The bin (0 … n_bins-1) of every time in ``[start_s, stop_s]`` (seconds), -1 outside."""
    times_s = np.asarray(times_s, np.float64)
    width = (stop_s - start_s) / n_bins if n_bins else 0.0
    if width <= 0:
        return np.full(times_s.shape, -1, np.int64)
    index = np.floor((times_s - start_s) / width).astype(np.int64)
    index[(times_s < start_s) | (times_s > stop_s)] = -1
    index[index == n_bins] = n_bins - 1  # the last event sits on the upper edge
    return index


#: how many standard errors of the sample variance a spread must exceed the statistical one by
#: before it counts (keeps a steady product of a few hundred events from looking unstable)
SIGNIFICANCE = 3.0


def excess_variability(values: np.ndarray, variances: np.ndarray) -> float:
    """Spread of ``values`` (one per bin) beyond their statistical ``variances``, relative to
    their mean.

    ``sqrt(max(var(values) - v - SIGNIFICANCE * v * sqrt(2 / (n - 1)), 0)) / mean(values)``
    with ``v = mean(variances)`` and ``n`` bins: the part of the spread that counting
    statistics do not explain at :data:`SIGNIFICANCE` standard errors of the sample variance.
    NaN for fewer than two bins or a mean that is not positive.
    """
    values = np.asarray(values, np.float64)
    n = values.size
    if n < 2:
        return math.nan
    mean = float(values.mean())
    if not mean > 0:
        return math.nan
    expected = float(np.mean(variances))
    spread = float(values.var(ddof=1)) - expected * (1.0 + SIGNIFICANCE * math.sqrt(2 / (n - 1)))
    return math.sqrt(max(spread, 0.0)) / mean


def rate_variability(times_s: np.ndarray, start_s: float, stop_s: float, config: QualityConfig):
    """``(mean rate [Hz], variability)`` of events at ``times_s`` over ``[start_s, stop_s]``:
    Poisson counts in equal bins, their spread beyond Poisson as a fraction of the mean."""
    times_s = np.asarray(times_s, np.float64)
    duration = stop_s - start_s
    rate = len(times_s) / duration if duration > 0 else math.nan
    n_bins = n_time_bins(len(times_s), config)
    if not n_bins or duration <= 0:
        return rate, math.nan
    index = time_bins(times_s, start_s, stop_s, n_bins)
    counts = np.bincount(index[index >= 0], minlength=n_bins).astype(np.float64)
    return rate, excess_variability(counts, counts)


def binned_mean_variability(
    times_s: np.ndarray, values: np.ndarray, start_s: float, stop_s: float, config: QualityConfig
) -> float:
    """Variability over time of the mean of ``values`` (one per event at ``times_s``): the
    spread of the per-bin means beyond their standard errors, relative to the overall mean."""
    values = np.asarray(values, np.float64)
    n_bins = n_time_bins(len(values), config)
    if not n_bins:
        return math.nan
    index = time_bins(times_s, start_s, stop_s, n_bins)
    inside = index >= 0
    index, values = index[inside], values[inside]
    counts = np.bincount(index, minlength=n_bins).astype(np.float64)
    if np.any(counts < 2):
        return math.nan
    sums = np.bincount(index, values, minlength=n_bins)
    squares = np.bincount(index, values * values, minlength=n_bins)
    means = sums / counts
    variances = (squares / counts - means**2) * counts / (counts - 1)
    return excess_variability(means, variances / counts)
