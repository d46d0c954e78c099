"""``datapipe tailored-irf``: one observation's own conditions simulated, processed, to IRFs."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits
from astropy.table import QTable
from astropy.time import Time

from datapipe_ops.catalog import Catalog
from datapipe_ops.cli.main import main
from datapipe_ops.errors import DataPipeError, InputFileError
from datapipe_ops.io import layout, open_product, read_table
from datapipe_ops.tailored.config import TailoredConfig
from datapipe_ops.tailored.stage import check_telescopes, read_conditions, split_track

#: a few thousand showers over two pointings: seconds, not minutes
SMALL = "n_pointings: 2\ngammas: {n_showers: 6000}\nprotons: {n_showers: 6000}\n"


@pytest.fixture
def small_config(tmp_path):
    path = tmp_path / "tailored.yaml"
    path.write_text(SMALL)
    return path


@pytest.fixture
def inputs(dl3_chain, monkeypatch):
    chain = dl3_chain["chain"]
    monkeypatch.setenv("DATAPIPE_CATALOG_URL", chain.catalog_url)
    return {
        "dl2": dl3_chain["products"]["dl2"],
        "model_set": chain.model_set_id,
        "cuts": chain.cuts,
        "chain": chain,
    }


def _run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def _one_line(code, err, *words):
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("datapipe: error: "), err
    for word in words:
        assert word in lines[0], lines[0]


def _command(inputs, output, *extra, dl2=None, model_set=None, cuts=None):
    return [
        "tailored-irf",
        "--input",
        dl2 or inputs["dl2"],
        "--model-set",
        model_set or inputs["model_set"],
        "--cuts",
        cuts or inputs["cuts"],
        "-o",
        output,
        *extra,
    ]


def _observation_mean_zenith(dl2) -> float:
    with open_product(dl2, level="DL2") as h5:
        pointing = read_table(h5, layout.POINTING)
        gti = read_table(h5, layout.GTI)
    mjd = pointing["time"].tai.mjd
    inside = (mjd >= gti["start"][0].tai.mjd) & (mjd <= gti["stop"][-1].tai.mjd)
    return float(np.mean(90.0 - pointing["array_altitude"][inside].to_value(u.deg)))


@pytest.mark.requirement("DPPS-DP-R-141")
def test_tailored_irf_written_registered_and_usable_for_dl3(inputs, small_config, tmp_path, capsys):
    work = tmp_path / "work"
    output = tmp_path / "obs_tailored.irf.fits.gz"
    code, out, err = _run(capsys, *_command(inputs, output, "-c", small_config, "--work-dir", work))
    assert code == 0, err
    assert "tailored IRFs of observation 10001" in out and "catalog id" in out
    assert list(work.iterdir()) == []  # the intermediate files are gone
    header = fits.getheader(output)
    assert header["DPKIND"] == "IRF" and header["IRFMODE"] == "tailored"
    assert header["OBS_ID"] == 10001 and header["MODELSET"] == inputs["model_set"]
    assert header["TAILNPNT"] == 2 and header["NSB"] == pytest.approx(1.0)
    # the production followed the observation's track: same mean zenith
    assert header["ZENITH"] == pytest.approx(_observation_mean_zenith(inputs["dl2"]), abs=0.1)
    with fits.open(output) as hdul:
        names = {h.name for h in hdul}
        aeff = QTable.read(hdul["EFFECTIVE AREA"])
    assert {"EFFECTIVE AREA", "ENERGY DISPERSION", "RAD_MAX", "PSF", "BACKGROUND"} <= names
    assert np.nanmax(aeff["EFFAREA"].to_value(u.m**2)) > 1e3  # gammas were detected
    with Catalog(inputs["chain"].catalog_url) as catalog:
        product = catalog.get_product(output.absolute())
        assert product.level.value == "IRF" and product.kind == "irf"
        assert product.obs_id == 10001
        ancestors = catalog.lineage(product).products().values()
        paths = {p.path for p in ancestors}
    assert str(inputs["dl2"].absolute()) in paths
    assert str(inputs["cuts"].absolute()) in paths
    assert str(inputs["chain"].model_set_dir.absolute() / "card.json") in paths
    # dl2-to-dl3 takes it as the observation's IRFs (model set, cuts and lineage checked)
    dl3 = tmp_path / "dl3" / "obs_010001.fits.gz"
    dl3.parent.mkdir()
    code, out, err = _run(
        capsys,
        "dl2-to-dl3",
        "-i",
        inputs["dl2"],
        "--cuts",
        inputs["cuts"],
        "--irf",
        output,
        "-o",
        dl3,
    )
    assert code == 0, err
    assert fits.getheader(dl3, "EVENTS")["IRFFILE"] == output.name
    # again: refused without --overwrite, nothing simulated
    code, _, err = _run(capsys, *_command(inputs, output, "-c", small_config))
    _one_line(code, err, "exists")


@pytest.mark.requirement("DPPS-DP-R-141")
def test_another_model_set_is_refused(inputs, small_config, tmp_path, capsys):
    other = tmp_path / "other_set"
    other.mkdir()
    (other / "card.json").write_text(json.dumps({"id": "0123456789abcdef"}))
    output = tmp_path / "irf.fits.gz"
    code, _, err = _run(capsys, *_command(inputs, output, "-c", small_config, model_set=other))
    _one_line(code, err, inputs["model_set"], "0123456789abcdef", "own model set")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other_set", "tailored.yaml"]


def test_cuts_of_another_model_set_are_refused(inputs, small_config, tmp_path, capsys):
    cuts = tmp_path / "cuts_other.fits"
    shutil.copy(inputs["cuts"], cuts)
    with fits.open(cuts, mode="update") as hdul:
        hdul[0].header["MODELSET"] = "0123456789abcdef"
    code, _, err = _run(
        capsys, *_command(inputs, tmp_path / "irf.fits.gz", "-c", small_config, cuts=cuts)
    )
    _one_line(code, err, "cuts_other.fits", "0123456789abcdef", inputs["model_set"])
    assert not (tmp_path / "irf.fits.gz").exists()


def test_a_simulated_run_is_not_an_observation(inputs, small_config, tmp_path, capsys):
    run = inputs["chain"].node_dl2[20.0]["gamma"][0]
    code, _, err = _run(
        capsys, *_command(inputs, tmp_path / "irf.fits.gz", "-c", small_config, dl2=run)
    )
    _one_line(code, err, run.name, "observation block")


def test_output_that_is_an_input_is_refused(inputs, small_config, capsys):
    code, _, err = _run(
        capsys, *_command(inputs, inputs["cuts"], "-c", small_config, "--overwrite")
    )
    _one_line(code, err, "is also an input")


@pytest.mark.requirement("DPPS-DP-R-141")
def test_a_failure_mid_production_leaves_nothing_behind(
    inputs, small_config, tmp_path, capsys, monkeypatch
):
    import datapipe_ops.reco.stage

    def broken(*args, **kwargs):
        raise DataPipeError("DL1 → DL2 failed", path=args[0])

    monkeypatch.setattr(datapipe_ops.reco.stage, "dl1_to_dl2", broken)
    work = tmp_path / "work"
    work.mkdir()
    output = tmp_path / "irf.fits.gz"
    code, _, err = _run(capsys, *_command(inputs, output, "-c", small_config, "--work-dir", work))
    _one_line(code, err, "DL1 → DL2 failed")
    assert list(work.iterdir()) == [] and not output.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_the_track_is_cut_into_equal_parts_across_north():
    times = Time("2025-11-20T00:00:00") + np.arange(8) * u.s
    az = np.array([356.0, 357.0, 358.0, 359.0, 0.0, 1.0, 2.0, 3.0])
    alt = np.linspace(60.0, 62.0, 8)
    first, second = split_track(times, alt, az, 2)
    assert first.azimuth_deg == pytest.approx(-2.5) and second.azimuth_deg == pytest.approx(1.5)
    assert np.mean([first.zenith_deg, second.zenith_deg]) == pytest.approx(90.0 - alt.mean())
    assert first.start == times[0] and second.start == times[4]


def test_conditions_of_the_observation(inputs):
    conditions = read_conditions(inputs["dl2"], 3)
    assert conditions.obs_id == 10001 and conditions.model_set_id == inputs["model_set"]
    assert conditions.nsb_level == 1.0 and conditions.wobble_offset_deg == pytest.approx(0.4)
    assert len(conditions.parts) == 3
    zeniths = [p.zenith_deg for p in conditions.parts]
    assert np.mean(zeniths) == pytest.approx(conditions.mean_zenith_deg, abs=0.05)


def test_telescopes_the_subarray_lacks_are_refused(inputs, tmp_path):
    conditions = read_conditions(inputs["dl2"], 2)
    check_telescopes(TailoredConfig(), conditions, inputs["dl2"])  # demo: 1-4
    alien = dataclasses.replace(conditions, tel_ids=(1, 2, 999))
    with pytest.raises(InputFileError, match=r"telescopes \[999\].*subarray 'demo'"):
        check_telescopes(TailoredConfig(), alien, inputs["dl2"])
