"""Atomic writing, checked opening, provenance."""

import os
import signal
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest

from datapipe_ops.checksum import sha256_file
from datapipe_ops.config import StageConfig, config_hash
from datapipe_ops.errors import InputFileError
from datapipe_ops.io import ProductWriter, open_product, read_provenance
from datapipe_ops.io.layout import SCHEMA_VERSION


class Settings(StageConfig):
    threshold: float = 6.0


def write_small(path, level="DL1", **kwargs):
    with ProductWriter(path, level, stage="test", **kwargs) as writer:
        writer.append_array("/data", np.arange(10, dtype=np.int32))


@pytest.mark.requirement("DPPS-DP-R-006")
def test_provenance_records_config_inputs_and_times(tmp_path):
    source = tmp_path / "in.h5"
    write_small(source, level="DL0")
    output = tmp_path / "out.h5"
    write_small(output, config=Settings(threshold=8), inputs=[source])
    with open_product(output) as h5file:
        record = read_provenance(h5file)
        assert h5file.attrs["schema_version"] == SCHEMA_VERSION
    assert record["stage"] == "test"
    assert record["config"] == {"threshold": 8.0}
    assert record["config_hash"] == config_hash(Settings(threshold=8))
    assert record["inputs"] == [{"path": str(source.absolute()), "sha256": sha256_file(source)}]
    assert record["start_time"] <= record["stop_time"]
    assert record["software_version"]


@pytest.mark.requirement("DPPS-DP-R-001", "DPPS-DP-R-006")
def test_missing_input_for_provenance_is_one_clear_error(tmp_path):
    with pytest.raises(InputFileError, match="input file does not exist"):
        write_small(tmp_path / "out.h5", inputs=[tmp_path / "nope.h5"])


@pytest.mark.requirement("DPPS-DP-R-002")
def test_failure_inside_writer_leaves_previous_file_untouched(tmp_path):
    path = tmp_path / "p.h5"
    write_small(path)
    before = sha256_file(path)
    with pytest.raises(RuntimeError), ProductWriter(path, "DL1", stage="test") as writer:
        writer.append_array("/data", np.zeros(3))
        raise RuntimeError("stage crashed")
    assert sha256_file(path) == before
    assert [p.name for p in tmp_path.iterdir()] == ["p.h5"]


@pytest.mark.requirement("DPPS-DP-R-002")
def test_killed_writer_leaves_nothing_at_the_final_name(tmp_path):
    final = tmp_path / "killed.h5"
    script = textwrap.dedent(
        f"""
        import sys, time, numpy as np
        from datapipe_ops.io import ProductWriter
        with ProductWriter({str(final)!r}, "DL0", stage="test") as writer:
            writer.append_array("/data", np.zeros((100, 100), np.uint16))
            writer.h5.flush()
            print("writing", flush=True)
            time.sleep(60)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "writing"
        partial = [p for p in tmp_path.iterdir() if p.name.startswith(".")]
        assert partial, "the writer should be writing to a hidden temporary file"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert not final.exists()
    assert not any(not p.name.startswith(".") for p in tmp_path.iterdir())


@pytest.mark.requirement("DPPS-DP-R-005")
def test_open_missing_file(tmp_path):
    with pytest.raises(InputFileError, match="file does not exist") as info:
        open_product(tmp_path / "absent.h5").__enter__()
    assert str(tmp_path / "absent.h5") in str(info.value)


@pytest.mark.requirement("DPPS-DP-R-005")
def test_open_truncated_file(tmp_path):
    path = tmp_path / "t.h5"
    with ProductWriter(path, "DL0", stage="test") as writer:
        writer.append_array("/data", np.random.default_rng(0).random((2000, 100)))
    size = path.stat().st_size
    with open(path, "r+b") as stream:
        stream.truncate(size // 2)
    with pytest.raises(InputFileError, match="truncated"), open_product(path) as h5file:
        h5file["/data"][:]


@pytest.mark.requirement("DPPS-DP-R-005")
def test_open_wrong_schema_version(tmp_path):
    path = tmp_path / "old.h5"
    write_small(path)
    with h5py.File(path, "r+") as h5file:
        h5file.attrs["schema_version"] = "0.3"
    with pytest.raises(InputFileError, match=r"schema version 0.3 is not readable"):
        open_product(path).__enter__()


@pytest.mark.requirement("DPPS-DP-R-005")
def test_open_foreign_hdf5(tmp_path):
    path = tmp_path / "foreign.h5"
    with h5py.File(path, "w") as h5file:
        h5file["x"] = 1
    with pytest.raises(InputFileError, match="not a DataPipe product"):
        open_product(path).__enter__()


@pytest.mark.requirement("DPPS-DP-R-005")
def test_open_wrong_level(tmp_path):
    path = tmp_path / "dl1.h5"
    write_small(path, level="DL1")
    with pytest.raises(InputFileError, match="is a DL1 product, expected DL0"):
        open_product(path, level="DL0").__enter__()
