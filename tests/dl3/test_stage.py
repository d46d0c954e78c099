"""DL2 → DL3: gammapy opens the directory, the index files stay consistent, bad input fails
cleanly (one line, nothing written, the index files unchanged)."""

from __future__ import annotations

import hashlib
import shutil
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import h5py
import numpy as np
import pytest
import toy_dl2
from astropy.coordinates import SkyCoord
from astropy.io import fits

from datapipe_ops.cli.main import main
from datapipe_ops.dl3 import index
from datapipe_ops.dl3.config import DL3Config
from datapipe_ops.dl3.stage import dl2_to_dl3
from datapipe_ops.io import layout


@pytest.fixture(scope="module")
def observations(tmp_path_factory):
    directory = tmp_path_factory.mktemp("obs")
    return [
        toy_dl2.write_observation(
            directory / f"obs{obs_id}.dl2.h5", toy_dl2.Observation(obs_id=obs_id, seed=obs_id)
        )
        for obs_id in (5001, 5002, 5003)
    ]


@pytest.fixture
def catalog(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    monkeypatch.setenv("DATAPIPE_CATALOG_URL", url)
    return url


def gammapy_problems(directory: Path) -> list[dict]:
    """Every error or warning of gammapy's data-store checks.

    gammapy 2.1's EventListChecker.check_columns reads ``.unit`` of the TIME column its own
    reader has turned into an astropy Time, so it raises for every event list; the check of
    the columns is done here with the same rules on the FITS columns instead.
    """
    from gammapy.data import DataStore
    from gammapy.data.event_list import EventListChecker
    from gammapy.data.observations import ObservationChecker

    store = DataStore.from_dir(directory)
    records = list(store.check(checks=["obs_table", "hdu_table", "consistency"]))
    for obs in store.get_observations():
        records += ObservationChecker(obs).run(checks=["gti", "aeff", "edisp", "psf"])
        records += EventListChecker(obs.events).run(
            checks=["meta", "times", "coordinates_galactic", "coordinates_altaz"]
        )
        path = (
            directory
            / store.hdu_table.location_info(
                np.flatnonzero(store.hdu_table["OBS_ID"] == obs.obs_id)[0]
            ).file_name
        )
        with fits.open(path) as hdul:
            columns = {c.name: c.unit for c in hdul["EVENTS"].columns}
        for name, unit in (
            ("EVENT_ID", None),
            ("TIME", "s"),
            ("RA", "deg"),
            ("DEC", "deg"),
            ("ENERGY", "TeV"),
        ):
            if name not in columns or columns[name] != unit:
                records.append({"level": "error", "msg": f"column {name} {columns.get(name)}"})
    return [r for r in records if r["level"] in ("error", "warning")]


@pytest.mark.requirement("DPPS-DP-R-120")
def test_gammapy_opens_the_directory_and_loads_every_observation(
    irf_products, observations, tmp_path, catalog
):
    out = tmp_path / "dl3"
    for obs, flavour in zip(
        observations, ("point-like", "full-enclosure", "point-like"), strict=True
    ):
        summary = dl2_to_dl3(
            obs,
            irf_products["cuts"],
            irf_products["irfs"][20.0],
            out / f"{obs.stem}.fits.gz",
            DL3Config(flavour=flavour),
        )
        assert 0 < summary.n_selected < summary.n_events and summary.product_id is not None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert gammapy_problems(out) == []
        from gammapy.data import DataStore

        store = DataStore.from_dir(out)
        assert sorted(store.obs_table["OBS_ID"]) == [5001, 5002, 5003]
        for obs in store.get_observations():
            events = obs.events
            assert len(events.table) > 0
            assert np.all(np.diff(events.time.mjd) >= 0)
            assert obs.aeff.data.max() > 0 and obs.edisp is not None and obs.psf is not None
            assert obs.bkg is not None
            assert obs.gti.time_sum.to_value("s") == pytest.approx(1180.0)
            # the gammas come from the source: RA/Dec from the time-dependent alt/az
            offset = events.radec.separation(SkyCoord(83.633, 22.0145, unit="deg"))
            assert np.sum(offset.deg < 0.3) > 0.3 * len(offset)
        point_like = store.obs(5001)
        assert point_like.rad_max is not None
    with fits.open(out / "obs5001.dl2.fits.gz") as hdul:
        header = hdul["EVENTS"].header
        for key in (
            "OBS_ID",
            "TSTART",
            "TSTOP",
            "ONTIME",
            "LIVETIME",
            "DEADC",
            "RA_PNT",
            "DEC_PNT",
            "OBS_MODE",
            "MJDREFI",
            "MJDREFF",
            "TIMESYS",
            "TIMEREF",
            "GEOLON",
            "GEOLAT",
            "ALTITUDE",
            "CREATOR",
            "MODELSET",
        ):
            assert key in header, key
        assert header["CREATOR"].startswith("DataPipe ")
        assert {"GAMMANESS", "EVENT_TYPE", "MULTIP"} <= set(hdul["EVENTS"].columns.names)


def _digest(*paths: Path) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths if p.exists()}


