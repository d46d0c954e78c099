"""Configuration of model training (``include/config/model_training/default.yaml``).

Every key has a default; a YAML file sets only what differs. ``features.<kind>`` lists the
feature names of each model kind (image parameters, geometry features, derived features: see
:mod:`datapipe_ops.reco.models.features`); ``lightgbm`` holds the hyper-parameters shared by
every model, ``presets`` nothing but named alternatives of them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from datapipe_ops.config import StageConfig

#: the model kinds ``datapipe train`` knows, in the order they are trained
KINDS: tuple[str, ...] = ("energy", "gammaness", "disp", "event_type")

_IMAGE = (
    "hillas_intensity",
    "hillas_length",
    "hillas_width",
    "hillas_skewness",
    "hillas_kurtosis",
    "hillas_r",
    "timing_slope",
    "timing_deviation",
    "leakage_intensity_width_2",
    "concentration_cog",
    "concentration_core",
    "morphology_n_pixels",
    "morphology_n_islands",
    "intensity_max",
    "peak_time_std",
)
_DERIVED = ("log10_intensity", "width_length", "width_over_length", "log10_intensity_per_area")
_GEOMETRY = ("impact_distance", "log10_h_max", "multiplicity")


class FeatureLists(StageConfig):
    """The features of each model kind (order matters: it is the column order of the model)."""

    energy: tuple[str, ...] = _IMAGE + _DERIVED + _GEOMETRY
    gammaness: tuple[str, ...] = _IMAGE + _DERIVED + _GEOMETRY
    disp: tuple[str, ...] = (
        *_IMAGE,
        *_DERIVED,
        "length_over_log10_intensity",
        "axis_toward_center",
        "impact_distance",
        "multiplicity",
    )
    event_type: tuple[str, ...] = (
        "multiplicity",
        "log10_energy",
        "log10_h_max",
        "mean_log10_intensity",
        "max_log10_intensity",
        "mean_impact_distance",
        "disp_spread",
        "intersection_disp_separation",
        "gammaness",
    )

    @field_validator("energy", "gammaness", "disp", "event_type")
    @classmethod
    def _not_empty(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("a model needs at least one feature")
        if len(set(value)) != len(value):
            raise ValueError("a feature is listed twice")
        return value


class LightGBMParameters(StageConfig):
    """LightGBM hyper-parameters shared by every model (LightGBM's own names)."""

    learning_rate: float = Field(0.05, gt=0.0, le=1.0)
    num_leaves: int = Field(63, ge=2)
    max_depth: int = Field(-1, ge=-1)
    min_data_in_leaf: int = Field(20, ge=1)
    feature_fraction: float = Field(0.9, gt=0.0, le=1.0)
    bagging_fraction: float = Field(0.8, gt=0.0, le=1.0)
    bagging_freq: int = Field(1, ge=0)
    lambda_l2: float = Field(1.0, ge=0.0)
    max_bin: int = Field(255, ge=4)
    num_boost_round: int = Field(1000, ge=1, description="upper bound; early stopping ends sooner")
    early_stopping_rounds: int = Field(30, ge=1)


class QualityCuts(StageConfig):
    """Telescope events a model is trained on or applied to (ctapipe's usual image quality)."""

    min_intensity: float = Field(50.0, ge=0.0, description="hillas_intensity [p.e.]")
    min_width_deg: float = Field(0.0, ge=0.0, description="hillas_width must exceed this [deg]")
    max_leakage_intensity_width_2: float = Field(0.2, ge=0.0, le=1.0)
    min_n_pixels: int = Field(3, ge=0)


class StereoDispConfig(StageConfig):
    """The combined stereo direction (axes intersection + each telescope's disp)."""

    max_telescopes: int = Field(
        8, ge=1, le=16, description="head/tail combinations searched over at most this many"
    )
    use_intersection: bool = Field(True, description="add the axes intersection as one more point")
    intersection_uncert_deg: float = Field(
        0.1, gt=0.0, description="its uncertainty when the geometry gives none [deg]"
    )
    min_uncert_deg: float = Field(0.02, gt=0.0, description="floor of predicted uncertainties")


class ModelTrainingConfig(StageConfig):
    """The whole ``datapipe train`` configuration."""

    seed: int = Field(0, ge=0, description="same seed + same data → identical model files")
    num_threads: int = Field(1, ge=1, description="fixed so that results do not depend on cores")
    n_folds: int = Field(4, ge=2, description="k of the k-fold cross-validation")
    max_telescope_events: int | None = Field(
        None, ge=100, description="per telescope type and kind; a seeded sample above this"
    )
    min_telescope_events: int = Field(
        50, ge=10, description="a telescope type with fewer training events gets no model"
    )
    energy_weighting: Literal["none", "flat_log_energy"] = Field(
        "flat_log_energy",
        description="energy, disp: weight events so every log-energy bin counts the same",
    )
    class_balance: bool = Field(True, description="gammaness: gammas and protons weigh the same")
    combine_weights: Literal["intensity", "none"] = Field(
        "intensity", description="per-event mean of telescope predictions weighted by this"
    )
    n_event_types: int = Field(3, ge=2, le=10, description="event types = quantiles of the error")
    quality: QualityCuts = QualityCuts()
    features: FeatureLists = FeatureLists()
    lightgbm: LightGBMParameters = LightGBMParameters()
    stereo_disp: StereoDispConfig = StereoDispConfig()
    chunk_size: int = Field(50_000, ge=100, description="subarray events per chunk when reading")
