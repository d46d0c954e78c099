"""``datapipe train``: LightGBM models per telescope type, written as one model set.

:func:`train_model_set` reads the training products (merged DL1 or geometry DL2 products of
simulated gammas and protons), keeps the telescope events passing the quality cuts and trains
the requested kinds:

``energy``
    per telescope type, regressor of log10(true energy) on gammas; weighted so that every
    log-energy bin counts the same (``energy_weighting``).
``gammaness``
    per telescope type, classifier gamma (1) vs proton (0); classes weigh the same
    (``class_balance``).
``disp``
    per telescope type, three models on gammas: ``disp`` regresses |disp| (centroid to true
    source [deg]), ``disp_sign`` classifies the head/tail side (source in the +ψ direction),
    ``disp_error`` regresses the distance of the disp point to the true source given the right
    side (its out-of-fold value: the uncertainty the stereo combination weights by).
``event_type``
    one subarray-level regressor of log10(angular error) of the combined stereo direction from
    event features; the event types are the quantiles of its prediction on the training gammas
    (``n_event_types`` classes, 0 = best). It needs the disp (and energy, gammaness) telescope
    predictions: the out-of-fold ones when those kinds are trained in the same call, else those
    of ``base_model_set``.

Every model is cross-validated (k folds by event, early stopping); the card keeps the CV metrics
next to trivial baselines, and plots show them.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from datapipe_ops.config import config_hash, resolved_config
from datapipe_ops.errors import ConfigError, InputFileError
from datapipe_ops.reco.models import lgbm
from datapipe_ops.reco.models.config import KINDS, ModelTrainingConfig
from datapipe_ops.reco.models.features import feature_matrix, required_columns
from datapipe_ops.reco.models.model_set import (
    SUBARRAY,
    ModelSet,
    ModelSetDraft,
    load_model_set,
    models_root,
    register_model_set,
    write_model_set,
)
from datapipe_ops.reco.models.reconstruct import (
    EVENT_FEATURES,
    angular_separation,
    combine_events,
    empty_predictions,
    predict_telescopes,
)
from datapipe_ops.reco.models.sample import Sample, read_sample, sample_keys

GAMMA, PROTON = 0, 101
STAGE = "datapipe train"


@dataclass
class TrainingSummary:
    """What :func:`train_model_set` did."""

    directory: Path
    model_set_id: str
    kinds: list[str]
    n_events: int
    n_telescope_events: int
    metrics: dict[str, Any] = field(default_factory=dict)
    product_id: int | None = None
    seconds: float = 0.0


def _flat_energy_weights(log_energy: np.ndarray) -> np.ndarray:
    """Weights making every 0.1-decade energy bin count the same (mean weight 1)."""
    bins = np.floor(log_energy * 10.0).astype(np.int64)
    _, inverse, counts = np.unique(bins, return_inverse=True, return_counts=True)
    w = 1.0 / counts[inverse]
    return w * (len(w) / w.sum())


def _class_weights(label: np.ndarray) -> np.ndarray:
    n_pos = max(int(label.sum()), 1)
    n_neg = max(int((~label).sum()), 1)
    w = np.where(label, 0.5 / n_pos, 0.5 / n_neg)
    return w * (len(w) / w.sum())


def _primary(sample: Sample) -> np.ndarray:
    if "true_shower_primary_id" not in sample.tel.columns:
        raise InputFileError("training products have no simulation truth (shower table)")
    return sample.tel.columns["true_shower_primary_id"].astype(np.int64)


def _fit_per_type(
    sample: Sample,
    rows: np.ndarray,
    kind: str,
    features: Sequence[str],
    target: np.ndarray,
    weight: np.ndarray,
    objective: lgbm.Objective,
    folds: np.ndarray,
    config: ModelTrainingConfig,
    draft: ModelSetDraft,
) -> np.ndarray:
    """Fit one model per telescope type on ``rows``; return the out-of-fold predictions."""
    oof = np.full(len(sample.tel), np.nan)
    for tel_type in sample.tel.types():
        selected = rows & (sample.tel.tel_type == tel_type)
        if selected.sum() < config.min_telescope_events:
            draft.card.setdefault("skipped", []).append(
                {"kind": kind, "telescope_type": tel_type, "n_events": int(selected.sum())}
            )
            continue
        X = feature_matrix(sample.tel.select(selected), features)
        result = lgbm.fit(
            X, target[selected], weight[selected], folds[selected], objective, config, features
        )
        oof[selected] = result.oof
        draft.models[(kind, tel_type)] = result.model_text
        draft.model_info[(kind, tel_type)] = {
            "objective": objective,
            "n_train": int(selected.sum()),
            "cv_best_iterations": result.best_iterations,
            "metrics": result.metrics,
            "_cpu_seconds": result.training_seconds,
        }
    return oof


def _subsample(sample: Sample, config: ModelTrainingConfig) -> Sample:
    """At most ``max_telescope_events`` telescope events per type, whole events, seeded."""
    limit = config.max_telescope_events
    if limit is None:
        return sample
    rng = np.random.default_rng(config.seed)
    keep_event = np.ones(sample.n_events, dtype=bool)
    for tel_type in sample.tel.types():
        index = np.unique(sample.tel.event_index[sample.tel.tel_type == tel_type])
        if len(index) > limit:
            drop = rng.choice(index, len(index) - limit, replace=False)
            keep_event[drop] = False
    return sample if keep_event.all() else sample.subset(keep_event)


@dataclass
class TrainedSample:
    """What :func:`train_sample` produced: the unwritten model set and its CV outcome.

    ``predictions`` are the out-of-fold telescope predictions; ``cpu_seconds`` the CPU time
    of each model's cross-validation and final fit, by ``(kind, telescope type)``.
    """

    draft: ModelSetDraft
    predictions: dict[str, np.ndarray]
    metrics: dict[str, Any]
    cpu_seconds: dict[tuple[str, str], float] = field(default_factory=dict)


def kinds_in_order(kinds: Sequence[str]) -> list[str]:
    """The requested kinds, in training order (energy, gammaness, disp, event_type)."""
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        raise ConfigError(f"unknown model kind(s) {', '.join(unknown)} ({', '.join(KINDS)})")
    return [k for k in KINDS if k in set(kinds)]


def train_sample(
    sample: Sample,
    kinds: Sequence[str],
    config: ModelTrainingConfig,
    base: ModelSet | None = None,
    where: str | Path | None = None,
) -> TrainedSample:
    """Train the ``kinds`` on a loaded sample (see the module docstring); nothing is written.

    ``base`` provides the telescope predictions of the kinds not trained here (for the
    event-type model); ``where`` names the input in error messages.
    """
    kinds = kinds_in_order(kinds)
    if "event_type" in kinds and "disp" not in kinds and (base is None or "disp" not in base.kinds):
        raise InputFileError(
            "the event-type model needs disp predictions: train disp in the same call "
            "or give a base model set with disp"
        )
    features = {k: list(getattr(config.features, k)) for k in kinds}
    _check_columns(sample, features, where)
    primary = _primary(sample)
    folds = lgbm.folds_of(sample_keys(sample), config.n_folds, config.seed)
    draft = ModelSetDraft()
    predictions = empty_predictions(len(sample.tel))
    columns = sample.tel.columns
    is_gamma = (primary == GAMMA) & np.isfinite(columns["true_energy"])
    with np.errstate(divide="ignore", invalid="ignore"):
        log_energy = np.log10(np.where(columns["true_energy"] > 0, columns["true_energy"], np.nan))
    energy_weight = (
        _flat_energy_weights(np.nan_to_num(log_energy))
        if config.energy_weighting == "flat_log_energy"
        else np.ones(len(sample.tel))
    )
    if "energy" in kinds:
        predictions["log10_energy"] = _fit_per_type(
            sample,
            is_gamma,
            "energy",
            features["energy"],
            log_energy,
            energy_weight,
            "regression",
            folds,
            config,
            draft,
        )
    if "gammaness" in kinds:
        rows = (primary == GAMMA) | (primary == PROTON)
        label = primary == GAMMA
        weight = np.ones(len(sample.tel))
        if config.class_balance:
            weight[rows] = _class_weights(label[rows])
        predictions["gammaness"] = _fit_per_type(
            sample,
            rows,
            "gammaness",
            features["gammaness"],
            label.astype(np.float64),
            weight,
            "binary",
            folds,
            config,
            draft,
        )
    if "disp" in kinds:
        _train_disp(sample, is_gamma, energy_weight, folds, config, draft, predictions, features)
    if base is not None:
        from_base = predict_telescopes(sample, base.predict, base.card["features"])
        for name, values in from_base.items():
            missing = np.isnan(predictions[name])
            predictions[name][missing] = values[missing]
    metrics = _event_metrics(sample, predictions, config, kinds)
    if "event_type" in kinds:
        metrics |= _train_event_type(sample, predictions, folds, config, draft, features)
    cpu = {key: info.pop("_cpu_seconds") for key, info in draft.model_info.items()}
    draft.card |= {
        "kinds": kinds,
        "telescope_types": sorted({t for _, t in draft.models if t != SUBARRAY}),
        "features": features,
        "hyper_parameters": lgbm.lightgbm_parameters(config, "regression")
        | {
            "num_boost_round": config.lightgbm.num_boost_round,
            "early_stopping_rounds": config.lightgbm.early_stopping_rounds,
        },
        "config": resolved_config(config),
        "config_hash": config_hash(config),
        "base_model_set": base.id if base is not None else None,
        "n_training_events": sample.n_events,
        "n_training_telescope_events": len(sample.tel),
        "cv_metrics": metrics,
    }
    draft.plots = _plots(sample, predictions, config, kinds)
    return TrainedSample(draft, predictions, metrics, cpu)


def train_model_set(
    paths: Sequence[str | Path],
    kinds: Sequence[str],
    config: ModelTrainingConfig | None = None,
    output_root: str | Path | None = None,
    base_model_set: str | Path | None = None,
    register: bool = True,
    catalog_url: str | None = None,
    exist_ok: bool = False,
) -> TrainingSummary:
    """Train the ``kinds`` on the products ``paths`` and write (and register) a model set.

    ``exist_ok``: a set of the same id already under ``output_root`` is kept (a retried
    training of the same data and configuration), not an error.

    Raises
    ------
    InputFileError
        A product is missing or unreadable, has no truth, lacks a feature's column, or the
        event-type model has no disp predictions to build on.
    CatalogError
        The model set exists already.
    """
    from datapipe_ops import __version__
    from datapipe_ops.checksum import sha256_file

    start = time.perf_counter()
    config = config or ModelTrainingConfig()
    kinds = kinds_in_order(kinds)
    if not kinds or not paths:
        raise InputFileError("nothing to train: give at least one kind and one product")
    base = load_model_set(base_model_set, catalog_url) if base_model_set else None
    if "event_type" in kinds and "disp" not in kinds and (base is None or "disp" not in base.kinds):
        raise InputFileError(
            "the event-type model needs disp predictions: train disp in the same call "
            "or give a base model set with disp"
        )
    products = []
    for path in paths:
        level = _level_of(path)
        products.append(
            {"path": str(Path(path).absolute()), "sha256": sha256_file(path), "level": level}
        )
    sample = _subsample(read_sample(paths, config.quality, config.chunk_size), config)
    trained = train_sample(sample, kinds, config, base, where=paths[0])
    trained.draft.card |= {
        "software_version": __version__,
        "lightgbm_version": _lightgbm_version(),
        "training_products": products,
    }
    directory = write_model_set(trained.draft, output_root or models_root(), exist_ok)
    summary = TrainingSummary(
        directory, directory.name, kinds, sample.n_events, len(sample.tel), trained.metrics
    )
    if register:
        summary.product_id = register_model_set(directory, products, catalog_url)
    summary.seconds = time.perf_counter() - start
    return summary


def _level_of(path: str | Path) -> str:
    """The data level of a product, after checking it opens as a DL1 or DL2 product."""
    from datapipe_ops.io.product import open_product

    with open_product(path, level=("DL1", "DL2")) as h5:
        level = h5.attrs.get("data_level")
    return level.decode() if isinstance(level, bytes) else str(level)


def _lightgbm_version() -> str:
    import lightgbm

    return str(lightgbm.__version__)


def _check_columns(sample: Sample, features: Mapping[str, list[str]], where) -> None:
    available = set(sample.tel.columns)
    for kind, names_ in features.items():
        if kind == "event_type":
            unknown = [f for f in names_ if f not in EVENT_FEATURES]
            if unknown:
                raise ConfigError(
                    f"unknown event-type feature(s) {', '.join(unknown)} "
                    f"(known: {', '.join(EVENT_FEATURES)})"
                )
            continue
        missing = sorted(required_columns(names_) - available)
        if missing:
            raise InputFileError(
                f"{kind} features need column(s) the product lacks: {', '.join(missing)}",
                path=where,
            )


def _train_disp(
    sample: Sample,
    is_gamma: np.ndarray,
    weight: np.ndarray,
    folds: np.ndarray,
    config: ModelTrainingConfig,
    draft: ModelSetDraft,
    predictions: dict[str, np.ndarray],
    features: Mapping[str, list[str]],
) -> None:
    columns = sample.tel.columns
    rows = is_gamma & np.isfinite(columns["true_disp"])
    names_ = features["disp"]
    disp = _fit_per_type(
        sample,
        rows,
        "disp",
        names_,
        columns["true_disp"],
        weight,
        "regression",
        folds,
        config,
        draft,
    )
    positive = (columns["true_disp_sign"] > 0).astype(np.float64)
    p_plus = _fit_per_type(
        sample, rows, "disp_sign", names_, positive, weight, "binary", folds, config, draft
    )
    # the disp point on the right side, out of fold, and its distance to the true source
    psi = np.deg2rad(columns["hillas_psi"])
    sign = columns["true_disp_sign"]
    point_lon = columns["hillas_fov_lon"] + sign * disp * np.cos(psi)
    point_lat = columns["hillas_fov_lat"] + sign * disp * np.sin(psi)
    error = np.hypot(point_lon - columns["true_fov_lon"], point_lat - columns["true_fov_lat"])
    rows &= np.isfinite(error)
    sigma = _fit_per_type(
        sample,
        rows,
        "disp_error",
        names_,
        error,
        np.ones(len(error)),
        "regression",
        folds,
        config,
        draft,
    )
    predictions["disp"], predictions["disp_p_plus"], predictions["disp_sigma"] = disp, p_plus, sigma


def _event_truth(sample: Sample) -> tuple[np.ndarray, np.ndarray]:
    """Per event: is it a gamma, and its true log10 energy."""
    primary = sample.events["true_shower_primary_id"]
    with np.errstate(divide="ignore", invalid="ignore"):
        log_e = np.log10(sample.events["true_energy"])
    return primary == GAMMA, log_e


def _event_metrics(
    sample: Sample, predictions: Mapping[str, np.ndarray], config: ModelTrainingConfig, kinds
) -> dict[str, float]:
    """Event-level out-of-fold metrics against trivial baselines."""
    combined = combine_events(sample, predictions, config)
    gamma, log_true = _event_truth(sample)
    metrics: dict[str, float] = {}
    if "energy" in kinds:
        ok = gamma & combined["energy_valid"]
        rel = np.log10(combined["energy"][ok]) - log_true[ok]
        baseline = np.median(log_true[ok]) - log_true[ok]
        metrics["energy_log10_resolution_68"] = float(np.quantile(np.abs(rel), 0.68))
        metrics["energy_log10_resolution_68_baseline_median"] = float(
            np.quantile(np.abs(baseline), 0.68)
        )
        metrics["energy_log10_bias"] = float(np.median(rel))
    if "gammaness" in kinds:
        primary = sample.events["true_shower_primary_id"]
        ok = combined["gammaness_valid"] & ((primary == GAMMA) | (primary == PROTON))
        metrics["gammaness_auc"] = lgbm.roc_auc(primary[ok] == GAMMA, combined["gammaness"][ok])
    if "disp" in kinds or "event_type" in kinds:
        ok = gamma & combined["stereo_valid"]
        error = angular_separation(
            combined["stereo_lon"],
            combined["stereo_lat"],
            sample.events["true_fov_lon"],
            sample.events["true_fov_lat"],
        )[ok]
        metrics["stereo_disp_68_deg"] = float(np.quantile(error, 0.68))
        inter = ok & np.isfinite(sample.events["intersection_lon"])
        if inter.any():
            inter_error = angular_separation(
                sample.events["intersection_lon"],
                sample.events["intersection_lat"],
                sample.events["true_fov_lon"],
                sample.events["true_fov_lat"],
            )[inter]
            metrics["hillas_intersection_68_deg"] = float(np.quantile(inter_error, 0.68))
        metrics["stereo_disp_n_events"] = float(ok.sum())
    return metrics


def _train_event_type(
    sample: Sample,
    predictions: Mapping[str, np.ndarray],
    folds: np.ndarray,
    config: ModelTrainingConfig,
    draft: ModelSetDraft,
    features: Mapping[str, list[str]],
) -> dict[str, Any]:
    combined = combine_events(sample, predictions, config)
    gamma, _ = _event_truth(sample)
    ok = gamma & combined["stereo_valid"]
    error = angular_separation(
        combined["stereo_lon"],
        combined["stereo_lat"],
        sample.events["true_fov_lon"],
        sample.events["true_fov_lat"],
    )
    target = np.log10(np.maximum(error, 1e-4))
    names_ = features["event_type"]
    X = np.column_stack([combined[name] for name in names_]).astype(np.float32)[ok]
    event_folds = np.zeros(sample.n_events, dtype=np.int64)
    event_folds[sample.tel.event_index] = folds
    result = lgbm.fit(
        X, target[ok], np.ones(int(ok.sum())), event_folds[ok], "regression", config, names_
    )
    quantiles = np.arange(1, config.n_event_types) / config.n_event_types
    thresholds = np.quantile(result.oof[np.isfinite(result.oof)], quantiles)
    draft.models[("event_type", SUBARRAY)] = result.model_text
    draft.model_info[("event_type", SUBARRAY)] = {
        "objective": "regression",
        "target": "log10 angular error of StereoDisp [deg]",
        "n_train": int(ok.sum()),
        "cv_best_iterations": result.best_iterations,
        "metrics": result.metrics,
        "_cpu_seconds": result.training_seconds,
    }
    draft.card["event_type_thresholds_log10_deg"] = [float(t) for t in thresholds]
    types = np.searchsorted(thresholds, result.oof)
    per_type = {}
    for t in range(config.n_event_types):
        chosen = types == t
        if chosen.any():
            per_type[f"event_type_{t}_68_deg"] = float(np.quantile(error[ok][chosen], 0.68))
    return per_type


def _plots(
    sample: Sample, predictions: Mapping[str, np.ndarray], config: ModelTrainingConfig, kinds
) -> dict[str, Any]:
    """Benchmark figures of the out-of-fold predictions (matplotlib figures by file name)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    combined = combine_events(sample, predictions, config)
    gamma, log_true = _event_truth(sample)
    figures: dict[str, Any] = {}
    edges = np.linspace(np.nanmin(log_true[gamma]), np.nanmax(log_true[gamma]), 11)
    centers = 0.5 * (edges[1:] + edges[:-1])

    def per_bin(values: np.ndarray, ok: np.ndarray, q: float) -> np.ndarray:
        index = np.digitize(log_true, edges) - 1
        return np.array(
            [
                np.quantile(values[ok & (index == b)], q)
                if (ok & (index == b)).sum() > 5
                else np.nan
                for b in range(len(centers))
            ]
        )

    if "energy" in kinds:
        ok = gamma & combined["energy_valid"]
        rel = combined["energy"] / 10**log_true - 1.0
        figure = Figure(figsize=(6, 4))
        ax = figure.subplots()
        ax.plot(10**centers, per_bin(np.abs(rel), ok, 0.68), "o-", label="resolution (68%)")
        ax.plot(10**centers, per_bin(rel, ok, 0.5), "s-", label="bias (median)")
        ax.set(xscale="log", xlabel="true energy [TeV]", ylabel="ΔE/E", title="energy (CV)")
        ax.legend()
        figures["energy.png"] = figure
    if "gammaness" in kinds:
        primary = sample.events["true_shower_primary_id"]
        figure = Figure(figsize=(6, 4))
        ax = figure.subplots()
        for value, label in ((GAMMA, "gammas"), (PROTON, "protons")):
            ok = combined["gammaness_valid"] & (primary == value)
            ax.hist(
                combined["gammaness"][ok],
                bins=25,
                range=(0, 1),
                histtype="step",
                density=True,
                label=label,
            )
        ax.set(xlabel="gammaness", ylabel="density", title="gammaness (CV)")
        ax.legend()
        figures["gammaness.png"] = figure
    if "disp" in kinds:
        ok = gamma & combined["stereo_valid"]
        error = angular_separation(
            combined["stereo_lon"],
            combined["stereo_lat"],
            sample.events["true_fov_lon"],
            sample.events["true_fov_lat"],
        )
        inter = angular_separation(
            sample.events["intersection_lon"],
            sample.events["intersection_lat"],
            sample.events["true_fov_lon"],
            sample.events["true_fov_lat"],
        )
        figure = Figure(figsize=(6, 4))
        ax = figure.subplots()
        ax.plot(10**centers, per_bin(error, ok, 0.68), "o-", label="StereoDisp")
        has_inter = ok & np.isfinite(inter)
        if has_inter.any():
            ax.plot(10**centers, per_bin(inter, has_inter, 0.68), "s-", label="HillasIntersection")
        ax.set(
            xscale="log",
            xlabel="true energy [TeV]",
            ylabel="68% containment [deg]",
            title="angular resolution (CV)",
        )
        ax.legend()
        figures["angular_resolution.png"] = figure
    return figures
