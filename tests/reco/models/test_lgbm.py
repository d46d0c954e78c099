"""LightGBM fitting: folds by event, reproducibility, metrics."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from datapipe_ops.reco.models import lgbm
from datapipe_ops.reco.models.config import ModelTrainingConfig

pytestmark = pytest.mark.requirement("DPPS-DP-R-063")


def test_folds_group_events_and_do_not_depend_on_order():
    keys = np.repeat(np.arange(1000, dtype=np.int64) * 7919, 3)
    folds = lgbm.folds_of(keys, 4, seed=5)
    assert (folds.reshape(-1, 3) == folds.reshape(-1, 3)[:, :1]).all()
    counts = np.bincount(folds, minlength=4)
    assert counts.min() > 0.8 * counts.max()
    shuffled = np.random.default_rng(0).permutation(len(keys))
    assert np.array_equal(lgbm.folds_of(keys[shuffled], 4, 5), folds[shuffled])
    assert not np.array_equal(lgbm.folds_of(keys, 4, seed=6), folds)


def test_roc_auc_matches_sklearn_with_ties():
    rng = np.random.default_rng(2)
    label = rng.random(500) < 0.3
    score = np.round(rng.normal(label * 0.8, 1.0), 1)
    assert np.isclose(lgbm.roc_auc(label, score), roc_auc_score(label, score))


@pytest.mark.requirement("DPPS-DP-R-007")
def test_fit_is_reproducible_and_learns():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(3000, 4)).astype(np.float32)
    y = 2 * X[:, 0] + np.sin(3 * X[:, 1]) + rng.normal(0, 0.1, 3000)
    folds = lgbm.folds_of(np.arange(3000), 3, 0)
    config = ModelTrainingConfig.model_validate(
        {"n_folds": 3, "lightgbm": {"learning_rate": 0.2, "num_leaves": 15}}
    )
    names = ["a", "b", "c", "d"]
    first = lgbm.fit(X, y, np.ones(3000), folds, "regression", config, names)
    second = lgbm.fit(X, y, np.ones(3000), folds, "regression", config, names)
    assert first.model_text == second.model_text
    assert np.array_equal(first.oof, second.oof)
    assert first.metrics["cv_rmse"] < 0.2 * first.metrics["cv_rmse_baseline_mean"]
    assert len(first.best_iterations) == 3
