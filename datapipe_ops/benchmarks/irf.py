"""IRF benchmarks from the IRF and sensitivity products (GADF FITS).

Per IRF product (curves named by its zenith, and per event type): the effective area after
the cuts (``EFFECTIVE AREA``, first offset bin), the energy migration (``ENERGY DISPERSION``
summed over true energy, first offset bin), the PSF's 68 % containment (``ANGULAR
RESOLUTION``), the energy resolution (``ENERGY BIAS RESOLUTION``) and the background rate
(``BACKGROUND``, first offset bin); per sensitivity product the E² differential sensitivity.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from astropy.io import fits

from datapipe_ops.benchmarks.figures import BenchmarkResult, Curve, Figure
from datapipe_ops.errors import InputFileError
from datapipe_ops.irf.products import read_product_header

ENERGY = "true energy [TeV]"


def _label(header: fits.Header, path: Path, many: bool) -> str:
    zenith = header.get("ZENITH")
    label = f"zd {zenith:.0f}" if zenith is not None else path.name
    return f"{label} {path.name}" if many else label


def _centres(low: np.ndarray, high: np.ndarray) -> np.ndarray:
    return np.sqrt(np.asarray(low, np.float64) * np.asarray(high, np.float64))


def _types(hdus: fits.HDUList, base: str) -> list[tuple[str, str]]:
    """(curve suffix, EXTNAME) of ``base`` for all events and each event type."""
    found = [("", base)] if base in hdus else []
    for hdu in hdus:
        name = hdu.name
        if name.startswith(f"{base} TYPE") and name[len(base) + 5 :].isdigit():
            found.append((f" type {name[len(base) + 5 :]}", name))
    return found


def _first_offset(values: np.ndarray) -> np.ndarray:
    """A GADF array (1, n_offset, n_energy, ...) at the first offset bin."""
    return np.asarray(values[0])[0]


def check_inputs(paths: Sequence[Path]) -> list[tuple[Path, str]]:
    """(path, DPKIND) of every input: IRF or SENSITIVITY products."""
    if not paths:
        raise InputFileError("no IRF or sensitivity product given")
    kinds = []
    for path in paths:
        header = read_product_header(path, ("IRF", "SENSITIVITY"))
        kinds.append((Path(path), str(header["DPKIND"])))
    return kinds


def irf_benchmark(paths: Sequence[Path], config: object = None) -> BenchmarkResult:
    """The ``irf`` benchmark of IRF and sensitivity products (see the module docstring)."""
    kinds = check_inputs(paths)
    irfs = [p for p, kind in kinds if kind == "IRF"]
    curves: dict[str, list[Curve]] = {
        k: []
        for k in (
            "effective_area",
            "migration",
            "psf",
            "energy_resolution",
            "background",
            "sensitivity",
        )
    }
    numbers: dict[str, float] = {}
    for path, kind in kinds:
        with fits.open(path) as hdus:
            label = _label(hdus[0].header, path, len(irfs) > 1 and kind == "IRF")
            if kind == "SENSITIVITY":
                table = hdus["SENSITIVITY"].data
                x = _centres(table["reco_energy_low"], table["reco_energy_high"])
                curves["sensitivity"].append(Curve(label, x, table["e2_flux_sensitivity"]))
                continue
            for suffix, name in _types(hdus, "EFFECTIVE AREA"):
                data = hdus[name].data
                x = _centres(data["ENERG_LO"][0], data["ENERG_HI"][0])
                curves["effective_area"].append(
                    Curve(label + suffix, x, _first_offset(data["EFFAREA"]))
                )
            for suffix, name in _types(hdus, "ENERGY DISPERSION"):
                data = hdus[name].data
                migra = _centres(data["MIGRA_LO"][0], data["MIGRA_HI"][0])
                matrix = _first_offset(data["MATRIX"])  # (n_migra, n_energy) after [offset]
                matrix = matrix.reshape(len(migra), -1) if matrix.ndim == 2 else matrix
                curves["migration"].append(Curve(label + suffix, migra, matrix.sum(axis=-1)))
            for suffix, name in _types(hdus, "ANGULAR RESOLUTION"):
                data = hdus[name].data
                curves["psf"].append(
                    Curve(
                        label + suffix,
                        data["true_energy_center"],
                        data["angular_resolution_68"],
                        data["n_events"],
                    )
                )
            for suffix, name in _types(hdus, "ENERGY BIAS RESOLUTION"):
                data = hdus[name].data
                curves["energy_resolution"].append(
                    Curve(
                        label + suffix,
                        data["true_energy_center"],
                        data["resolution"],
                        data["n_events"],
                    )
                )
            for suffix, name in _types(hdus, "BACKGROUND"):
                data = hdus[name].data
                x = _centres(data["ENERG_LO"][0], data["ENERG_HI"][0])
                curves["background"].append(Curve(label + suffix, x, _first_offset(data["BKG"])))
    figures = [
        Figure(
            "effective_area",
            "Effective area after the cuts (first offset bin)",
            ENERGY,
            "effective area [m²]",
            "higher",
            x_log=True,
            y_log=True,
            curves=tuple(curves["effective_area"]),
        ),
        Figure(
            "migration",
            "Energy migration (reco / true), summed over true energy",
            "reco / true energy",
            "summed probability",
            None,
            style="step",
            curves=tuple(curves["migration"]),
        ),
        Figure(
            "psf",
            "PSF: 68 % containment radius",
            ENERGY,
            "radius [deg]",
            "lower",
            x_log=True,
            curves=tuple(curves["psf"]),
        ),
        Figure(
            "energy_resolution",
            "Energy resolution",
            ENERGY,
            "resolution",
            "lower",
            x_log=True,
            curves=tuple(curves["energy_resolution"]),
        ),
        Figure(
            "background",
            "Background rate (first offset bin)",
            "reconstructed energy [TeV]",
            "rate [1 / (MeV s sr)]",
            "lower",
            x_log=True,
            y_log=True,
            curves=tuple(curves["background"]),
        ),
        Figure(
            "sensitivity",
            "Differential sensitivity",
            "reconstructed energy [TeV]",
            "E² F [erg / (cm² s)]",
            "lower",
            x_log=True,
            y_log=True,
            curves=tuple(curves["sensitivity"]),
        ),
    ]
    figures = [f for f in figures if f.curves]
    for figure in (f for f in figures if f.x_log):
        curve = figure.curves[0]
        finite = np.isfinite(curve.y) & (curve.x > 0)
        if finite.any():
            near = np.flatnonzero(finite)[np.argmin(np.abs(np.log10(curve.x[finite])))]
            numbers[f"{figure.key}_1TeV"] = float(curve.y[near])
    return BenchmarkResult("irf", figures, numbers, {})