def _cli(capsys, *args):
    code = main(["dl2-to-dl3", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def indexed(irf_products, observations, tmp_path, catalog):
    """A DL3 directory holding observation 5001, and its index digests."""
    out = tmp_path / "dl3"
    dl2_to_dl3(
        observations[0], irf_products["cuts"], irf_products["irfs"][20.0], out / "obs5001.fits.gz"
    )
    return out, _digest(out / index.HDU_INDEX, out / index.OBS_INDEX)


def _assert_refused(capsys, indexed, args, *words):
    out, digests = indexed
    before = sorted(p.name for p in out.iterdir())
    code, _, err = _cli(capsys, *args)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("datapipe: error: "), err
    for word in words:
        assert word in lines[0], lines[0]
    assert sorted(p.name for p in out.iterdir()) == before
    assert _digest(out / index.HDU_INDEX, out / index.OBS_INDEX) == digests


@pytest.mark.requirement("DPPS-DP-R-121")
def test_irfs_of_another_model_set_are_refused(
    capsys, indexed, irf_products, observations, tmp_path
):
    other = tmp_path / "other.dl2.h5"
    toy_dl2.write_observation(other, toy_dl2.Observation(obs_id=5002), model_set_id="toyset-2")
    out, _ = indexed
    _assert_refused(
        capsys,
        indexed,
        [
            "-i",
            other,
            "--cuts",
            irf_products["cuts"],
            "--irf",
            irf_products["irfs"][20.0],
            "-o",
            out / "obs5002.fits.gz",
        ],
        "model set toyset-1",
        "toyset-2",
    )


@pytest.mark.requirement("DPPS-DP-R-121")
def test_irfs_made_with_other_cuts_are_refused(
    capsys, indexed, irf_products, observations, tmp_path
):
    cuts = tmp_path / "cuts-copy.fits"
    with fits.open(irf_products["cuts"]) as hdul:
        hdul[0].header["COMMENT"] = "edited"
        hdul.writeto(cuts)
    out, _ = indexed
    _assert_refused(
        capsys,
        indexed,
        [
            "-i",
            observations[1],
            "--cuts",
            cuts,
            "--irf",
            irf_products["irfs"][20.0],
            "-o",
            out / "obs5002.fits.gz",
        ],
        "other cuts",
    )


@pytest.mark.requirement("DPPS-DP-R-001", "DPPS-DP-R-004")
def test_observation_without_gti_is_refused(capsys, indexed, irf_products, tmp_path):
    no_gti = toy_dl2.write_observation(
        tmp_path / "nogti.dl2.h5", toy_dl2.Observation(obs_id=5004, gtis=())
    )
    out, _ = indexed
    _assert_refused(
        capsys,
        indexed,
        [
            "-i",
            no_gti,
            "--cuts",
            irf_products["cuts"],
            "--irf",
            irf_products["irfs"][20.0],
            "-o",
            out / "obs5004.fits.gz",
        ],
        "nogti.dl2.h5",
        layout.GTI,
    )


@pytest.mark.requirement("DPPS-DP-R-001", "DPPS-DP-R-004")
def test_dl2_lacking_columns_is_refused(capsys, indexed, irf_products, observations, tmp_path):
    broken = tmp_path / "broken.dl2.h5"
    shutil.copy(observations[1], broken)
    with h5py.File(broken, "r+") as h5:
        del h5[layout.dl2_path("energy", toy_dl2.ENERGY)]
    out, _ = indexed
    _assert_refused(
        capsys,
        indexed,
        [
            "-i",
            broken,
            "--cuts",
            irf_products["cuts"],
            "--irf",
            irf_products["irfs"][20.0],
            "-o",
            out / "obs5002.fits.gz",
        ],
        "has no DL2 table",
        toy_dl2.ENERGY,
    )


@pytest.mark.requirement("DPPS-DP-R-003")
def test_existing_output_and_output_equal_to_input_are_refused(
    capsys, indexed, irf_products, observations
):
    out, _ = indexed
    common = ["--cuts", irf_products["cuts"], "--irf", irf_products["irfs"][20.0]]
    _assert_refused(
        capsys, indexed, ["-i", observations[0], *common, "-o", out / "obs5001.fits.gz"], "exists"
    )
    _assert_refused(
        capsys,
        indexed,
        ["-i", observations[0], *common, "-o", irf_products["cuts"]],
        "is also an input of this stage",
    )
    # the same observation under another name in the same directory
    _assert_refused(
        capsys,
        indexed,
        ["-i", observations[0], *common, "-o", out / "again.fits.gz"],
        "already indexed",
    )


def _add(args):
    obs, cuts, irf, output = args
    return dl2_to_dl3(obs, cuts, irf, output, register=False).obs_id


@pytest.mark.requirement("DPPS-DP-R-122")
def test_concurrent_tasks_lose_no_index_row(irf_products, tmp_path):
    out = tmp_path / "dl3"
    jobs = []
    for obs_id in range(6001, 6007):
        obs = toy_dl2.write_observation(
            tmp_path / f"o{obs_id}.dl2.h5",
            toy_dl2.Observation(obs_id=obs_id, n_gamma=50, n_background=100),
        )
        jobs.append(
            (obs, irf_products["cuts"], irf_products["irfs"][20.0], out / f"obs{obs_id}.fits.gz")
        )
    with ProcessPoolExecutor(max_workers=3) as pool:
        assert sorted(pool.map(_add, jobs)) == list(range(6001, 6007))
    assert index.indexed_obs_ids(out) == list(range(6001, 6007))
    hdu_index = fits.getdata(out / index.HDU_INDEX, 1)
    assert sorted(set(hdu_index["OBS_ID"])) == list(range(6001, 6007))
    assert not [p for p in out.iterdir() if p.name.endswith(".partial")]


@pytest.mark.requirement("DPPS-DP-R-121")
def test_irfs_whose_catalog_lineage_has_other_cuts_are_refused(
    capsys, indexed, irf_products, observations, tmp_path, catalog
):
    from datapipe_ops.catalog import Catalog, ProductRecord

    out, _ = indexed
    other_cuts = tmp_path / "other-cuts.fits"
    with fits.open(irf_products["cuts"]) as hdul:
        hdul[0].header["COMMENT"] = "another optimisation"
        hdul.writeto(other_cuts)
    irf = tmp_path / "irf-copy.fits.gz"
    shutil.copy(irf_products["irfs"][20.0], irf)
    with Catalog(catalog) as cat:
        cat.register_product(ProductRecord.from_file(other_cuts, level="IRF", kind="cuts"))
        cat.register_product(
            ProductRecord.from_file(irf, level="IRF", kind="irf"), inputs=[other_cuts]
        )
    _assert_refused(
        capsys,
        indexed,
        [
            "-i",
            observations[1],
            "--cuts",
            irf_products["cuts"],
            "--irf",
            irf,
            "-o",
            out / "obs5002.fits.gz",
        ],
        "catalog lineage",
        "other-cuts.fits",
    )
