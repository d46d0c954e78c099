"""IRF sets: made of compute-irf nodes of one model set and cuts, registered, resolved."""

from __future__ import annotations

import json
import shutil

import pytest
from astropy.io import fits

from datapipe_ops.catalog import Catalog
from datapipe_ops.cli.main import main
from datapipe_ops.errors import CatalogError, InputFileError, OutputError
from datapipe_ops.irf.irf_set import (
    create_irf_set,
    list_irf_sets,
    read_irf_set,
    resolve_irf_set,
)


@pytest.fixture
def catalog_url(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    monkeypatch.setenv("DATAPIPE_CATALOG_URL", url)
    return url


def _nodes(irf_products):
    return [irf_products["irfs"][z] for z in sorted(irf_products["irfs"])]


@pytest.mark.requirement("DPPS-DP-R-094")
def test_a_set_records_model_set_cuts_and_nodes_and_is_registered_with_lineage(
    irf_products, tmp_path, catalog_url
):
    irf_set = create_irf_set(_nodes(irf_products), tmp_path / "sets", catalog_url)
    assert irf_set.directory == tmp_path / "sets" / irf_set.id
    assert len(irf_set.id) == 16 and irf_set.manifest.is_file()
    assert irf_set.zeniths == [20.0, 40.0]
    assert irf_set.cuts == irf_products["cuts"].absolute()
    header = fits.getheader(irf_products["irfs"][20.0])
    assert irf_set.model_set_id == (None if header["MODELSET"] == "NONE" else header["MODELSET"])
    with Catalog(catalog_url) as catalog:
        product = catalog.get_product(irf_set.manifest)
        assert (product.level, product.kind) == ("IRF", "irf_set")
        parents = {
            p.product.path: p.product.kind for p in catalog.lineage(irf_set.manifest, 1).inputs
        }
    expected = {str(p.absolute()): "irf" for p in _nodes(irf_products)}
    assert parents == expected | {str(irf_products["cuts"].absolute()): "cuts"}


def test_same_irfs_same_id_and_an_existing_set_is_not_replaced(irf_products, tmp_path, catalog_url):
    first = create_irf_set(_nodes(irf_products), tmp_path / "a", catalog_url, register=False)
    again = create_irf_set(_nodes(irf_products)[::-1], tmp_path / "b", catalog_url, register=False)
    assert first.id == again.id and first.nodes == again.nodes
    with pytest.raises(CatalogError, match="already exists"):
        create_irf_set(_nodes(irf_products), tmp_path / "a", catalog_url, register=False)
    rewritten = create_irf_set(
        _nodes(irf_products), tmp_path / "a", catalog_url, register=False, overwrite=True
    )
    assert rewritten.id == first.id


def test_resolve_by_id_prefix_directory_and_latest(irf_products, tmp_path, catalog_url):
    irf_set = create_irf_set(_nodes(irf_products), tmp_path / "sets", catalog_url)
    for ref in (
        irf_set.id,
        irf_set.id[:6],
        str(irf_set.directory),
        str(irf_set.manifest),
        "latest",
    ):
        assert resolve_irf_set(ref, catalog_url) == irf_set
    assert [s["id"] for s in list_irf_sets(catalog_url)] == [irf_set.id]
    with pytest.raises(InputFileError, match="no such IRF set"):
        resolve_irf_set("ffffffff", catalog_url)


def test_a_one_node_set_is_made_but_not_interpolated(irf_products, tmp_path, catalog_url, capsys):
    one = create_irf_set([irf_products["irfs"][20.0]], tmp_path / "sets", catalog_url)
    assert one.zeniths == [20.0]
    code = main(
        ["interpolate-irf", "--irf-set", one.id, "--zenith", "25", "-o", str(tmp_path / "x.fits")]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "two zenith angles" in err[0]
    assert not (tmp_path / "x.fits").exists()


def test_nodes_of_other_cuts_or_the_same_zenith_are_refused(irf_products, tmp_path, catalog_url):
    other = tmp_path / "other.fits.gz"
    with fits.open(irf_products["irfs"][40.0]) as hdul:
        hdul[0].header["CUTSSHA"] = "0" * 64
        hdul.writeto(other)
    with pytest.raises(InputFileError, match="differ in CUTSSHA"):
        create_irf_set([irf_products["irfs"][20.0], other], tmp_path / "sets", catalog_url)
    with fits.open(irf_products["irfs"][40.0]) as hdul:
        hdul[0].header["MODELSET"] = "0123456789abcdef"
        hdul.writeto(tmp_path / "model.fits.gz")
    with pytest.raises(InputFileError, match="differ in MODELSET"):
        create_irf_set(
            [irf_products["irfs"][20.0], tmp_path / "model.fits.gz"], tmp_path / "sets", catalog_url
        )
    copy = tmp_path / "copy.fits.gz"
    shutil.copy(irf_products["irfs"][20.0], copy)
    with pytest.raises(InputFileError, match="same zenith"):
        create_irf_set([irf_products["irfs"][20.0], copy], tmp_path / "sets", catalog_url)
    assert not (tmp_path / "sets").exists() or not any((tmp_path / "sets").iterdir())


def test_a_cuts_product_that_is_not_the_nodes_cuts_is_refused(irf_products, tmp_path, catalog_url):
    with pytest.raises(InputFileError, match="is not the cuts product"):
        create_irf_set(
            _nodes(irf_products), tmp_path / "s", catalog_url, cuts=irf_products["irfs"][20.0]
        )


@pytest.mark.requirement("DPPS-DP-R-094")
def test_a_node_changed_after_the_set_was_made_is_refused(irf_products, tmp_path, catalog_url):
    nodes = [tmp_path / p.name for p in _nodes(irf_products)]
    for source, copy in zip(_nodes(irf_products), nodes, strict=True):
        shutil.copy(source, copy)
    irf_set = create_irf_set(nodes, tmp_path / "sets", catalog_url, cuts=irf_products["cuts"])
    with fits.open(nodes[1], mode="update") as hdul:
        hdul[0].header["COMMENT"] = "edited"
    with pytest.raises(InputFileError, match="changed since the set was made"):
        read_irf_set(irf_set.directory)
    manifest = json.loads(irf_set.manifest.read_text())
    manifest["model_set_id"] = "edited"
    irf_set.manifest.write_text(json.dumps(manifest))
    with pytest.raises(InputFileError, match="does not match its id"):
        read_irf_set(irf_set.directory, verify=False)


@pytest.mark.requirement("DPPS-DP-R-094")
def test_interpolate_irf_takes_the_set(irf_products, tmp_path, catalog_url, capsys):
    irf_set = create_irf_set(_nodes(irf_products), tmp_path / "sets", catalog_url)
    out = tmp_path / "obs.fits"
    code = main(["interpolate-irf", "--irf-set", irf_set.id[:8], "--zenith", "30", "-o", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "interpolated (nodes 40, 20 deg)" in captured.out
    assert fits.getheader(out)["IRFNODES"] == "40,20"
    code = main(
        [
            "interpolate-irf",
            "--irf-set",
            irf_set.id,
            "--irf",
            str(_nodes(irf_products)[0]),
            "--zenith",
            "30",
            "-o",
            str(tmp_path / "y.fits"),
        ]
    )
    assert code == 2 and "either the IRF set" in capsys.readouterr().err


def test_output_root_that_is_a_file_is_refused(irf_products, tmp_path, catalog_url):
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError):
        create_irf_set(_nodes(irf_products), tmp_path / "file", catalog_url)
