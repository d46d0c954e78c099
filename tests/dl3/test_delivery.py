"""Delivery to the outbox: the chosen event lists with index files reduced to them and a
manifest of sha256s, written atomically, recorded in the catalog; bad input fails cleanly."""

from __future__ import annotations

import json

import numpy as np
import pytest
import toy_dl2
from astropy.table import Table

from datapipe_ops.catalog import Catalog
from datapipe_ops.checksum import sha256_file
from datapipe_ops.cli.main import main
from datapipe_ops.dl3 import index
from datapipe_ops.dl3.delivery import deliver, verify_delivery
from datapipe_ops.dl3.stage import dl2_to_dl3


@pytest.fixture(scope="module")
def night(irf_products, tmp_path_factory):
    """A DL3 directory of three observations (their products in a catalog of their own)."""
    root = tmp_path_factory.mktemp("night")
    catalog_url = f"sqlite:///{root / 'catalog.sqlite'}"
    files = []
    for obs_id in (6001, 6002, 6003):
        dl2 = toy_dl2.write_observation(
            root / f"obs{obs_id}.dl2.h5", toy_dl2.Observation(obs_id=obs_id, seed=obs_id)
        )
        summary = dl2_to_dl3(
            dl2,
            irf_products["cuts"],
            irf_products["irfs"][20.0],
            root / "dl3" / f"obs{obs_id}.dl3.fits.gz",
            catalog_url=catalog_url,
        )
        files.append(summary.output)
    return {"files": files, "catalog": catalog_url, "dl3": root / "dl3"}


def snapshot(directory):
    return {p.name: sha256_file(p) for p in directory.iterdir() if p.is_file()}


@pytest.mark.requirement("DPPS-DP-R-132")
def test_delivery_copies_reduces_the_indexes_and_registers(night, tmp_path):
    before = snapshot(night["dl3"])
    outbox = tmp_path / "outbox" / "nightly" / "v1" / "2026-11-24"
    chosen = [night["files"][2], night["files"][0]]
    summary = deliver(
        chosen, outbox, metadata={"night": "2026-11-24"}, catalog_url=night["catalog"]
    )
    assert summary.obs_ids == [6001, 6003]
    assert sorted(p.name for p in outbox.iterdir()) == [
        "MANIFEST.json",
        "hdu-index.fits.gz",
        "obs-index.fits.gz",
        "obs6001.dl3.fits.gz",
        "obs6003.dl3.fits.gz",
    ]
    assert [p.name for p in outbox.parent.iterdir()] == [outbox.name]  # no staging left
    manifest = json.loads((outbox / "MANIFEST.json").read_text())
    assert manifest["night"] == "2026-11-24" and manifest["obs_ids"] == [6001, 6003]
    assert {e["name"]: e["sha256"] for e in manifest["files"]} == {
        name: digest for name, digest in snapshot(outbox).items() if name != "MANIFEST.json"
    }
    assert verify_delivery(outbox) == []
    for name in ("hdu-index.fits.gz", "obs-index.fits.gz"):
        ids = set(np.asarray(Table.read(outbox / name)["OBS_ID"]).tolist())
        assert ids == {6001, 6003}, name
    from gammapy.data import DataStore

    store = DataStore.from_dir(outbox)
    assert [obs.obs_id for obs in store.get_observations()] == [6001, 6003]
    assert snapshot(night["dl3"]) == before  # the night's directory is untouched
    with Catalog(night["catalog"]) as catalog:
        product = catalog.get_product(outbox / "MANIFEST.json")
        assert product.level == "DL3" and product.kind == "delivery"
        inputs = {p.path for p in catalog.lineage(product.path, depth=1).products().values()}
        assert {str(night["files"][0]), str(night["files"][2])} <= inputs
    (outbox / "obs6001.dl3.fits.gz").write_bytes(b"changed")
    assert verify_delivery(outbox) == ["obs6001.dl3.fits.gz: sha256 differs from the manifest"]


def test_an_existing_delivery_is_replaced_only_with_overwrite(night, tmp_path):
    outbox = tmp_path / "outbox"
    deliver(night["files"][:1], outbox, register=False)
    before = snapshot(outbox)
    with pytest.raises(Exception, match="exists; give --overwrite"):
        deliver(night["files"], outbox, register=False)
    assert snapshot(outbox) == before
    summary = deliver(night["files"], outbox, register=False, overwrite=True)
    assert summary.obs_ids == [6001, 6002, 6003] and verify_delivery(outbox) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outbox"]


def run(capsys, *args):
    code = main([*map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def test_bad_input_is_one_line_and_leaves_nothing(night, tmp_path, capsys):
    outbox = tmp_path / "outbox"
    not_dl3 = tmp_path / "x.dl3.fits.gz"
    not_dl3.write_bytes(b"not a fits file")
    cases = [
        ([tmp_path / "missing.fits.gz"], "no such file"),
        ([not_dl3], "unreadable DL3 file"),
        ([night["files"][0], not_dl3], "several directories"),
    ]
    for files, problem in cases:
        code, _, err = run(capsys, "deliver", *files, "-o", outbox, "--no-register")
        assert code == 2 and err.startswith("datapipe: error: ") and problem in err, err
        assert err.count("\n") == 1
    code, _, err = run(capsys, "deliver", night["files"][0], "-o", night["dl3"] / "out")
    assert code == 2 and "is the DL3 directory" in err
    code, _, err = run(
        capsys, "deliver", night["files"][0], "-o", outbox, "--meta", "nokey", "--no-register"
    )
    assert code == 2 and "KEY=VALUE" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.dl3.fits.gz"]


def test_an_unindexed_event_list_is_refused(night, tmp_path, capsys):
    import shutil

    copy = night["dl3"] / "renamed.dl3.fits.gz"
    shutil.copy(night["files"][1], copy)
    try:
        code, _, err = run(capsys, "deliver", copy, "-o", tmp_path / "o", "--no-register")
    finally:
        copy.unlink()
    assert code == 2 and "not indexed under this name" in err
    assert index.indexed_obs_ids(night["dl3"]) == [6001, 6002, 6003]
