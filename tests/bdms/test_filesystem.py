"""The filesystem BDMS stand-in: a dataset directory with its manifest, a night as a container."""

from __future__ import annotations

import pytest

from datapipe_ops.bdms.backend import BDMSAccessError, DeliveryFile, open_backend
from datapipe_ops.bdms.filesystem import FilesystemBDMS
from datapipe_ops.bdms.manifest import add_to_manifest, read_manifest, start_manifest

pytestmark = pytest.mark.requirement("DPPS-DP-R-030")


def deliver(directory, names, expected=None, kind="simulation", complete=None):
    """Write files and add them to the manifest one by one, as a BDMS transfer does."""
    if not (directory / "MANIFEST.json").exists():
        start_manifest(directory, directory.name, kind, expected)
    for name in names:
        path = directory / name
        path.write_bytes(f"DL0 data of {name}\n".encode() * 100)
        add_to_manifest(directory, path, "DL0", n_events=100, meta={"obs_id": 7}, complete=complete)


def test_status_follows_a_dataset_from_absent_to_ready(tmp_path):
    bdms = FilesystemBDMS(tmp_path)
    directory = tmp_path / "prod1"
    assert not bdms.status("prod1").exists
    assert "not found" in bdms.status("prod1").describe()
    directory.mkdir()
    deliver(directory, ["a.h5"], expected=2)
    status = bdms.status("prod1")
    assert status.exists and not status.complete and not status.ready
    assert "1 of 2 file(s), manifest not complete" in status.describe()
    deliver(directory, ["b.h5"])
    status = bdms.status("prod1")
    assert status.ready
    assert [f.name for f in status.files] == ["a.h5", "b.h5"]
    assert status.files[0].path == str(directory / "a.h5")
    assert status.files[0].meta == {"obs_id": 7}
    assert status.files[0].did == "prod1/a.h5"
    assert status.summary()["n_files"] == 2


def test_a_truncated_or_missing_file_is_named(tmp_path):
    directory = tmp_path / "prod"
    directory.mkdir()
    deliver(directory, ["a.h5", "b.h5"], expected=2)
    (directory / "a.h5").write_bytes(b"short")
    (directory / "b.h5").unlink()
    problems = FilesystemBDMS(tmp_path).status("prod").problems
    assert any(p.startswith("a.h5: size 5 B") for p in problems)
    assert "b.h5: listed in the manifest but missing" in problems


def test_verified_checksums_are_not_recomputed(tmp_path, monkeypatch):
    directory = tmp_path / "prod"
    directory.mkdir()
    deliver(directory, ["a.h5"], expected=1)
    bdms = FilesystemBDMS(tmp_path)
    assert bdms.status("prod").ready
    calls = []
    monkeypatch.setattr(
        "datapipe_ops.bdms.manifest.sha256_file", lambda p: calls.append(p) or "0" * 64
    )
    assert bdms.status("prod").ready
    assert calls == []


def test_a_night_is_a_container_of_block_datasets(tmp_path):
    night = tmp_path / "observation" / "2026-11-24"
    for block in ("block1", "block2"):
        (night / block).mkdir(parents=True)
    deliver(night / "block1", ["obs1.dl0.h5"], expected=1, kind="observation")
    deliver(night / "block2", ["obs2.dl0.h5"], expected=2, kind="observation")
    bdms = FilesystemBDMS(tmp_path)
    assert bdms.members("observation/2026-11-24") == ["block1", "block2"]
    status = bdms.status("observation/2026-11-24")
    assert status.exists and not status.complete
    assert "2 of 3 file(s), manifest not complete" in status.describe()
    deliver(night / "block2", ["obs2b.dl0.h5"])
    status = bdms.status("observation/2026-11-24")
    assert status.ready and status.kind == "observation"
    assert [f.name for f in status.files] == [
        "block1/obs1.dl0.h5",
        "block2/obs2.dl0.h5",
        "block2/obs2b.dl0.h5",
    ]
    assert status.files[1].path == str(night / "block2" / "obs2.dl0.h5")
    (night / "block1" / "obs1.dl0.h5").write_bytes(b"x")
    assert "block1: obs1.dl0.h5: size 1 B" in bdms.status("observation/2026-11-24").describe()


@pytest.mark.requirement("DPPS-DP-R-031")
def test_products_are_delivered_into_a_manifest_dataset_and_never_overwritten(tmp_path):
    bdms = open_backend("filesystem", root=tmp_path / "bdms")
    product = tmp_path / "x.dl1.h5"
    product.write_bytes(b"DL1" * 100)
    item = DeliveryFile(str(product), "v1/dl1/x.dl1.h5", "DL1", n_events=3, meta={"obs_id": 5})
    dataset = bdms.product_dataset("camp")
    assert bdms.deliver(dataset, [item]) == {str(product): "products/camp/v1/dl1/x.dl1.h5"}
    assert bdms.deliver(dataset, [item]) == {str(product): "products/camp/v1/dl1/x.dl1.h5"}
    manifest = read_manifest(tmp_path / "bdms" / "products" / "camp")
    assert manifest.kind == "processed" and not manifest.complete
    (entry,) = manifest.files
    assert (entry.name, entry.level, entry.n_events, entry.meta) == (
        "v1/dl1/x.dl1.h5", "DL1", 3, {"obs_id": 5}
    )  # fmt: skip
    product.unlink()
    product.write_bytes(b"DL2" * 100)
    with pytest.raises(BDMSAccessError, match="already holds a different file"):
        bdms.deliver(dataset, [item])


def test_an_unknown_backend_is_named():
    with pytest.raises(BDMSAccessError, match="unknown BDMS backend 'hsm'"):
        open_backend("hsm")
