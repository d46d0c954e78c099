"""The IRF set interpolated in cos zenith: nodes returned as they are, clear refusals."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from datapipe_ops.cli.main import main
from datapipe_ops.errors import InputFileError
from datapipe_ops.irf.config import InterpolationConfig
from datapipe_ops.irf.interpolation import interpolate_irf

pytestmark = pytest.mark.requirement("DPPS-DP-R-140")


def _responses(path):
    with fits.open(path) as hdul:
        return {h.name: h.data.copy() for h in hdul[1:] if h.header.get("HDUCLAS1") == "RESPONSE"}


def test_at_a_node_the_node_is_returned(irf_products, tmp_path):
    irfs = irf_products["irfs"]
    out = tmp_path / "at40.fits"
    summary = interpolate_irf(list(irfs.values()), out, zenith_deg=40.0, register=False)
    assert summary.mode == "node" and summary.nodes == [40.0]
    expected, got = _responses(irfs[40.0]), _responses(out)
    assert expected.keys() == got.keys()
    for name, data in expected.items():
        for column in data.columns.names:
            np.testing.assert_array_equal(got[name][column], data[column], err_msg=name)


def test_between_nodes_every_response_is_interpolated(irf_products, tmp_path):
    irfs = irf_products["irfs"]
    out = tmp_path / "at30.fits"
    summary = interpolate_irf(list(irfs.values()), out, zenith_deg=30.0, register=False)
    assert summary.mode == "interpolated" and sorted(summary.nodes) == [20.0, 40.0]
    low, high, mid = (_responses(p) for p in (irfs[20.0], irfs[40.0], out))
    assert mid.keys() == low.keys()
    area = [r["EFFECTIVE AREA"]["EFFAREA"][0][0] for r in (low, mid, high)]
    both = (area[0] > 0) & (area[2] > 0)
    lower, upper = np.minimum(area[0], area[2]), np.maximum(area[0], area[2])
    assert np.all(area[1][both] >= lower[both] * 0.999)
    assert np.all(area[1][both] <= upper[both] * 1.001)
    edisp = mid["ENERGY DISPERSION"]["MATRIX"][0]
    assert np.all(np.isfinite(edisp)) and edisp.max() > 0
    with fits.open(out) as hdul:
        assert hdul[0].header["ZENITH"] == pytest.approx(30.0)
        assert hdul[0].header["IRFMODE"] == "interpolated"
        assert hdul[0].header["MODELSET"] == "toyset-1"


def test_outside_the_grid_is_refused_unless_the_nearest_node_may_be_taken(irf_products, tmp_path):
    irfs = list(irf_products["irfs"].values())
    with pytest.raises(InputFileError, match=r"zenith 50.00 deg is outside .* \(20–40 deg\)"):
        interpolate_irf(irfs, tmp_path / "a.fits", zenith_deg=50.0, register=False)
    near = InterpolationConfig(allow_nearest=True, max_cos_zenith_distance=0.02)
    summary = interpolate_irf(
        irfs, tmp_path / "b.fits", zenith_deg=41.0, config=near, register=False
    )
    assert summary.mode == "nearest" and summary.nodes == [40.0]
    with pytest.raises(InputFileError, match=r"more than the allowed 0\.02"):
        interpolate_irf(irfs, tmp_path / "c.fits", zenith_deg=50.0, config=near, register=False)
    assert not (tmp_path / "a.fits").exists() and not (tmp_path / "c.fits").exists()


def test_cli_one_line_for_a_grid_with_one_zenith(irf_products, tmp_path, capsys):
    node = irf_products["irfs"][20.0]
    out = tmp_path / "x.fits"
    code = main(
        ["interpolate-irf", "--irf", str(node), "--zenith", "25", "-o", str(out), "--no-register"]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert err[0].startswith("datapipe: error: ") and "two zenith angles" in err[0]
    assert not out.exists()


def test_cli_zenith_from_the_observation(irf_products, tmp_path, capsys, monkeypatch):
    import toy_dl2

    monkeypatch.setenv("DATAPIPE_CATALOG_URL", f"sqlite:///{tmp_path / 'c.sqlite'}")
    obs = toy_dl2.write_observation(tmp_path / "obs.dl2.h5")  # the Crab near culmination
    args = ["interpolate-irf", "-o", str(tmp_path / "o.fits"), "--dl2", str(obs)]
    for path in irf_products["irfs"].values():
        args += ["--irf", str(path)]
    code = main(args)
    captured = capsys.readouterr()
    assert code == 2 and "outside the IRF set's grid (20–40 deg)" in captured.err
    code = main([*args, "-c", str(_nearest_config(tmp_path))])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "nearest" in captured.out and "catalog id" in captured.out


def _nearest_config(tmp_path):
    path = tmp_path / "nearest.yaml"
    path.write_text("allow_nearest: true\nmax_cos_zenith_distance: 0.1\n")
    return path
