"""The YAML files under include/instrument and their validation."""

import shutil
from pathlib import Path

import pytest
import yaml

from datapipe_ops.errors import ConfigError
from datapipe_ops.instrument import (
    available_cameras,
    available_layouts,
    available_sites,
    load_camera,
    load_optics,
    load_site,
    load_subarray,
)
from datapipe_ops.instrument.loading import instrument_dir


@pytest.fixture
def recipe(tmp_path):
    """A copy of the LSTCam recipe to break, and a function writing it back."""
    data = yaml.safe_load((instrument_dir() / "cameras" / "LSTCam.yaml").read_text())

    def write(content: dict, name: str = "LSTCam") -> Path:
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(content))
        return path

    return data, write


def test_a_valid_copy_of_a_recipe_loads(recipe):
    data, write = recipe
    camera = load_camera(write(data))
    assert camera.geometry == load_camera("LSTCam").geometry


@pytest.mark.requirement("DPPS-DP-R-009")
def test_unknown_key_is_named_with_the_file(recipe):
    data, write = recipe
    data["pixels"]["pitch_mm"] = 50
    path = write(data)
    with pytest.raises(ConfigError) as info:
        load_camera(path)
    assert info.value.path == str(path)
    assert "unknown key 'pixels.hex_modules.pitch_mm'" in str(info.value)


@pytest.mark.requirement("DPPS-DP-R-009")
def test_wrong_type_is_named_with_the_file(recipe):
    data, write = recipe
    data["readout"]["n_samples"] = "forty"
    path = write(data)
    with pytest.raises(ConfigError, match=r"key 'readout.n_samples'") as info:
        load_camera(path)
    assert str(path) in str(info.value)


@pytest.mark.requirement("DPPS-DP-R-009")
def test_quoted_numbers_are_not_numbers(recipe):
    data, write = recipe
    data["pixels"]["pitch_m"] = "0.05"
    with pytest.raises(ConfigError, match="pitch_m"):
        load_camera(write(data))


@pytest.mark.requirement("DPPS-DP-R-009")
def test_missing_key_is_named(recipe):
    data, write = recipe
    del data["readout"]
    with pytest.raises(ConfigError, match="missing key 'readout'"):
        load_camera(write(data))


def test_unknown_layout_kind_is_named(recipe):
    data, write = recipe
    data["pixels"]["layout"] = "triangles"
    with pytest.raises(ConfigError, match="pixels"):
        load_camera(write(data))


def test_pixel_count_must_match_the_layout(recipe):
    data, write = recipe
    data["pixels"]["drop_corner_modules"] = False
    path = write(data)
    with pytest.raises(ConfigError, match=r"'pixels.n_pixels'.*1897 pixels, not 1855"):
        load_camera(path)


def test_circle_layout_must_close_a_shell(tmp_path):
    data = yaml.safe_load((instrument_dir() / "cameras" / "FlashCam.yaml").read_text())
    data["pixels"]["n_pixels"] = 1765
    path = tmp_path / "FlashCam.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match="do not complete a shell") as info:
        load_camera(path)
    assert info.value.path == str(path)


def test_camera_name_must_match_the_file_name(recipe):
    data, write = recipe
    with pytest.raises(ConfigError, match="key 'name'"):
        load_camera(write(data, name="OtherCam"))


def test_unknown_camera_name():
    with pytest.raises(ConfigError, match=r"unknown camera 'NoSuchCam' \(known: CHEC, FlashCam"):
        load_camera("NoSuchCam")


def test_missing_recipe_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_camera(tmp_path / "nothing.yaml")


def test_not_yaml(tmp_path):
    path = tmp_path / "Broken.yaml"
    path.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_camera(path)


def test_available_names():
    assert {"LSTCam", "NectarCam", "FlashCam", "CHEC"} <= set(available_cameras())
    assert {"demo", "alpha_north", "alpha_south"} <= set(available_layouts())
    assert {"CTAO-North", "CTAO-South"} <= set(available_sites())


def test_optics_and_sites():
    assert load_optics("LST").focal_length_m == 28.0
    assert load_optics("SST").n_mirrors == 2
    la_palma = load_site("CTAO-North")
    assert la_palma.latitude_deg == pytest.approx(28.7622, abs=1e-3)
    assert load_site("CTAO-South").latitude_deg < 0
    with pytest.raises(ConfigError, match="unknown optics 'XST'"):
        load_optics("XST")
    with pytest.raises(ConfigError, match="unknown site 'Moon'"):
        load_site("Moon")


# --- layouts -----------------------------------------------------------------------------------


@pytest.fixture
def layout(tmp_path):
    data = yaml.safe_load((instrument_dir() / "layouts" / "demo.yaml").read_text())

    def write(content: dict) -> Path:
        path = tmp_path / "mine.yaml"
        path.write_text(yaml.safe_dump(content))
        return path

    return data, write


def test_layout_with_unknown_camera(layout):
    data, write = layout
    data["telescope_types"]["MST"]["camera"] = "NoSuchCam"
    path = write(data)
    with pytest.raises(ConfigError, match=r"'telescope_types.MST.camera': unknown camera") as info:
        load_subarray(path)
    assert info.value.path == str(path)


def test_layout_with_unknown_optics_site_or_type(layout):
    data, write = layout
    data["telescope_types"]["MST"]["optics"] = "XST"
    with pytest.raises(ConfigError, match=r"'telescope_types.MST.optics': unknown optics"):
        load_subarray(write(data))
    data["telescope_types"]["MST"]["optics"] = "MST"
    data["site"] = "Moon"
    with pytest.raises(ConfigError, match=r"key 'site': unknown site 'Moon'"):
        load_subarray(write(data))
    data["site"] = "CTAO-North"
    data["telescopes"][2]["type"] = "HST"
    with pytest.raises(ConfigError, match=r"'telescopes.2.type': 'HST'"):
        load_subarray(write(data))
    data["telescopes"][2]["type"] = "MST"
    data["telescope_types"]["MST"]["type"] = "XL"
    with pytest.raises(ConfigError, match=r"telescope_types.MST.type"):
        load_subarray(write(data))


def test_layout_with_duplicate_tel_id_or_bad_position(layout):
    data, write = layout
    data["telescopes"][3]["tel_id"] = 1
    with pytest.raises(ConfigError, match=r"'telescopes.3.tel_id': telescope 1 appears twice"):
        load_subarray(write(data))
    data["telescopes"][3]["tel_id"] = 4
    data["telescopes"][0]["x"] = "east"
    with pytest.raises(ConfigError, match=r"telescopes.0.x"):
        load_subarray(write(data))


def test_unknown_layout_name():
    with pytest.raises(ConfigError, match="unknown layout 'beta'"):
        load_subarray("beta")


def test_include_dir_can_be_moved(tmp_path, monkeypatch):
    from datapipe_ops.resources import include_dir

    copy = tmp_path / "include"
    shutil.copytree(instrument_dir(), copy / "instrument")
    monkeypatch.setenv("DATAPIPE_INCLUDE_DIR", str(copy))
    assert include_dir() == copy
    assert load_camera("CHEC").geometry.n_pixels == 2048
    (copy / "instrument" / "cameras" / "CHEC.yaml").unlink()
    assert "CHEC" not in available_cameras()
    monkeypatch.setenv("DATAPIPE_INCLUDE_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(ConfigError, match="DATAPIPE_INCLUDE_DIR"):
        include_dir()
