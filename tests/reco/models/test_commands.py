"""`datapipe train` and `datapipe model-set` through the real entry point."""

from __future__ import annotations

import pytest

from datapipe_ops.catalog import Catalog
from datapipe_ops.cli.main import main


def run(capsys, *args):
    code = main([*map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.requirement("DPPS-DP-R-064")
def test_train_list_show(production, tmp_path, capsys, monkeypatch):
    catalog_url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    monkeypatch.setenv("DATAPIPE_CATALOG_URL", catalog_url)
    config = tmp_path / "fast.yaml"
    config.write_text(
        "n_folds: 2\nlightgbm: {learning_rate: 0.2, num_leaves: 7, num_boost_round: 50}\n"
    )
    code, out, err = run(
        capsys,
        "train",
        "energy",
        "gammaness",
        "-i",
        production.gamma,
        "-i",
        production.proton,
        "-o",
        tmp_path / "sets",
        "-c",
        config,
        "--seed",
        "3",
    )
    assert code == 0, err
    assert out.startswith("model set ") and "catalog id" in out and "gammaness_auc" in out
    set_id = out.split()[2]
    assert (tmp_path / "sets" / set_id / "card.json").is_file()
    code, out, err = run(capsys, "model-set", "list")
    assert code == 0 and set_id in out and "energy,gammaness" in out
    code, out, err = run(capsys, "model-set", "show", set_id[:8])
    assert code == 0 and f"model set {set_id}" in out and "energy.LST_LST_LSTCam.txt" in out
    assert str(production.gamma.absolute()) in out
    code, out, _ = run(capsys, "model-set", "show", set_id, "--json")
    assert code == 0 and '"config_hash"' in out
    # the same training again: same id, refused, nothing changed
    code, out, err = run(
        capsys,
        "train",
        "energy",
        "gammaness",
        "-i",
        production.gamma,
        "-i",
        production.proton,
        "-o",
        tmp_path / "sets",
        "-c",
        config,
        "--seed",
        "3",
    )
    assert code == 2 and err.count("\n") == 1 and "already exists" in err and set_id in err
    with Catalog(catalog_url) as catalog:
        assert catalog.count_products() == 3  # the set and its two training products


@pytest.mark.requirement("DPPS-DP-R-001", "DPPS-DP-R-064")
def test_bad_kind_and_unknown_set_one_line(production, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DATAPIPE_CATALOG_URL", f"sqlite:///{tmp_path / 'c.sqlite'}")
    code, _, err = run(capsys, "train", "colour", "-i", production.gamma, "-o", tmp_path)
    assert code == 2 and err.startswith("datapipe: error: ") and "colour" in err
    assert err.count("\n") == 1
    code, _, err = run(capsys, "model-set", "show", "feedbeef")
    assert code == 2 and "no such model set" in err and err.count("\n") == 1
    code, _, err = run(capsys, "train", "energy", "-i", tmp_path / "none.h5", "-o", tmp_path)
    assert code == 2 and "does not exist" in err and err.count("\n") == 1
    assert not [p for p in tmp_path.iterdir() if p.is_dir()]  # no model set written
