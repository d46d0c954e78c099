"""Small inputs of every benchmark: toy DL2 runs, their cuts, IRF and sensitivity, a DL3 event
list (tests/irf/toy_dl2.py), degraded copies of them, and the small simulated DL0/DL1 runs."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "irf"))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmark_checks

import toy_dl2


def _degrade_direction(source: Path, target: Path, factor: float) -> Path:
    """A copy of a toy DL2 run whose reconstructed directions are ``factor`` times further
    from the truth (a worse angular resolution)."""
    import h5py

    from datapipe_ops.io import layout

    shutil.copy(source, target)
    path = layout.dl2_path("geometry", toy_dl2.GEOMETRY)
    with h5py.File(target, "r+") as h5file:
        truth = h5file[layout.SHOWER][...]
        rows = h5file[path][...]
        order = np.argsort(truth["event_id"])
        where = order[np.searchsorted(truth["event_id"][order], rows["event_id"])]
        for axis in ("alt", "az"):
            true = truth[f"true_{axis}"][where]
            rows[f"{toy_dl2.GEOMETRY}_{axis}"] = true + factor * (
                rows[f"{toy_dl2.GEOMETRY}_{axis}"] - true
            )
        h5file[path][...] = rows
    return target


def _degrade_area(source: Path, target: Path, factor: float) -> Path:
    """A copy of an IRF product whose effective areas are scaled by ``factor``."""
    from astropy.io import fits

    with fits.open(source) as hdus:
        for hdu in hdus[1:]:
            if hdu.name.startswith("EFFECTIVE AREA"):
                hdu.data["EFFAREA"] = hdu.data["EFFAREA"] * factor
        hdus.writeto(target)
    return target


@pytest.fixture(scope="session")
def toy(tmp_path_factory) -> dict:
    """Toy DL2 runs (gammas, protons, electrons), IRF, sensitivity, DL3, and degraded copies
    (angular resolution × 2, effective area × 0.7). Read-only."""
    from datapipe_ops.dl3.stage import dl2_to_dl3
    from datapipe_ops.irf.stage import sensitivity

    directory = tmp_path_factory.mktemp("bench_toy")
    built = toy_dl2.build_irf_products(directory, zeniths=(20.0,), scale=0.1)
    files = built["files"][20.0]
    dl2 = [p for paths in files.values() for p in paths]
    sens = directory / "sensitivity.fits"
    sensitivity(files, built["cuts"], sens, built["config"], register=False)
    irf = built["irfs"][20.0]
    observation = toy_dl2.write_observation(directory / "obs.dl2.h5")
    dl3 = directory / "dl3" / "obs_005001.fits.gz"
    dl2_to_dl3(observation, built["cuts"], irf, dl3, register=False)
    worse = directory / "worse"
    worse.mkdir()
    degraded = [
        _degrade_direction(p, worse / p.name, 2.0) if p in files["gamma"] else p for p in dl2
    ]
    return {
        "dl2": dl2,
        "dl2_worse": degraded,
        "irf": [irf, sens],
        "irf_worse": [_degrade_area(irf, worse / irf.name, 0.7), sens],
        "dl3": [dl3],
        "cuts": built["cuts"],
    }
