"""``datapipe optimize-cuts``, ``compute-irf`` and ``sensitivity`` through the entry point."""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest
import toy_dl2
from astropy.io import fits
from astropy.table import QTable

from datapipe_ops.catalog import Catalog
from datapipe_ops.cli.main import main
from datapipe_ops.io import layout


@pytest.fixture
def catalog(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    monkeypatch.setenv("DATAPIPE_CATALOG_URL", url)
    return url


def _particles(files):
    args = []
    for particle, option in (
        ("gamma", "--gammas"),
        ("proton", "--protons"),
        ("electron", "--electrons"),
    ):
        for path in files[particle]:
            args += [option, str(path)]
    return args


def _run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def _one_line(code, err, *words):
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("datapipe: error: "), err
    for word in words:
        assert word in lines[0], lines[0]


@pytest.mark.requirement("DPPS-DP-R-090", "DPPS-DP-R-091", "DPPS-DP-R-092", "DPPS-DP-R-021")
def test_optimised_cuts_irfs_and_sensitivity_registered_with_lineage(
    irf_products, tmp_path, capsys, catalog
):
    files = _particles(irf_products["files"][20.0])
    cuts, irf, sens = tmp_path / "cuts.fits", tmp_path / "irf.fits.gz", tmp_path / "sens.fits"
    code, out, err = _run(capsys, "optimize-cuts", *files, "-o", cuts)
    assert code == 0, err
    assert "optimize cuts" in out and "catalog id" in out
    with fits.open(cuts) as hdul:
        assert hdul[0].header["CUTMETH"] == "optimize"
        multiplicity = QTable.read(hdul["MULTIPLICITY"])["cut"]
        assert set(np.unique(multiplicity)) <= {2, 3, 4}
    code, out, err = _run(capsys, "compute-irf", *files, "--cuts", cuts, "-o", irf)
    assert code == 0, err
    code, out, err = _run(capsys, "sensitivity", *files, "--cuts", cuts, "-o", sens)
    assert code == 0, err
    assert sens.with_suffix(".png").stat().st_size > 10_000
    table = QTable.read(sens, hdu="SENSITIVITY")
    relative = np.asarray(table["relative_sensitivity"])
    finite = np.isfinite(relative)
    assert finite.sum() >= 5
    # the toy instrument detects a fraction of the Crab in 50 h, far from the whole Crab
    assert np.nanmin(relative) < 0.1 and np.all(relative[finite] > 1e-4)
    assert fits.getheader(sens)["OBSTIME"] == 50.0
    with Catalog(catalog) as cat:
        lineage = cat.lineage(sens.absolute()).products().values()
        kinds = {p.kind for p in lineage}
        assert {"sensitivity", "cuts"} <= kinds
        assert sum(p.level.value == "DL2" for p in lineage) == 4
        assert cat.get_product(irf.absolute()).kind == "irf"
    # run again: refused without --overwrite, accepted with it
    code, _, err = _run(capsys, "compute-irf", *files, "--cuts", cuts, "-o", irf)
    _one_line(code, err, "exists")
    code, _, err = _run(
        capsys, "compute-irf", *files, "--cuts", cuts, "-o", irf, "--overwrite", "--no-register"
    )
    assert code == 0, err


@pytest.mark.requirement("DPPS-DP-R-001", "DPPS-DP-R-004")
def test_dl2_lacking_the_columns_the_cuts_need(irf_products, tmp_path, capsys, catalog):
    files = {k: list(v) for k, v in irf_products["files"][20.0].items()}
    broken = tmp_path / "broken_gamma.dl2.h5"
    shutil.copy(files["gamma"][0], broken)
    with h5py.File(broken, "r+") as h5:
        path = layout.dl2_path("particle_type", toy_dl2.GAMMANESS)
        rows = h5[path][:]
        del h5[path]
        h5[path] = rows[[n for n in rows.dtype.names if not n.endswith("_prediction")]]
    files["gamma"][0] = broken
    out = tmp_path / "cuts.fits"
    code, _, err = _run(capsys, "optimize-cuts", *_particles(files), "-o", out)
    _one_line(code, err, "broken_gamma.dl2.h5", "DataPipeGammaness_prediction")
    assert list(tmp_path.glob("cuts*")) == [] and not list(tmp_path.glob(".*partial"))


@pytest.mark.requirement("DPPS-DP-R-090")
def test_cuts_of_another_model_set_are_refused(irf_products, tmp_path, capsys, catalog):
    other = toy_dl2.write_production(tmp_path / "other", 20.0, scale=0.05, model_set_id="toyset-2")
    out = tmp_path / "irf.fits"
    code, _, err = _run(
        capsys, "compute-irf", *_particles(other), "--cuts", irf_products["cuts"], "-o", out
    )
    _one_line(code, err, "model set toyset-1", "toyset-2")
    assert not out.exists()


@pytest.mark.requirement("DPPS-DP-R-003")
def test_output_that_is_an_input_is_refused(irf_products, capsys, catalog):
    files = irf_products["files"][20.0]
    code, _, err = _run(
        capsys,
        "sensitivity",
        *_particles(files),
        "--cuts",
        irf_products["cuts"],
        "-o",
        irf_products["cuts"],
        "--overwrite",
    )
    _one_line(code, err, "is also an input of this stage")


@pytest.mark.requirement("DPPS-DP-R-004", "DPPS-DP-R-090")
def test_missing_background_for_optimisation(irf_products, tmp_path, capsys, catalog):
    gammas = irf_products["files"][20.0]["gamma"]
    code, _, err = _run(capsys, "optimize-cuts", "--gammas", gammas[0], "-o", tmp_path / "c.fits")
    _one_line(code, err, "no DL2 file given for the protons")
