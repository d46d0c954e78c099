"""The Rucio test server itself: up, schema built, DataPipe's account, scopes and RSEs there."""

from __future__ import annotations

import urllib.request

import pytest

pytestmark = pytest.mark.postgres


def test_the_server_answers_and_knows_datapipes_account(rucio_server):
    from rucio_service import ACCOUNT, INPUT_RSE, OUTPUT_RSE, SCOPES

    with urllib.request.urlopen(f"{rucio_server.url}/ping", timeout=5) as response:
        assert response.status == 200
    client = rucio_server.backend().client
    assert client.whoami()["account"] == ACCOUNT
    assert {r["rse"] for r in client.list_rses()} >= {INPUT_RSE, OUTPUT_RSE}
    assert set(SCOPES) <= set(client.list_scopes())
    (protocol,) = client.get_protocols(INPUT_RSE)
    assert protocol["scheme"] == "file"
    assert protocol["prefix"].startswith(str(rucio_server.rse_root))
