"""From telescope predictions to per-event reconstruction (shared by training and apply).

:func:`combine_events` turns the per-telescope predictions of a :class:`~datapipe_ops.reco.
models.sample.Sample` (log10 energy, gammaness, |disp|, head/tail probability, disp
uncertainty) into per-event energy, gammaness and the combined stereo direction, and builds
the features of the event-type model.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from datapipe_ops.instrument.frames import telescope_to_horizontal
from datapipe_ops.reco.models.combine import stereo_disp, weighted_mean
from datapipe_ops.reco.models.config import ModelTrainingConfig
from datapipe_ops.reco.models.features import column_values, feature_matrix
from datapipe_ops.reco.models.sample import Sample

#: the per-event features the event-type model can use (:func:`event_type_features`)
EVENT_FEATURES = (
    "multiplicity",
    "log10_energy",
    "log10_h_max",
    "mean_log10_intensity",
    "max_log10_intensity",
    "mean_impact_distance",
    "disp_spread",
    "intersection_disp_separation",
    "gammaness",
    "stereo_uncert",
)
#: telescope prediction arrays (n_telescope_events,) a model set fills (NaN: no model)
TELESCOPE_PREDICTIONS = ("log10_energy", "gammaness", "disp", "disp_p_plus", "disp_sigma")


def empty_predictions(n: int) -> dict[str, np.ndarray]:
    """Telescope prediction arrays, all NaN."""
    return {name: np.full(n, np.nan) for name in TELESCOPE_PREDICTIONS}


def predict_telescopes(
    sample: Sample, predict: Callable[[str, str, np.ndarray], np.ndarray | None], features
) -> dict[str, np.ndarray]:
    """Telescope predictions of a sample from per-(kind, type) models (NaN where none).

    ``predict(kind, tel_type, X)`` returns a model's predictions or None; ``features[kind]``
    lists the model's features.
    """
    out = empty_predictions(len(sample.tel))
    targets = {
        "log10_energy": "energy",
        "gammaness": "gammaness",
        "disp": "disp",
        "disp_p_plus": "disp_sign",
        "disp_sigma": "disp_error",
    }
    for tel_type in sample.tel.types():
        rows = sample.tel.tel_type == tel_type
        part = sample.tel.select(rows)
        matrices: dict[str, np.ndarray] = {}
        for name, kind in targets.items():
            feature_kind = "disp" if kind.startswith("disp") else kind
            if feature_kind not in features:
                continue
            if feature_kind not in matrices:
                matrices[feature_kind] = feature_matrix(part, features[feature_kind])
            values = predict(kind, tel_type, matrices[feature_kind])
            if values is not None:
                out[name][rows] = values
    return out


def _weights(sample: Sample, config: ModelTrainingConfig) -> np.ndarray:
    if config.combine_weights == "intensity":
        return sample.tel.columns["hillas_intensity"]
    return np.ones(len(sample.tel))


def angular_separation(lon1, lat1, lon2, lat2) -> np.ndarray:
    """Great-circle distance [deg] between two directions given in degrees."""
    lon1, lat1, lon2, lat2 = (
        np.deg2rad(np.asarray(a, dtype=np.float64)) for a in (lon1, lat1, lon2, lat2)
    )
    s = (
        np.sin((lat2 - lat1) / 2) ** 2
        + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    )
    return np.rad2deg(2 * np.arcsin(np.sqrt(np.clip(s, 0.0, 1.0))))


def combine_events(
    sample: Sample, predictions: Mapping[str, np.ndarray], config: ModelTrainingConfig
) -> dict[str, np.ndarray]:
    """Per-event results and event-type features from telescope predictions.

    Returns a dict of (n_events,) arrays: ``energy`` / ``energy_uncert`` [TeV],
    ``energy_valid``, ``energy_n``, ``gammaness``, ``gammaness_valid``, ``gammaness_n``,
    ``stereo_lon`` / ``stereo_lat`` (telescope frame), ``stereo_alt`` / ``stereo_az``,
    ``stereo_uncert``, ``stereo_spread`` [deg], ``stereo_valid``, ``stereo_n`` and the
    event-type features (``multiplicity``, ``log10_energy`` … as in the configuration).
    """
    tel, n = sample.tel, sample.n_events
    weights = _weights(sample, config)
    out: dict[str, np.ndarray] = {}
    log_e, log_e_std, n_e = weighted_mean(tel.event_index, predictions["log10_energy"], weights, n)
    out["energy"] = 10.0**log_e
    out["energy_uncert"] = out["energy"] * np.log(10.0) * log_e_std
    out["energy_valid"] = n_e > 0
    out["energy_n"] = n_e
    g, _, n_g = weighted_mean(tel.event_index, predictions["gammaness"], weights, n)
    out["gammaness"], out["gammaness_valid"], out["gammaness_n"] = g, n_g > 0, n_g
    stereo = config.stereo_disp
    events = sample.events
    inter_sigma = np.where(
        np.isfinite(events["intersection_sigma"]) & (events["intersection_sigma"] > 0),
        np.maximum(events["intersection_sigma"], stereo.min_uncert_deg),
        stereo.intersection_uncert_deg,
    )
    inter_lon = events["intersection_lon"] if stereo.use_intersection else np.full(n, np.nan)
    sigma = np.maximum(predictions["disp_sigma"], stereo.min_uncert_deg)
    direction = stereo_disp(
        tel.event_index,
        n,
        tel.columns["hillas_fov_lon"],
        tel.columns["hillas_fov_lat"],
        tel.columns["hillas_psi"],
        predictions["disp"],
        predictions["disp_p_plus"],
        sigma,
        inter_lon,
        events["intersection_lat"],
        inter_sigma,
        stereo.max_telescopes,
    )
    valid = direction["n_telescopes"] > 0
    alt, az = telescope_to_horizontal(
        direction["lon"], direction["lat"], events["pointing_alt"], events["pointing_az"]
    )
    out |= {
        "stereo_lon": direction["lon"],
        "stereo_lat": direction["lat"],
        "stereo_alt": np.where(valid, alt, np.nan),
        "stereo_az": np.where(valid, az, np.nan),
        "stereo_uncert": direction["uncert"],
        "stereo_spread": direction["spread"],
        "stereo_valid": valid,
        "stereo_n": direction["n_telescopes"],
    }
    out |= event_type_features(sample, out)
    return out


def event_type_features(
    sample: Sample, combined: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """The per-event features the event-type model may use."""
    tel, n = sample.tel, sample.n_events
    ones = np.ones(len(tel))
    log_intensity = column_values(tel.columns, "log10_intensity")
    mean_log_i, _, count = weighted_mean(tel.event_index, log_intensity, ones, n)
    max_log_i = np.full(n, -np.inf)
    np.maximum.at(max_log_i, tel.event_index, np.nan_to_num(log_intensity, nan=-np.inf))
    mean_impact, _, _ = weighted_mean(tel.event_index, tel.columns["impact_distance"], ones, n)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_e = np.log10(combined["energy"])
        log_h = np.log10(sample.events["h_max"])
    separation = np.hypot(
        combined["stereo_lon"] - sample.events["intersection_lon"],
        combined["stereo_lat"] - sample.events["intersection_lat"],
    )
    return {
        "multiplicity": count.astype(np.float64),
        "log10_energy": log_e,
        "log10_h_max": log_h,
        "mean_log10_intensity": mean_log_i,
        "max_log10_intensity": np.where(np.isfinite(max_log_i), max_log_i, np.nan),
        "mean_impact_distance": mean_impact,
        "disp_spread": combined["stereo_spread"],
        "intersection_disp_separation": separation,
        "gammaness": combined["gammaness"],
        "stereo_uncert": combined["stereo_uncert"],
    }
