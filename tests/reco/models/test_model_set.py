"""Model sets on disk and in the catalog: load, identical predictions, integrity, lookup."""

from __future__ import annotations

import json
import shutil

import lightgbm
import numpy as np
import pytest

from datapipe_ops.catalog import Catalog
from datapipe_ops.errors import InputFileError
from datapipe_ops.reco.models.model_set import (
    ModelSet,
    ModelSetDraft,
    list_model_sets,
    load_model_set,
    model_set_id,
    write_model_set,
)

pytestmark = pytest.mark.requirement("DPPS-DP-R-064")


def test_loaded_set_predicts_exactly_as_the_trained_model(trained):
    """save → load: the boosters rebuilt from the files give bit-identical predictions."""
    loaded = ModelSet(trained.directory)
    rng = np.random.default_rng(1)
    for entry in loaded.card["models"]:
        text = (trained.directory / entry["file"]).read_text()
        in_memory = lightgbm.Booster(model_str=text)
        n_features = in_memory.num_feature()
        X = rng.normal(size=(200, n_features)).astype(np.float32)
        X[::7, 0] = np.nan
        assert np.array_equal(
            in_memory.predict(X), loaded.predict(entry["kind"], entry["telescope_type"], X)
        )


def test_written_set_matches_its_draft(tmp_path):
    booster = lightgbm.train(
        {"objective": "regression", "verbosity": -1, "deterministic": True, "num_threads": 1},
        lightgbm.Dataset(np.arange(100.0).reshape(50, 2), np.arange(50.0)),
        num_boost_round=3,
    )
    text = booster.model_to_string()
    draft = ModelSetDraft(
        models={("energy", "LST_LST_LSTCam"): text},
        card={"kinds": ["energy"], "features": {"energy": ["a", "b"]}},
    )
    directory = write_model_set(draft, tmp_path)
    card = json.loads((directory / "card.json").read_text())
    assert directory.name == card["id"] == model_set_id(card)
    X = np.random.default_rng(0).normal(size=(30, 2))
    assert np.array_equal(
        ModelSet(directory).predict("energy", "LST_LST_LSTCam", X), booster.predict(X)
    )
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left


def test_changed_model_file_refused(trained, tmp_path):
    copy = shutil.copytree(trained.directory, tmp_path / trained.directory.name)
    model = next(copy.glob("energy.*.txt"))
    model.write_text(model.read_text().replace("learning_rate", "learning_rate "))
    with pytest.raises(InputFileError, match="changed since training") as info:
        ModelSet(copy)
    assert "\n" not in str(info.value)


def test_edited_card_refused(trained, tmp_path):
    copy = shutil.copytree(trained.directory, tmp_path / trained.directory.name)
    card = json.loads((copy / "card.json").read_text())
    card["features"]["energy"] = card["features"]["energy"][:-1]
    (copy / "card.json").write_text(json.dumps(card))
    with pytest.raises(InputFileError, match="does not match its id"):
        ModelSet(copy)


@pytest.mark.requirement("DPPS-DP-R-021")
def test_registered_with_lineage_and_found_by_id(trained, production):
    sets = list_model_sets(trained.catalog_url)
    assert [s["id"] for s in sets] == [trained.directory.name]
    assert sets[0]["kinds"] == ["energy", "gammaness", "disp", "event_type"]
    with Catalog(trained.catalog_url) as catalog:
        product = catalog.get_product(trained.directory / "card.json")
        assert product.level.value == "MODEL" and product.kind == "model_set"
        parents = {node.product.path for node in catalog.lineage(product.id).inputs}
    assert parents == {str(p.absolute()) for p in production.paths}
    prefix = trained.directory.name[:6]
    for ref in (trained.directory.name, prefix, "latest", trained.directory):
        assert load_model_set(ref, trained.catalog_url).id == trained.directory.name


def test_unknown_model_set_refused(trained):
    with pytest.raises(InputFileError, match="no such model set"):
        load_model_set("0123456789abcdef", trained.catalog_url)
