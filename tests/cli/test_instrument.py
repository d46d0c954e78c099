"""``datapipe instrument``: listing, showing, and one-line errors for bad files."""

import pytest
import yaml

from datapipe_ops.cli.main import main
from datapipe_ops.instrument.loading import instrument_dir


@pytest.mark.requirement("DPPS-DP-R-034")
def test_list_shows_cameras_layouts_sites(capsys):
    assert main(["instrument", "list"]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: " ".join(line.split()[1:]) for line in out.splitlines()}
    assert lines["LSTCam"] == "1855 hexagon pixels, 1 GHz x 40 samples"
    assert lines["FlashCam"] == "1764 hexagon pixels, 0.25 GHz x 25 samples"
    assert lines["alpha_south"] == "51 telescopes at CTAO-South (CHEC, FlashCam)"
    assert "CTAO-North" in out


@pytest.mark.requirement("DPPS-DP-R-034")
def test_show_camera_and_layout(capsys):
    assert main(["instrument", "show", "CHEC"]) == 0
    out = capsys.readouterr().out
    assert "camera CHEC: 2048 square pixels" in out and "max 4" in out
    assert main(["instrument", "show", "alpha_north"]) == 0
    out = capsys.readouterr().out
    assert out.count("LST_LST_LSTCam") == 4 and out.count("MST_MST_NectarCam") == 9


@pytest.mark.requirement("DPPS-DP-R-001")
def test_show_checks_a_file_and_reports_one_line(tmp_path, capsys):
    data = yaml.safe_load((instrument_dir() / "cameras" / "NectarCam.yaml").read_text())
    data["readout"]["n_samples"] = 60.5
    path = tmp_path / "NectarCam.yaml"
    path.write_text(yaml.safe_dump(data))
    assert main(["instrument", "show", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"datapipe: error: {path}: key 'readout.n_samples'")
    assert err.count("\n") == 1
    assert main(["instrument", "show", "NoSuchThing"]) == 2
    assert "unknown camera or layout 'NoSuchThing'" in capsys.readouterr().err
