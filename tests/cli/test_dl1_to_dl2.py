"""`datapipe dl1-to-dl2` through the real entry point: success, stage rules, bad input."""

from __future__ import annotations

import shutil

import pytest

from datapipe_ops.cli.main import main


@pytest.fixture
def work(dl1_runs, tmp_path, monkeypatch):
    """A copy of a small DL1 run in a fresh directory, with a private catalog."""
    monkeypatch.setenv("DATAPIPE_CATALOG_URL", f"sqlite:///{tmp_path / 'catalog.sqlite'}")
    return tmp_path, shutil.copy(dl1_runs[0]["dl1"], tmp_path / "run.dl1.h5")


def run(capsys, *args):
    code = main(["dl1-to-dl2", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_failure(code, err, *words):
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("datapipe: error: "), err
    for word in words:
        assert word in lines[0], lines[0]


def no_partial_files(directory):
    return not [p for p in directory.iterdir() if p.name.endswith(".partial")]


@pytest.mark.requirement("DPPS-DP-R-003", "DPPS-DP-R-021", "DPPS-DP-R-051")
def test_success_registers_and_refuses_to_overwrite(work, capsys):
    directory, dl1 = work
    output = directory / "run.dl2.h5"
    code, out, err = run(capsys, "-i", dl1, "-o", output, "-q")
    assert code == 0, err
    assert "valid geometry" in out and "catalog id" in out
    before = output.stat().st_mtime_ns
    code, _, err = run(capsys, "-i", dl1, "-o", output, "-q")
    assert_one_line_failure(code, err, "exists; give --overwrite")
    assert output.stat().st_mtime_ns == before
    code, _, err = run(capsys, "-i", dl1, "-o", output, "-q", "--overwrite", "--no-register")
    assert code == 0, err


@pytest.mark.requirement("DPPS-DP-R-003")
def test_output_equal_to_input_is_refused(work, capsys):
    _, dl1 = work
    code, _, err = run(capsys, "-i", dl1, "-o", dl1, "-q", "--overwrite")
    assert_one_line_failure(code, err, "is also an input of this stage")


@pytest.mark.requirement("DPPS-DP-R-001", "DPPS-DP-R-005")
def test_dl0_given_as_dl1(dl1_runs, tmp_path, capsys):
    output = tmp_path / "x.dl2.h5"
    code, _, err = run(capsys, "-i", dl1_runs[0]["dl0"], "-o", output, "-q", "--no-register")
    assert_one_line_failure(code, err, "DL0 product, expected DL1")
    assert not output.exists() and no_partial_files(tmp_path)


@pytest.mark.requirement("DPPS-DP-R-001", "DPPS-DP-R-005")
def test_truncated_dl1(work, capsys):
    directory, dl1 = work
    truncated = directory / "truncated.dl1.h5"
    data = dl1.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    output = directory / "x.dl2.h5"
    code, _, err = run(capsys, "-i", truncated, "-o", output, "-q", "--no-register")
    assert_one_line_failure(code, err, "truncated.dl1.h5")
    assert not output.exists() and no_partial_files(directory)


@pytest.mark.requirement("DPPS-DP-R-001", "DPPS-DP-R-009")
def test_missing_input_and_bad_config(work, capsys):
    directory, dl1 = work
    code, _, err = run(capsys, "-i", directory / "nope.h5", "-o", directory / "x.h5", "-q")
    assert_one_line_failure(code, err, "does not exist")
    config = directory / "c.yaml"
    config.write_text("geometry: {min_telescopes: 1}\n")
    code, _, err = run(capsys, "-i", dl1, "-o", directory / "x.h5", "-c", config, "-q")
    assert_one_line_failure(code, err, "c.yaml", "min_telescopes")
    assert not (directory / "x.h5").exists()


@pytest.mark.requirement("DPPS-DP-R-001", "DPPS-DP-R-004")
def test_unreachable_catalog_fails_before_writing(work, capsys):
    directory, dl1 = work
    output = directory / "x.dl2.h5"
    url = "postgresql+psycopg2://nobody@127.0.0.1:1/none"
    code, _, err = run(capsys, "-i", dl1, "-o", output, "-q", "--catalog", url)
    assert_one_line_failure(code, err, "catalog")
    assert not output.exists() and no_partial_files(directory)
