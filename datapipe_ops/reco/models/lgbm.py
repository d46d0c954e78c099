"""LightGBM fitting with k-fold cross-validation, early stopping and reproducible results.

One call of :func:`fit` trains one model: it splits the rows into ``k`` folds *by subarray
event* (the telescope events of one shower never sit on both sides of a split), trains on
``k - 1`` folds with early stopping on the held-out one, keeps the out-of-fold predictions (an
honest estimate of the model on unseen events, used for the CV metrics and by the event-type
model), then trains the final model on every row for the mean number of rounds the folds chose.

Reproducibility: LightGBM is told ``deterministic=True``, ``force_row_wise=True``, a fixed
``num_threads`` and every seed; the folds come from a hash of the event ids and the seed. The
same seed and the same data therefore give byte-identical model files.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from datapipe_ops.reco.models.config import ModelTrainingConfig

Objective = Literal["regression", "binary"]


@dataclass
class FitResult:
    """A trained model with its cross-validation outcome."""

    model_text: str
    oof: np.ndarray
    best_iterations: list[int]
    metrics: dict[str, float] = field(default_factory=dict)
    training_seconds: float = 0.0  # CPU time of the folds and the final fit


def lightgbm_parameters(config: ModelTrainingConfig, objective: Objective) -> dict[str, object]:
    """The LightGBM parameter dictionary of one model (hyper-parameters + determinism)."""
    hp = config.lightgbm
    return {
        "objective": objective,
        "metric": "l2" if objective == "regression" else "binary_logloss",
        "learning_rate": hp.learning_rate,
        "num_leaves": hp.num_leaves,
        "max_depth": hp.max_depth,
        "min_data_in_leaf": hp.min_data_in_leaf,
        "feature_fraction": hp.feature_fraction,
        "bagging_fraction": hp.bagging_fraction,
        "bagging_freq": hp.bagging_freq,
        "lambda_l2": hp.lambda_l2,
        "max_bin": hp.max_bin,
        "seed": config.seed,
        "bagging_seed": config.seed + 1,
        "feature_fraction_seed": config.seed + 2,
        "data_random_seed": config.seed + 3,
        "deterministic": True,
        "force_row_wise": True,
        "num_threads": config.num_threads,
        "verbosity": -1,
    }


def folds_of(event_keys: np.ndarray, n_folds: int, seed: int) -> np.ndarray:
    """Fold number (0..n_folds-1) of each row, the same for every row of one event.

    A splitmix64 hash of the event key and the seed: independent of row order and of the
    other events, so adding files does not reshuffle the folds of the events already there.
    """
    x = np.asarray(event_keys, dtype=np.uint64) ^ np.uint64(seed * 0x9E3779B97F4A7C15 % 2**64)
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    return (x % np.uint64(n_folds)).astype(np.int64)


def fit(
    X: np.ndarray,
    y: np.ndarray,
    weight: np.ndarray,
    folds: np.ndarray,
    objective: Objective,
    config: ModelTrainingConfig,
    feature_names: Sequence[str],
) -> FitResult:
    """Cross-validate and train one LightGBM model (see the module docstring)."""
    import time

    import lightgbm

    start = time.process_time()
    params = lightgbm_parameters(config, objective)
    hp = config.lightgbm
    names = [f.replace(" ", "_") for f in feature_names]
    X = np.ascontiguousarray(X, dtype=np.float32)
    # binned once: the folds are subsets of the full dataset (no re-binning per fold)
    full = lightgbm.Dataset(
        X, y, weight=weight, feature_name=names, params=params, free_raw_data=False
    ).construct()
    oof = np.full(len(y), np.nan)
    best: list[int] = []
    for fold in range(config.n_folds):
        test = folds == fold
        if not test.any() or test.all():
            continue
        train_set = full.subset(np.flatnonzero(~test), params=params)
        valid_set = full.subset(np.flatnonzero(test), params=params)
        booster = lightgbm.train(
            params,
            train_set,
            num_boost_round=hp.num_boost_round,
            valid_sets=[valid_set],
            callbacks=[lightgbm.early_stopping(hp.early_stopping_rounds, verbose=False)],
        )
        iterations = booster.best_iteration or booster.current_iteration()
        best.append(int(iterations))
        oof[test] = booster.predict(X[test], num_iteration=iterations)
    rounds = max(1, round(float(np.mean(best)))) if best else hp.num_boost_round
    final = lightgbm.train(params, full, num_boost_round=rounds)
    text = final.model_to_string(num_iteration=-1)
    result = FitResult(text, oof, best, training_seconds=time.process_time() - start)
    result.metrics = cv_metrics(y, oof, weight, objective) | {"num_boost_round": float(rounds)}
    return result


def cv_metrics(
    y: np.ndarray, prediction: np.ndarray, weight: np.ndarray, objective: Objective
) -> dict[str, float]:
    """Out-of-fold metrics: RMSE and the RMSE of the mean (a trivial baseline), or AUC."""
    ok = np.isfinite(prediction)
    y, prediction, weight = y[ok], prediction[ok], weight[ok]
    if y.size == 0:
        return {}
    if objective == "regression":
        mean = np.average(y, weights=weight)
        rmse = float(np.sqrt(np.average((prediction - y) ** 2, weights=weight)))
        baseline = float(np.sqrt(np.average((mean - y) ** 2, weights=weight)))
        return {"cv_rmse": rmse, "cv_rmse_baseline_mean": baseline}
    return {"cv_auc": roc_auc(y > 0.5, prediction), "cv_n_positive": float((y > 0.5).sum())}


def roc_auc(positive: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve (ties count half): the Mann-Whitney statistic."""
    positive = np.asarray(positive, dtype=bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(score, kind="stable")
    sorted_score = score[order]
    ranks = np.empty(len(score), dtype=np.float64)
    # average ranks over ties
    _, first, counts = np.unique(sorted_score, return_index=True, return_counts=True)
    average = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(average, counts)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))
