"""Configuration validation: one clear error naming the file and the key."""

import pytest

from datapipe_ops.config import StageConfig, config_hash, load_config
from datapipe_ops.errors import ConfigError

pytestmark = pytest.mark.requirement("DPPS-DP-R-009")


class Cleaning(StageConfig):
    picture_threshold: float = 6.0
    boundary_threshold: float = 3.0


class Stage(StageConfig):
    chunk_size: int = 1000
    cleaning: Cleaning = Cleaning()


def write(tmp_path, text):
    path = tmp_path / "stage.yaml"
    path.write_text(text)
    return path


def test_valid_file_and_defaults(tmp_path):
    config = load_config(write(tmp_path, "cleaning:\n  picture_threshold: 8\n"), Stage)
    assert config.cleaning.picture_threshold == 8
    assert config.cleaning.boundary_threshold == 3
    assert load_config(None, Stage) == Stage()


def test_unknown_key_names_file_and_key(tmp_path):
    path = write(tmp_path, "cleaning:\n  picture_treshold: 8\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, Stage)
    assert str(info.value) == f"{path}: unknown key 'cleaning.picture_treshold'"


def test_wrong_type_names_key_and_value(tmp_path):
    path = write(tmp_path, "chunk_size: many\n")
    with pytest.raises(ConfigError, match=r"key 'chunk_size'.*'many'") as info:
        load_config(path, Stage)
    assert str(path) in str(info.value)


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "absent.yaml", Stage)
    with pytest.raises(ConfigError, match="not valid YAML at line 2"):
        load_config(write(tmp_path, "a: 1\n  b: [\n"), Stage)
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(write(tmp_path, "- 1\n- 2\n"), Stage)


def test_config_hash_depends_on_resolved_values_only():
    assert config_hash(Stage()) == config_hash(Stage(chunk_size=1000))
    assert config_hash(Stage()) != config_hash(Stage(chunk_size=999))
    assert config_hash({"b": 1, "a": 2}) == config_hash({"a": 2, "b": 1})
