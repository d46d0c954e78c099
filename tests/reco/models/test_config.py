"""The shipped training configurations load and say what their comments say."""

from __future__ import annotations

from datapipe_ops.config import load_config
from datapipe_ops.reco.models.config import ModelTrainingConfig
from datapipe_ops.resources import include_dir


def test_default_file_is_the_defaults():
    path = include_dir() / "config/model_training/default.yaml"
    assert load_config(path, ModelTrainingConfig) == ModelTrainingConfig()


def test_coarse_file_changes_only_the_boosting_steps_and_bins():
    fast = load_config(include_dir() / "config/model_training/coarse.yaml", ModelTrainingConfig)
    default = ModelTrainingConfig()
    assert fast.model_copy(update={"lightgbm": default.lightgbm}) == default
    assert fast.lightgbm.learning_rate > default.lightgbm.learning_rate
    assert fast.lightgbm.max_bin < default.lightgbm.max_bin
