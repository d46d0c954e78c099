"""The Rucio backend against the real Rucio test server: stand-in datasets uploaded, their state
followed from open to closed, corrupted and lost replicas refused, products delivered, and each
failure one line naming the DID."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from datapipe_ops.bdms.backend import BDMSAccessError, BDMSError, DeliveryFile
from datapipe_ops.bdms.manifest import add_to_manifest, start_manifest
from datapipe_ops.checksum import rucio_checksums

pytestmark = pytest.mark.postgres


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(3)}"


def stand_in_dataset(directory, names, kind="simulation", complete=True):
    """A dataset as the SimPipe/ACADA stand-ins write it: files plus a MANIFEST.json."""
    directory.mkdir(parents=True)
    start_manifest(directory, directory.name, kind, len(names) if complete else None)
    for k, name in enumerate(names):
        path = directory / name
        path.write_bytes(f"DL0 data of {name}\n".encode() * (50 + k))
        add_to_manifest(directory, path, "DL0", n_events=10 + k, meta={"obs_id": 7 + k})
    return directory


@pytest.fixture
def rucio(rucio_server):
    return rucio_server.backend()


@pytest.mark.requirement("DPPS-DP-R-030")
def test_an_uploaded_stand_in_dataset_is_ready_with_its_description(rucio, tmp_path):
    dataset = unique("simulation/prod")
    source = stand_in_dataset(tmp_path / "prod", ["a.dl0.h5", "b.dl0.h5"])
    dids = rucio.deliver_manifest_dataset(source, dataset)
    assert dids == {
        str(source / "a.dl0.h5"): f"simpipe:{dataset}/a.dl0.h5",
        str(source / "b.dl0.h5"): f"simpipe:{dataset}/b.dl0.h5",
    }
    status = rucio.status(dataset)
    assert status.ready, status.describe()
    assert status.kind == "simulation" and status.state == "dataset closed"
    first, second = status.files
    assert (first.name, first.level, first.n_events, first.meta) == (
        "a.dl0.h5",
        "DL0",
        10,
        {"obs_id": 7},
    )
    assert second.did == f"simpipe:{dataset}/b.dl0.h5"
    # the stage reads the replica in place, on the RSE's POSIX directory
    assert first.path != str(source / "a.dl0.h5")
    assert Path(first.path).read_bytes() == (source / "a.dl0.h5").read_bytes()
    assert first.checksums == rucio_checksums(source / "a.dl0.h5")
    assert f"simpipe:{dataset} on rucio" in status.describe()


@pytest.mark.requirement("DPPS-DP-R-030")
def test_an_open_dataset_is_waited_for_until_it_is_closed(rucio, tmp_path):
    dataset = unique("observation/night")
    source = stand_in_dataset(tmp_path / "n", ["obs1.dl0.h5"], kind="observation", complete=False)
    assert not rucio.status(dataset).exists
    rucio.deliver_manifest_dataset(source, dataset)
    status = rucio.status(dataset)
    assert status.exists and not status.complete and not status.ready and not status.broken
    assert "1 file(s), dataset open" in status.describe()
    rucio.client.close("simpipe", dataset)
    assert rucio.status(dataset).ready


@pytest.mark.requirement("DPPS-DP-R-030")
def test_a_corrupted_replica_is_refused_naming_the_did(rucio, tmp_path):
    dataset = unique("simulation/corrupt")
    rucio.deliver_manifest_dataset(stand_in_dataset(tmp_path / "c", ["a.dl0.h5"]), dataset)
    (replica,) = rucio.files(dataset)
    with open(replica.path, "r+b") as stream:  # same size, other bytes
        stream.write(b"XL0")
    status = type(rucio)(**_options(rucio)).status(dataset)  # a fresh backend: no cached digest
    assert not status.ready and status.broken
    assert status.problems[0].startswith(f"simpipe:{dataset}/a.dl0.h5: adler32 mismatch on ")


@pytest.mark.requirement("DPPS-DP-R-030")
def test_a_replica_lost_from_the_rse_is_refused(rucio, tmp_path):
    dataset = unique("simulation/lost")
    rucio.deliver_manifest_dataset(stand_in_dataset(tmp_path / "l", ["a.dl0.h5"]), dataset)
    (replica,) = rucio.files(dataset)
    import os

    os.unlink(replica.path)
    status = rucio.status(dataset)
    assert status.broken
    assert (
        f"simpipe:{dataset}/a.dl0.h5: AVAILABLE on DATAPIPE_DISK but missing"
        in (status.problems[0])
    )


@pytest.mark.requirement("DPPS-DP-R-030")
def test_a_night_container_holds_its_block_datasets(rucio, rucio_server, tmp_path):
    night = unique("observation/2026-11-24")
    for k in (1, 2):
        rucio.deliver_manifest_dataset(
            stand_in_dataset(tmp_path / f"b{k}", [f"obs{k}.dl0.h5"], kind="observation"),
            f"acada:{night}/block{k}",
        )
    rucio.client.add_container("acada", night)
    rucio.client.attach_dids("acada", night, [{"scope": "acada", "name": f"{night}/block1"}])
    status = rucio.status(f"acada:{night}")
    assert status.ready and status.kind == "observation"
    assert [f.name for f in status.files] == ["block1/obs1.dl0.h5"]
    rucio.client.attach_dids("acada", night, [{"scope": "acada", "name": f"{night}/block2"}])
    assert [f.name for f in rucio.status(f"acada:{night}").files] == [
        "block1/obs1.dl0.h5",
        "block2/obs2.dl0.h5",
    ]


@pytest.mark.requirement("DPPS-DP-R-031")
def test_products_are_delivered_once_and_never_overwritten(rucio, rucio_server, tmp_path):
    scope = rucio_server.add_scope(unique("camp"))
    product = tmp_path / "x.dl1.h5"
    product.write_bytes(b"DL1" * 1000)
    item = DeliveryFile(str(product), "v1/dl1/x.dl1.h5", "DL1", n_events=3)
    dataset = f"{scope}:{scope}/v1"
    assert rucio.deliver(dataset, [item]) == {str(product): f"{scope}:{scope}/v1/v1/dl1/x.dl1.h5"}
    assert rucio.deliver(dataset, [item]) == {str(product): f"{scope}:{scope}/v1/v1/dl1/x.dl1.h5"}
    (delivered,) = rucio_server.backend(rses="DATAPIPE_PRODUCTS").status(dataset).files
    assert delivered.checksums == rucio_checksums(product) and delivered.level == "DL1"
    product.write_bytes(b"DL2" * 1000)
    with pytest.raises(BDMSAccessError, match=r"already exists with adler32 .* never overwritten"):
        rucio.deliver(dataset, [item])


@pytest.mark.requirement("DPPS-DP-R-031")
def test_delivery_into_a_scope_nobody_created_says_who_must_create_it(rucio, tmp_path):
    product = tmp_path / "x.dl1.h5"
    product.write_bytes(b"DL1")
    with pytest.raises(
        BDMSAccessError, match=r"scope 'nosuchscope' does not exist .*rucio-admin scope add"
    ):
        rucio.deliver("nosuchscope:c/v1", [DeliveryFile(str(product), "x.dl1.h5", "DL1")])


@pytest.mark.requirement("DPPS-DP-R-001", "DPPS-DP-R-030")
def test_refused_credentials_and_an_unreachable_server_are_one_line_each(rucio_server, tmp_path):
    from rucio_service import free_port

    wrong = rucio_server.backend(password="not-the-password", token_dir=str(tmp_path))
    with pytest.raises(BDMSAccessError) as refused:
        wrong.status("simulation/anything")
    assert "refused the credentials of account 'datapipe' (userpass)" in str(refused.value)
    from datapipe_ops.bdms.rucio import RucioBDMS

    gone = RucioBDMS(f"http://127.0.0.1:{free_port()}", "datapipe", password="x", scope="s")
    with pytest.raises(BDMSError) as unreachable:
        gone.status("simulation/anything")
    assert not isinstance(unreachable.value, BDMSAccessError)
    assert str(unreachable.value).endswith("is unreachable")
    assert "\n" not in str(unreachable.value)


def _options(backend) -> dict:
    return {
        "host": backend.host,
        "account": backend.account,
        "password": backend.creds["password"],
        "scope": backend.scope,
        "rses": backend.rses,
        "output_rse": backend.output_rse,
    }
