"""``datapipe irf-set create|list|show`` on the command line."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from datapipe_ops.cli.main import main

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "irf"))

import toy_dl2  # the toy IRF productions of tests/irf


@pytest.fixture(scope="module")
def irfs(tmp_path_factory):
    """Node IRFs at 20 and 40 deg and their cuts (not registered)."""
    return toy_dl2.build_irf_products(tmp_path_factory.mktemp("irf_set_cli"), scale=0.2)


@pytest.mark.requirement("DPPS-DP-R-094")
def test_create_list_show(irfs, url, tmp_path, capsys):
    nodes = [str(irfs["irfs"][z]) for z in (40.0, 20.0)]
    args = ["irf-set", "create", "--irf", nodes[0], "--irf", nodes[1], "-o", str(tmp_path / "s")]
    assert main([*args, "--catalog", url, "--campaign", "no-such-campaign"]) == 2
    assert "no-such-campaign" in capsys.readouterr().err
    assert not (tmp_path / "s").exists() or not any((tmp_path / "s").iterdir())
    assert main([*args, "--catalog", url]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    set_id = out[-1]
    assert len(set_id) == 16 and "nodes 20, 40 deg" in out[0]
    assert (tmp_path / "s" / set_id / "irf_set.json").is_file()

    assert main(["irf-set", "list", "--catalog", url]) == 0
    listed = capsys.readouterr().out
    assert set_id in listed and "zenith 20,40" in listed

    assert main(["irf-set", "show", set_id[:5], "--catalog", url]) == 0
    shown = capsys.readouterr().out
    assert f"IRF set {set_id}" in shown and str(irfs["cuts"].absolute()) in shown
    assert "zenith  20.00 deg" in shown and "zenith  40.00 deg" in shown

    assert main([*args, "--catalog", url]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("datapipe: error: ") and "already exists" in err[0]


def test_show_an_unknown_set_is_one_line(url, capsys):
    assert main(["irf-set", "list", "--catalog", url]) == 0
    assert "no IRF sets registered" in capsys.readouterr().out
    assert main(["irf-set", "show", "latest", "--catalog", url]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no such IRF set" in err[0]
