"""The output policy (io.outputs) and the clean-up of temporaries of dead writers (io.atomic)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from datapipe_ops.io.atomic import atomic_output, remove_stale_temporaries, temporary_name
from datapipe_ops.io.outputs import (
    OutputError,
    absolute_path,
    check_output_directory,
    check_outputs,
    same_file,
)


@pytest.mark.requirement("DPPS-DP-R-003")
def test_same_file_through_paths_and_links(tmp_path, monkeypatch):
    data = tmp_path / "a.h5"
    data.write_bytes(b"x")
    os.symlink(data, tmp_path / "soft.h5")
    os.link(data, tmp_path / "hard.h5")
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    assert same_file("../a.h5", data)
    assert same_file(tmp_path / "soft.h5", data) and same_file(tmp_path / "hard.h5", data)
    assert same_file(tmp_path / "missing.h5", "../missing.h5")  # same path, not existing
    assert not same_file(tmp_path / "missing.h5", data)
    assert absolute_path("../x/../a.h5") == data


@pytest.mark.requirement("DPPS-DP-R-003")
def test_existing_output_needs_overwrite_an_input_never(tmp_path):
    source, out = tmp_path / "in.h5", tmp_path / "out.h5"
    source.write_bytes(b"raw")
    assert check_outputs([out], [source]) == [out]
    out.write_bytes(b"old")
    with pytest.raises(OutputError, match="exists; give --overwrite"):
        check_outputs([out], [source])
    assert check_outputs([out], [source], overwrite=True) == [out]
    for alias in (source, tmp_path / "." / "in.h5"):
        with pytest.raises(OutputError, match="an input is never overwritten"):
            check_outputs([alias], [source], overwrite=True)
    with pytest.raises(OutputError, match="two different outputs"):
        check_outputs([out, tmp_path / "out.h5"], overwrite=True)
    assert source.read_bytes() == b"raw" and out.read_bytes() == b"old"


@pytest.mark.requirement("DPPS-DP-R-002", "DPPS-DP-R-004")
def test_output_directory_must_be_writable_and_nothing_is_left(tmp_path):
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(OutputError, match="is a file"):
        check_outputs([tmp_path / "file" / "out.h5"])
    with pytest.raises(OutputError, match="output directory /sys is not writable"):
        check_outputs(["/sys/datapipe-test/out.h5"])
    with pytest.raises(OutputError, match="is a directory"):
        check_outputs([tmp_path], overwrite=True)
    assert check_outputs([tmp_path / "new" / "deeper" / "out.h5"])  # created when written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]  # no probe, no directory
    with pytest.raises(OutputError, match="is a file, not a dataset directory"):
        check_output_directory(tmp_path / "file")
    assert check_output_directory(tmp_path / "ds") == tmp_path / "ds"


@pytest.mark.requirement("DPPS-DP-R-002")
def test_temporaries_of_dead_writers_are_removed_live_ones_kept(tmp_path):
    final = tmp_path / "run.dl1.h5"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    host = socket.gethostname().replace(".", "_")
    stale = [
        tmp_path / f".run.dl1.h5.{host}.{dead.stdout.strip()}.partial",
        tmp_path / ".run.dl1.h5.another-node.1.partial",
    ]
    live = tmp_path / f".run.dl1.h5.{host}.{os.getppid()}.partial"
    other = tmp_path / ".other.h5.gone.1.partial"
    for path in (*stale, live, other):
        path.write_bytes(b"partial")
    assert sorted(remove_stale_temporaries(final)) == sorted(stale)
    assert live.exists() and other.exists()
    with atomic_output(final) as tmp:
        assert tmp == temporary_name(final)
        tmp.write_bytes(b"done")
    assert final.read_bytes() == b"done"
    assert not temporary_name(final).exists()
