"""Reconstruction models against ctapipe 0.32's: resolution, separation, training and apply time.

Run: ``.venv/bin/python benchmarks/models_vs_ctapipe.py --workdir DIR [--gammas 200000]
[--protons 600000] [--with-forest] [--config include/config/model_training/coarse.yaml]
[--json out.json]``

The production (demo subarray, diffuse gammas and protons at 20° zenith) is simulated and
calibrated into ``DIR`` unless its DL1 files are there already. Its events are split in two
halves by event (a hash of the ids): one half trains, the other is reconstructed and measured;
both chains see exactly the same DL1 telescope events and the same axes intersection.

* **this chain**: ``datapipe train`` energy + gammaness + disp with the default configuration
  (LightGBM, 4-fold CV with early stopping, then the final fit), one thread. Printed beside
  its time: the boosting rounds it ran and the CPU time of one round, which bound how fast a
  cross-validated boosted model can be.
* **ctapipe**: ctapipe 0.32's ``ctapipe-train-energy-regressor`` / ``-particle-classifier``
  exactly as its own training configurations set them up (read here from the installed
  ``ctapipe/resources/train_energy_regressor.yaml`` and ``train_particle_classifier.yaml``; the
  tools have no default model): ``ExtraTreesRegressor`` / ``ExtraTreesClassifier`` with
  ``n_estimators=10, max_depth=10``, ``n_jobs=-1``, log10 target, their feature lists (the DL1
  parameters, the intersection's impact distance, h_max and average intensity, ``area``, for
  the energy the multiplicities, for the classifier the regressor's telescope and event
  energies), 5-fold (stratified for the classifier) cross-validation seeded 1337 then the final
  fit, per telescope type; the classifier on gammas and protons in the signal fraction 0.5.
  With ``--with-forest`` also the forests people usually train for production:
  ``RandomForest*`` of 100 trees (``min_samples_leaf=10``, no depth limit). Predictions are
  combined per event as ctapipe's ``StereoMeanCombiner`` does (mean of log10 energy, mean
  probability). CPU time (all threads) is compared; the regressor's apply to the classifier's
  training events counts as apply, not training. Both chains train on the telescope events
  passing this chain's quality cuts (ctapipe's example cuts keep leakage up to 0.5, i.e. a few
  more rows).
* **direction**: StereoDisp (this chain) against the axes intersection (HillasIntersection,
  ctapipe ``HillasReconstructor``'s definitions).

Printed per true-energy bin (bins with at least 50 test events): energy bias and resolution
(pyirf's definitions), gammaness AUC, angular resolution (68 % containment); then training and
apply times and their ratios. A figure goes to ``DIR/models_vs_ctapipe.png``.
"""

from __future__ import annotations

import os

for _variable in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_variable] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from astropy import units as u  # noqa: E402
from astropy.table import QTable  # noqa: E402

from datapipe_ops.config import load_config  # noqa: E402
from datapipe_ops.reco.models import lgbm  # noqa: E402
from datapipe_ops.reco.models.config import ModelTrainingConfig  # noqa: E402
from datapipe_ops.reco.models.features import column_values, feature_matrix  # noqa: E402
from datapipe_ops.reco.models.reconstruct import (  # noqa: E402
    angular_separation,
    combine_events,
    predict_telescopes,
)
from datapipe_ops.reco.models.sample import read_sample  # noqa: E402
from datapipe_ops.reco.models.training import GAMMA, PROTON, train_sample  # noqa: E402

