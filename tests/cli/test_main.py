"""The `datapipe` entry point: subcommand listing, exit codes, one-line errors."""

import subprocess
import sys

import pytest
import typer

from datapipe_ops import settings
from datapipe_ops.cli import main as cli_main
from datapipe_ops.errors import InputFileError


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "datapipe_ops.cli.main", *args], capture_output=True, text=True
    )


def test_help_lists_every_registered_subcommand():
    result = run_cli("--help")
    assert result.returncode == 0
    for name, _module, _attribute in cli_main.SUBCOMMANDS:
        assert name in result.stdout


def test_unknown_subcommand_is_a_usage_error():
    result = run_cli("no-such-stage")
    assert result.returncode == 2
    assert "No such command" in result.stderr


@pytest.mark.requirement("DPPS-DP-R-001")
def test_expected_error_is_one_line_without_traceback(monkeypatch, capsys):
    app = typer.Typer()

    @app.command()
    def broken() -> None:
        raise InputFileError("not a readable HDF5 file (truncated or corrupt?)", path="x.h5")

    @app.command()
    def other() -> None:
        pass

    monkeypatch.setattr(cli_main, "app", app)
    assert cli_main.main(["broken"]) == 2
    err = capsys.readouterr().err
    assert err == "datapipe: error: x.h5: not a readable HDF5 file (truncated or corrupt?)\n"


def test_info_prints_version_and_settings(monkeypatch, tmp_path):
    monkeypatch.setenv("DATAPIPE_DATA_ROOT", str(tmp_path))
    result = run_cli("info")
    assert result.returncode == 0
    assert "datapipe-ops" in result.stdout
    assert str(tmp_path) in result.stdout


@pytest.mark.requirement("DPPS-DP-R-001", "DPPS-DP-R-150")
def test_expected_error_line_is_the_termination_message(monkeypatch, tmp_path, capsys):
    app = typer.Typer()

    @app.command()
    def broken() -> None:
        raise InputFileError("no such file", path="/data/in.h5")

    @app.command()
    def fine() -> None:
        pass

    termination_log = tmp_path / "termination-log"
    monkeypatch.setenv(cli_main.TERMINATION_LOG_ENV, str(termination_log))
    monkeypatch.setattr(cli_main, "app", app)
    assert cli_main.main(["fine"]) == 0
    assert not termination_log.exists()
    assert cli_main.main(["broken"]) == 2
    assert termination_log.read_text() == "datapipe: error: /data/in.h5: no such file"


def test_precompiled_numba_cache_is_linked_into_the_writable_cache(monkeypatch, tmp_path):
    seed = tmp_path / "image-cache"
    (seed / "datapipe_ops_calib").mkdir(parents=True)
    (seed / "datapipe_ops_calib" / "extraction.kernel-12.py312.nbi").write_bytes(b"index")
    (seed / "datapipe_ops_calib" / "extraction.kernel-12.py312.1.nbc").write_bytes(b"code")
    (seed / ".seeded").touch()  # a seed made by a seeded datapipe: not linked
    seed.chmod(0o555)
    cache = tmp_path / "tmp" / "numba-cache"
    monkeypatch.setenv("DATAPIPE_NUMBA_CACHE_SEED", str(seed))
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(cache))
    assert cli_main.main(["--help"]) == 0
    index = cache / "datapipe_ops_calib" / "extraction.kernel-12.py312.nbi"
    assert index.is_symlink() and index.read_bytes() == b"index"
    assert (
        cache / "datapipe_ops_calib" / "extraction.kernel-12.py312.1.nbc"
    ).read_bytes() == b"code"
    # numba replaces an index by renaming a new file over it: the seed stays untouched
    (cache / "datapipe_ops_calib" / "new.nbi").write_bytes(b"new")
    (cache / "datapipe_ops_calib" / "new.nbi").replace(index)
    assert index.read_bytes() == b"new"
    assert (seed / "datapipe_ops_calib" / "extraction.kernel-12.py312.nbi").read_bytes() == b"index"
    assert settings.seed_numba_cache() == 0  # once per cache directory
    assert not (cache / ".seeded").is_symlink()
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(seed))  # compiling into the seed itself
    assert settings.seed_numba_cache() == 0
