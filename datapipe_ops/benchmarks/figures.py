"""What a benchmark computes: figures of curves, and how they are stored.

A :class:`Figure` is one plot: an x axis, a y axis, whether lower or higher values are better
(``better``: ``"lower"``, ``"higher"``, ``"zero"`` for a bias, ``None`` for a distribution
whose shape is compared) and its :class:`Curve` objects (one per telescope type, event type,
particle, IRF file...). :func:`write_curves` stores every curve as one row of a FITS table
(vector columns ``X``, ``Y``, ``N``), :func:`read_curves` reads them back; the figures'
descriptions go into the JSON summary (:func:`figure_meta`, :func:`figure_from_meta`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

Better = Literal["lower", "higher", "zero"] | None


@dataclass(frozen=True)
class Curve:
    """One series of a figure: ``y`` at ``x`` (bin centres), ``n`` events per point."""

    name: str
    x: np.ndarray
    y: np.ndarray
    n: np.ndarray | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "x", np.asarray(self.x, np.float64))
        object.__setattr__(self, "y", np.asarray(self.y, np.float64))
        if self.n is not None:
            object.__setattr__(self, "n", np.asarray(self.n, np.float64))


@dataclass(frozen=True)
class Figure:
    """One plot of a benchmark with its curves."""

    key: str
    title: str
    x_label: str
    y_label: str
    better: Better = None
    style: Literal["line", "step"] = "line"
    x_log: bool = False
    y_log: bool = False
    curves: tuple[Curve, ...] = ()

    def curve(self, name: str) -> Curve | None:
        """The curve called ``name``, if any."""
        return next((c for c in self.curves if c.name == name), None)

    def with_curves(self, curves: list[Curve]) -> Figure:
        """The same figure holding ``curves``."""
        return replace(self, curves=tuple(curves))


@dataclass
class BenchmarkResult:
    """The figures and headline numbers of one benchmark run."""

    level: str
    figures: list[Figure]
    numbers: dict[str, float] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    def figure(self, key: str) -> Figure | None:
        """The figure called ``key``, if any."""
        return next((f for f in self.figures if f.key == key), None)


def histogram_curve(name: str, values: np.ndarray, edges: np.ndarray) -> Curve:
    """A distribution of ``values`` in ``edges`` as a curve (x: bin centres, y = n: counts)."""
    values = np.asarray(values, np.float64)
    counts, _ = np.histogram(values[np.isfinite(values)], bins=edges)
    return Curve(name, 0.5 * (edges[:-1] + edges[1:]), counts, counts)


def figure_meta(figure: Figure) -> dict[str, Any]:
    """A figure's description (without the numbers) for the JSON summary."""
    return {
        "key": figure.key,
        "title": figure.title,
        "x_label": figure.x_label,
        "y_label": figure.y_label,
        "better": figure.better,
        "style": figure.style,
        "x_log": figure.x_log,
        "y_log": figure.y_log,
        "curves": [c.name for c in figure.curves],
    }


def figure_from_meta(meta: dict[str, Any], curves: dict[tuple[str, str], Curve]) -> Figure:
    """The figure described by ``meta`` with its curves from ``curves`` ({(figure, name)})."""
    found = [
        curves[(meta["key"], name)] for name in meta["curves"] if (meta["key"], name) in curves
    ]
    return Figure(
        key=meta["key"],
        title=meta["title"],
        x_label=meta["x_label"],
        y_label=meta["y_label"],
        better=meta.get("better"),
        style=meta.get("style", "line"),
        x_log=bool(meta.get("x_log")),
        y_log=bool(meta.get("y_log")),
        curves=tuple(found),
    )


def _ascii(name: str) -> str:
    """FITS strings are ASCII: other characters as backslash escapes (:func:`_unicode`)."""
    return name.replace("\\", "\\\\").encode("ascii", "backslashreplace").decode("ascii")


def _unicode(name: object) -> str:
    """The name :func:`_ascii` stored."""
    return str(name).encode("ascii").decode("unicode_escape")


def write_curves(figures: list[Figure], path: Path, cards: dict[str, Any]) -> None:
    """Every curve of ``figures`` as one row of the FITS table ``CURVES`` in ``path``."""
    from astropy.io import fits
    from astropy.table import Table

    rows = [(f.key, c) for f in figures for c in f.curves]
    width = max([len(c.x) for _, c in rows] + [1])

    def padded(values: np.ndarray | None) -> np.ndarray:
        out = np.full(width, np.nan)
        if values is not None:
            out[: len(values)] = values
        return out

    table = Table(
        {
            "FIGURE": [_ascii(key) for key, _ in rows],
            "CURVE": [_ascii(c.name) for _, c in rows],
            "LENGTH": np.array([len(c.x) for _, c in rows], np.int32),
            "X": np.array([padded(c.x) for _, c in rows]).reshape(len(rows), width),
            "Y": np.array([padded(c.y) for _, c in rows]).reshape(len(rows), width),
            "N": np.array([padded(c.n) for _, c in rows]).reshape(len(rows), width),
            "HAS_N": np.array([c.n is not None for _, c in rows]),
        }
    )
    hdu = fits.table_to_hdu(table)
    hdu.name = "CURVES"
    primary = fits.PrimaryHDU()
    for key, value in cards.items():
        primary.header[key] = value
    fits.HDUList([primary, hdu]).writeto(path)


def read_curves(path: Path) -> dict[tuple[str, str], Curve]:
    """The curves of a ``benchmark.fits`` file, by (figure, curve name)."""
    from astropy.io import fits

    with fits.open(path) as hdus:
        data = hdus["CURVES"].data
        curves = {}
        for row in data:
            length = int(row["LENGTH"])
            n = np.asarray(row["N"][:length]) if row["HAS_N"] else None
            curve = Curve(_unicode(row["CURVE"]), row["X"][:length], row["Y"][:length], n)
            curves[(_unicode(row["FIGURE"]), curve.name)] = curve
    return curves
