"""Model sets assembled from parts trained kind by kind (the campaign's parallel training)."""

from __future__ import annotations

import json

import pytest

from datapipe_ops.catalog import Catalog
from datapipe_ops.cli.main import main
from datapipe_ops.errors import CatalogError, InputFileError
from datapipe_ops.reco.models.assemble import assemble_model_set
from datapipe_ops.reco.models.model_set import ModelSet
from datapipe_ops.reco.models.training import train_model_set

from .conftest import fast_config


def _part(production, kinds, root, **kwargs):
    return train_model_set(
        production.paths, kinds, fast_config(), root, register=False, **kwargs
    ).directory


@pytest.fixture(scope="module")
def parts(production, tmp_path_factory):
    """energy, gammaness, disp parts, their assembly and the event-type part on it."""
    root = tmp_path_factory.mktemp("parts")
    out = {kind: _part(production, [kind], root / kind) for kind in ("energy", "gammaness", "disp")}
    base = assemble_model_set(list(out.values()), root / "base", register=False)
    out["base"] = base.directory
    out["event_type"] = _part(
        production, ["event_type"], root / "event_type", base_model_set=str(base.directory)
    )
    return out


@pytest.mark.requirement("DPPS-DP-R-066")
def test_parts_assemble_into_one_loadable_set_with_lineage(parts, production, tmp_path):
    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    summary = assemble_model_set(
        [parts[k] for k in ("event_type", "disp", "energy", "gammaness")],
        tmp_path / "models",
        catalog_url=url,
    )
    loaded = ModelSet(summary.directory)
    assert loaded.kinds == ["energy", "gammaness", "disp", "event_type"]
    assert ("event_type", "subarray") in loaded.boosters
    assert ("disp_sign", "MST_MST_NectarCam") in loaded.boosters
    card = loaded.card
    assert set(card["features"]) == set(loaded.kinds)
    assert card["base_model_set"] is None and len(card["parts"]) == 4
    assert card["event_type_thresholds_log10_deg"]
    disp = json.loads((parts["disp"] / "card.json").read_text())
    assert card["cv_metrics"]["stereo_disp_68_deg"] == disp["cv_metrics"]["stereo_disp_68_deg"]
    assert {"energy_log10_resolution_68", "gammaness_auc", "event_type_0_68_deg"} <= set(
        card["cv_metrics"]
    )
    for plot in card["plots"]:
        assert (summary.directory / plot).stat().st_size > 1000
    with Catalog(url) as catalog:
        inputs = {n.product.path for n in catalog.lineage(summary.directory / "card.json").inputs}
    assert inputs == {str(p.absolute()) for p in production.paths}
    # same parts → same set, and the same model files
    again = assemble_model_set(
        [parts[k] for k in ("energy", "gammaness", "disp", "event_type")],
        tmp_path / "again",
        register=False,
    )
    assert again.model_set_id == summary.model_set_id
    with pytest.raises(CatalogError, match="already exists"):
        assemble_model_set(
            [parts[k] for k in ("energy", "gammaness", "disp", "event_type")],
            tmp_path / "models",
            register=False,
        )
    kept = assemble_model_set(
        [parts[k] for k in ("energy", "gammaness", "disp", "event_type")],
        tmp_path / "models",
        register=False,
        exist_ok=True,
    )
    assert kept.directory == summary.directory


def test_a_retried_part_is_the_same_set_with_exist_ok(parts, production):
    root = parts["energy"].parent
    assert _part(production, ["energy"], root, exist_ok=True) == parts["energy"]
    with pytest.raises(CatalogError, match="already exists"):
        _part(production, ["energy"], root)


def test_parts_that_do_not_belong_together_are_refused(parts, production, tmp_path):
    with pytest.raises(InputFileError, match="kind energy is in two parts"):
        assemble_model_set([parts["energy"], parts["base"]], tmp_path, register=False)
    with pytest.raises(InputFileError, match="not on the other parts"):
        assemble_model_set([parts["energy"], parts["event_type"]], tmp_path, register=False)
    other = train_model_set(
        production.paths[:1], ["gammaness"], fast_config(), tmp_path / "o", register=False
    )
    with pytest.raises(InputFileError, match="another training_products"):
        assemble_model_set([parts["energy"], other.directory], tmp_path, register=False)


def test_cli_assemble_prints_the_id_last(parts, tmp_path, capsys):
    args = ["model-set", "assemble", str(parts["energy"].parent), str(parts["gammaness"])]
    code = main([*args, "-o", str(tmp_path), "--no-register"])
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 0
    assert (tmp_path / out[-1] / "card.json").is_file() and "energy, gammaness" in out[0]
    code = main(["model-set", "assemble", str(parts["energy"].parent.parent), "--no-register"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "holds 0 model sets" in err[0]