#: ctapipe's names of the features in its training configurations → this project's columns
CTAPIPE_NAMES = {
    "HillasReconstructor_tel_impact_distance": "impact_distance",
    "HillasReconstructor_average_intensity": "average_intensity",
    "HillasReconstructor_h_max": "h_max",
    "area": "width_length",  # hillas_width * hillas_length
    "n_telescopes_triggered": "n_triggered",
    "n_telescopes_hillas_reconstructor": "multiplicity",
    "ExtraTreesRegressor_energy": "reco_energy",  # the event's mean predicted energy
    "ExtraTreesRegressor_tel_energy": "reco_tel_energy",  # this telescope's prediction
}
#: the 100-tree forests people train for production (``--with-forest``), else as configured
FOREST = ("RandomForest", {"n_estimators": 100, "min_samples_leaf": 10})
CTAPIPE_CHAINS = {
    "ctapipe's configuration (ExtraTrees 10 x depth 10)": False,
    "forest 100 trees": True,
}


def ctapipe_training_config() -> dict:
    """ctapipe's own training configurations (``ctapipe/resources/train_energy_regressor.yaml``
    and ``train_particle_classifier.yaml``, what ``ctapipe-quickstart`` hands out; the tools
    themselves have no default model): model class and parameters, ``n_jobs``, features,
    cross-validation folds and seed, signal fraction."""
    from importlib.resources import files

    import yaml

    resources = files("ctapipe") / "resources"
    energy = yaml.safe_load((resources / "train_energy_regressor.yaml").read_text())
    particle = yaml.safe_load((resources / "train_particle_classifier.yaml").read_text())
    out = {}
    for kind, tool, name, document in (
        ("energy", "TrainEnergyRegressor", "EnergyRegressor", energy),
        ("gammaness", "TrainParticleClassifier", "ParticleClassifier", particle),
    ):
        section = document[tool]
        model = section[name]
        out[kind] = {
            "model_cls": model["model_cls"],
            "model_config": dict(model["model_config"]),
            "n_jobs": model.get("n_jobs"),
            "features": [CTAPIPE_NAMES.get(f, f) for f in model["features"]],
            "n_folds": section["CrossValidator"]["n_cross_validations"],
            "cv_seed": section["CrossValidator"]["rng_seed"],
            "random_seed": section["random_seed"],
            "signal_fraction": section.get("signal_fraction"),
        }
    return out


MIN_EVENTS = 50


def production(workdir: Path, n_gammas: int, n_protons: int) -> list[Path]:
    """The DL1 files of the production (simulated and calibrated if absent)."""
    from testkit.simulated import demo_dl1_run

    paths = []
    for name, n_showers in (("gamma_diffuse", n_gammas), ("proton", n_protons)):
        dl1 = workdir / f"{name}.dl1.h5"
        if not dl1.exists():
            print(f"simulating {n_showers} {name} showers …", flush=True)
            demo_dl1_run(workdir, n_showers, stem=name, component=name)
        paths.append(dl1)
    return paths


def ctapipe_columns(sample) -> dict[str, np.ndarray]:
    """The extra columns of ctapipe's features, per telescope event."""
    tel = sample.tel
    intensity = tel.columns["hillas_intensity"]
    total = np.bincount(tel.event_index, intensity, minlength=sample.n_events)
    count = np.bincount(tel.event_index, minlength=sample.n_events)
    return {
        "average_intensity": (total / np.maximum(count, 1))[tel.event_index],
        "n_triggered": sample.events["n_triggered"][tel.event_index],
        "width_length": column_values(tel.columns, "width_length"),
    }


def sklearn_model(kind: str, name: str, config: dict, n_jobs: int | None):
    from sklearn import ensemble

    if not name.endswith(("Regressor", "Classifier")):
        name += "Regressor" if kind == "energy" else "Classifier"
    return getattr(ensemble, name)(
        **config, **({"n_jobs": n_jobs} if n_jobs else {}), random_state=0
    )


def _finite_rows(sample, rows: np.ndarray, features: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The rows whose features are all finite (ctapipe trains and predicts on those only)."""
    index = np.flatnonzero(rows)
    X = feature_matrix(sample.tel.select(rows), features)
    finite = np.isfinite(X).all(axis=1)
    return index[finite], X[finite]


def _energy_columns(sample, models: dict, features: list[str]) -> None:
    """ctapipe's energy features of the classifier: each telescope's and the event's mean
    (in log) predicted energy, where the energy regressor predicts."""
    tel_log_e = np.full(len(sample.tel), np.nan)
    for tel_type, model in models.items():
        index, X = _finite_rows(sample, sample.tel.tel_type == tel_type, features)
        if len(index):
            tel_log_e[index] = model.predict(X)
    ok = np.isfinite(tel_log_e)
    n = np.bincount(sample.tel.event_index[ok], minlength=sample.n_events)
    total = np.bincount(sample.tel.event_index[ok], tel_log_e[ok], minlength=sample.n_events)
    with np.errstate(invalid="ignore", divide="ignore"):
        event_log_e = np.where(n > 0, total / n, np.nan)
    sample.tel.columns["reco_tel_energy"] = 10**tel_log_e
    sample.tel.columns["reco_energy"] = 10 ** event_log_e[sample.tel.event_index]


def ctapipe_chain(train, test, forest: bool = False) -> dict:
    """ctapipe's training as its configurations set it up, per telescope type: the energy
    regressor (log10 target, gammas, k-fold CV then the final fit), then the particle
    classifier on gammas and protons in the configured signal fraction with the regressor's
    energies among its features (k-fold stratified CV then the final fit); and the apply.
    ``forest``: the same with 100-tree random forests instead of the configured model."""
    from sklearn.model_selection import KFold, StratifiedKFold

    configuration = ctapipe_training_config()
    out = {"train_seconds": 0.0, "apply_seconds": 0.0, "config": configuration}
    predictions = {
        "log10_energy": np.full(len(test.tel), np.nan),
        "gammaness": np.full(len(test.tel), np.nan),
    }
    primary = train.tel.columns["true_shower_primary_id"]
    energy_models = {}
    for kind in ("energy", "gammaness"):
        setup = configuration[kind]
        name, config = FOREST if forest else (setup["model_cls"], setup["model_config"])
        features, n_folds = setup["features"], setup["n_folds"]
        cv_rng = np.random.default_rng(setup["cv_seed"])
        rng = np.random.default_rng(setup["random_seed"])
        if kind == "gammaness":  # ctapipe-apply-models of the regressor on the training set
            start = time.process_time()
            _energy_columns(train, energy_models, configuration["energy"]["features"])
            _energy_columns(test, energy_models, configuration["energy"]["features"])
            out["apply_seconds"] += time.process_time() - start
        for tel_type in train.tel.types():
            of_type = train.tel.tel_type == tel_type
            if kind == "energy":
                index, X = _finite_rows(train, of_type & (primary == GAMMA), features)
                y = np.log10(train.tel.columns["true_energy"][index])
                splitter = KFold
            else:
                signal, X_signal = _finite_rows(train, of_type & (primary == GAMMA), features)
                background, X_bg = _finite_rows(train, of_type & (primary == PROTON), features)
                fraction = setup["signal_fraction"]
                if len(signal) < (len(signal) + len(background)) * fraction:
                    keep = np.sort(
                        rng.choice(len(background), int(len(signal) * (1 / fraction - 1)), False)
                    )
                    X_bg = X_bg[keep]
                else:
                    keep = np.sort(
                        rng.choice(len(signal), int(len(background) / (1 / fraction - 1)), False)
                    )
                    X_signal = X_signal[keep]
                X = np.concatenate([X_signal, X_bg])
                y = np.r_[np.ones(len(X_signal), int), np.zeros(len(X_bg), int)]
                splitter = StratifiedKFold
            start = time.process_time()
            kfold = splitter(n_folds, shuffle=True, random_state=cv_rng.integers(0, 2**31 - 1))
            for fold_train, _ in kfold.split(X, y):
                sklearn_model(kind, name, config, setup["n_jobs"]).fit(X[fold_train], y[fold_train])
            final = sklearn_model(kind, name, config, setup["n_jobs"]).fit(X, y)
            out["train_seconds"] += time.process_time() - start
            if kind == "energy":
                energy_models[tel_type] = final
            index, X_test = _finite_rows(test, test.tel.tel_type == tel_type, features)
            start = time.process_time()
            if kind == "energy":
                values = final.predict(X_test)
            else:
                values = final.predict_proba(X_test)[:, 1]
            out["apply_seconds"] += time.process_time() - start
            predictions["log10_energy" if kind == "energy" else "gammaness"][index] = values
    out["predictions"] = predictions
    return out


def per_bin(test, combined, edges, energy_valid, gammaness_valid) -> QTable:
    """Energy bias/resolution and gammaness AUC per true-energy bin, on the given events."""
    from pyirf.benchmarks import energy_bias_resolution

    events = test.events
    gamma = events["true_shower_primary_id"] == GAMMA
    ok = gamma & energy_valid
    table = QTable(
        {
            "true_energy": events["true_energy"][ok] * u.TeV,
            "reco_energy": combined["energy"][ok] * u.TeV,
        }
    )
    result = energy_bias_resolution(table, edges * u.TeV)
    index = np.digitize(events["true_energy"], edges) - 1
    auc, n_gamma = [], []
    for b in range(len(edges) - 1):
        inside = (index == b) & gammaness_valid
        labels = events["true_shower_primary_id"][inside]
        n_gamma.append(int((ok & (index == b)).sum()))
        auc.append(
            lgbm.roc_auc(labels == GAMMA, combined["gammaness"][inside])
            if (labels == PROTON).sum() >= 10
            else np.nan
        )
    result["auc"] = auc
    result["n_gamma"] = n_gamma
    return result


def angular(test, lon, lat, valid, edges) -> np.ndarray:
    events = test.events
    gamma = (events["true_shower_primary_id"] == GAMMA) & valid
    theta = angular_separation(lon, lat, events["true_fov_lon"], events["true_fov_lat"])
    index = np.digitize(events["true_energy"], edges) - 1
    return np.array(
        [
            np.quantile(theta[gamma & (index == b)], 0.68)
            if (gamma & (index == b)).sum() >= MIN_EVENTS
            else np.nan
            for b in range(len(edges) - 1)
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--gammas", type=int, default=200000)
    parser.add_argument("--protons", type=int, default=600000)
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--config", type=Path, help="this chain's training configuration (default: the defaults)"
    )
    parser.add_argument(
        "--with-forest", action="store_true", help="also the 100-tree random forests (slow)"
    )
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    paths = production(args.workdir, args.gammas, args.protons)
    config = load_config(args.config, ModelTrainingConfig)
    sample = read_sample(paths, config.quality, config.chunk_size)
    half = lgbm.folds_of(sample.event_keys(), 2, 2024)
    train, test = sample.subset(half == 0), sample.subset(half == 1)
    for part in (train, test):  # ctapipe's "n_telescopes_triggered": images in the event
        part.events["n_triggered"] = np.bincount(part.tel.event_index, minlength=part.n_events)
        part.tel.columns.update(ctapipe_columns(part))
    counts = {
        name: {
            p: int((s.events["true_shower_primary_id"] == c).sum())
            for p, c in (("gammas", GAMMA), ("protons", PROTON))
        }
        for name, s in (("train", train), ("test", test))
    }
    print(f"events: {counts}; telescope events train {len(train.tel)}, test {len(test.tel)}")

    start = time.process_time()
    trained = train_sample(train, ["energy", "gammaness", "disp"], config)
    ours_train = time.process_time() - start
    ours_train_eg = sum(
        seconds
        for (kind, _), seconds in trained.cpu_seconds.items()
        if kind in ("energy", "gammaness")
    )
    import lightgbm

    rounds = sum(
        sum(info["cv_best_iterations"])
        + len(info["cv_best_iterations"]) * config.lightgbm.early_stopping_rounds
        + info["metrics"]["num_boost_round"]
        for (kind, _), info in trained.draft.model_info.items()
        if kind in ("energy", "gammaness")
    )
    boosters = {key: lightgbm.Booster(model_str=text) for key, text in trained.draft.models.items()}

    def predict(kind, tel_type, X):
        booster = boosters.get((kind, tel_type))
        return None if booster is None else booster.predict(X)

    features = trained.draft.card["features"]
    start = time.process_time()
    ours = combine_events(test, predict_telescopes(test, predict, features), config)
    ours_apply = time.process_time() - start
    start = time.process_time()
    energy_gammaness_only = {k: v for k, v in features.items() if k in ("energy", "gammaness")}
    predict_telescopes(test, predict, energy_gammaness_only)
    ours_apply_eg = time.process_time() - start

    edges = 10 ** np.arange(-1.6, 2.4, 0.2)
    results = {}
    for label, forest in CTAPIPE_CHAINS.items():
        if forest and not args.with_forest:
            continue
        chain = ctapipe_chain(train, test, forest)
        nan = np.full(len(test.tel), np.nan)
        predictions = chain["predictions"] | {"disp": nan, "disp_p_plus": nan, "disp_sigma": nan}
        mean_config = config.model_copy(update={"combine_weights": "none"})
        results[label] = (chain, combine_events(test, predictions, mean_config))
    # every chain is measured on the events all chains reconstruct
    energy_valid = ours["energy_valid"].copy()
    gammaness_valid = ours["gammaness_valid"].copy()
    for _, combined in results.values():
        energy_valid &= combined["energy_valid"]
        gammaness_valid &= combined["gammaness_valid"]
    ours_bins = per_bin(test, ours, edges, energy_valid, gammaness_valid)
    results = {
        label: (chain, per_bin(test, combined, edges, energy_valid, gammaness_valid))
        for label, (chain, combined) in results.items()
    }
    enough = ours_bins["n_gamma"] >= MIN_EVENTS
    ang_ours = angular(test, ours["stereo_lon"], ours["stereo_lat"], ours["stereo_valid"], edges)
    inter_valid = np.isfinite(test.events["intersection_lon"])
    ang_inter = angular(
        test,
        test.events["intersection_lon"],
        test.events["intersection_lat"],
        inter_valid & ours["stereo_valid"],
        edges,
    )
    report = {
        "counts": counts,
        "datapipe": {
            "train_cpu_s": ours_train,
            "train_energy_gammaness_cpu_s": ours_train_eg,
            "apply_cpu_s": ours_apply,
            "apply_energy_gammaness_cpu_s": ours_apply_eg,
        },
    }
    print()
    header = f"{'E_true [TeV]':>14} {'n_γ':>6} | {'bias':>14} | {'resolution':>14} | {'AUC':>14} |"
    print(header + f" {'68% [deg] disp / inters.':>26}")
    print(f"{'':21} | " + " | ".join([f"{'ours':>6} {'ctapipe':>7}"] * 3) + " |")
    first_label = next(iter(results))
    theirs = results[first_label][1]
    for b in np.flatnonzero(enough):
        lo, hi = edges[b], edges[b + 1]
        print(
            f"{lo:6.3g}–{hi:<7.3g} {ours_bins['n_gamma'][b]:6d} | "
            f"{ours_bins['bias'][b]:6.3f} {theirs['bias'][b]:7.3f} | "
            f"{ours_bins['resolution'][b]:6.3f} {theirs['resolution'][b]:7.3f} | "
            f"{ours_bins['auc'][b]:6.3f} {theirs['auc'][b]:7.3f} | "
            f"{ang_ours[b]:8.3f} / {ang_inter[b]:6.3f}  ({1 - ang_ours[b] / ang_inter[b]:+.0%})"
        )
    low = enough & (edges[1:] <= 1.0) & np.isfinite(ang_ours) & np.isfinite(ang_inter)
    high = enough & (edges[:-1] >= 1.0) & np.isfinite(ang_ours) & np.isfinite(ang_inter)
    gain_low = 1 - np.mean(ang_ours[low] / ang_inter[low]) if low.any() else np.nan
    gain_high = 1 - np.mean(ang_ours[high] / ang_inter[high]) if high.any() else np.nan
    print(
        f"\nangular resolution, StereoDisp vs HillasIntersection: {gain_low:+.0%} better below "
        f"1 TeV (target ≥ +15%), {gain_high:+.0%} above (target ≥ 0%)"
    )
    report["angular_gain_below_1TeV"] = gain_low
    report["angular_gain_above_1TeV"] = gain_high
    print(
        f"\nthis chain: training energy+gammaness {ours_train_eg:.1f} s CPU "
        f"(all three kinds incl. disp: {ours_train:.1f} s), apply energy+gammaness "
        f"{ours_apply_eg:.2f} s (everything incl. StereoDisp: {ours_apply:.2f} s)"
    )
    print(
        f"  {rounds:.0f} boosting rounds (CV folds incl. the early-stopping patience, final fits):"
        f" {1e3 * ours_train_eg / rounds:.2f} ms CPU per round"
    )
    report["datapipe"]["boosting_rounds_energy_gammaness"] = rounds
    for label, (chain, bins) in results.items():
        worse_res = np.sum(enough & (ours_bins["resolution"] > bins["resolution"]))
        worse_auc = np.sum(enough & (ours_bins["auc"] < bins["auc"]))
        train_ratio = chain["train_seconds"] / ours_train_eg
        apply_ratio = chain["apply_seconds"] / ours_apply_eg
        print(
            f"{label}: training {chain['train_seconds']:.1f} s CPU -> ratio "
            f"{train_ratio:.1f}x (target ≥ 50x: ≤ {chain['train_seconds'] / 50:.3f} s, "
            f"{chain['train_seconds'] / 50 / (ours_train_eg / rounds):.0f} rounds); apply "
            f"{chain['apply_seconds']:.2f} s -> ratio {apply_ratio:.1f}x;"
            f" bins where this chain is worse: resolution {worse_res}, AUC {worse_auc} "
            f"of {int(enough.sum())}"
        )
        report[label] = {
            "train_cpu_s": chain["train_seconds"],
            "apply_cpu_s": chain["apply_seconds"],
            "resolution": [float(x) for x in bins["resolution"]],
            "auc": [float(x) for x in bins["auc"]],
        }
    report["bins_tev"] = [float(x) for x in edges]
    report["datapipe"] |= {
        "resolution": [float(x) for x in ours_bins["resolution"]],
        "auc": [float(x) for x in ours_bins["auc"]],
        "angular_68_stereo_disp": [float(x) for x in ang_ours],
        "angular_68_intersection": [float(x) for x in ang_inter],
    }
    figure(
        args.workdir / "models_vs_ctapipe.png",
        edges,
        enough,
        ours_bins,
        results,
        ang_ours,
        ang_inter,
    )
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, default=float))


def figure(path, edges, enough, ours, results, ang_ours, ang_inter) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    centers = np.sqrt(edges[1:] * edges[:-1])[enough]
    fig = Figure(figsize=(13, 3.8))
    axes = fig.subplots(1, 3, sharex=True)
    axes[0].plot(centers, ours["resolution"][enough], "o-", label="this chain (LightGBM)")
    axes[1].plot(centers, ours["auc"][enough], "o-", label="this chain (LightGBM)")
    for label, (_, bins) in results.items():
        axes[0].plot(centers, bins["resolution"][enough], "s--", label=label)
        axes[1].plot(centers, bins["auc"][enough], "s--", label=label)
    axes[2].plot(centers, ang_ours[enough], "o-", label="StereoDisp")
    axes[2].plot(centers, ang_inter[enough], "s--", label="HillasIntersection")
    for ax, ylabel in zip(
        axes, ("energy resolution", "gammaness AUC", "68% containment [deg]"), strict=True
    ):
        ax.set(xscale="log", xlabel="true energy [TeV]", ylabel=ylabel)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    print(f"figure: {path}")


if __name__ == "__main__":
    main()
