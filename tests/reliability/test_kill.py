"""kill -9 at known points of each stage: nothing half-done survives, and the rerun equals an
uninterrupted run.

Each stage runs as its own process with ``DATAPIPE_STOP_AT`` naming a point of its run
(:mod:`datapipe_ops.faults`): the process stops itself there (``SIGSTOP``), the test kills it
with ``SIGKILL`` and checks what is left; then it reruns the same command (as an Airflow retry
would, with ``--overwrite`` when a file is already at its final name) and compares the result
with an uninterrupted run: every dataset byte-identical (the provenance block, which records
times and the host, is left out), no temporary file left, and the catalog holding the product
exactly once, with its lineage.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import pytest
import yaml

from datapipe_ops.faults import STOP_AT_ENV
from datapipe_ops.io import layout
from datapipe_ops.resources import include_dir

pytestmark = pytest.mark.requirement("DPPS-DP-R-002", "DPPS-DP-R-152")

DEMO = include_dir() / "config" / "simulation" / "demo.yaml"
STOP_TIMEOUT_S = 900.0


def datapipe(args: list[str], cwd: Path, stop_at: str | None = None) -> subprocess.Popen:
    """Start ``datapipe <args>`` as a process of its own (stopping at ``stop_at``)."""
    env = dict(os.environ)
    env.pop(STOP_AT_ENV, None)
    if stop_at:
        env[STOP_AT_ENV] = stop_at
    return subprocess.Popen(
        [sys.executable, "-m", "datapipe_ops.cli.main", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def state(pid: int) -> str:
    """The process state letter of ``/proc/<pid>/stat`` (``T``: stopped)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0]


def kill_when_stopped(process: subprocess.Popen) -> None:
    """Wait until the process has stopped itself at its point, then kill -9 it."""
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while state(process.pid) != "T":
        if process.poll() is not None:
            _, err = process.communicate()
            pytest.fail(f"the stage ended (exit {process.returncode}) before its stop point: {err}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("the stage did not reach its stop point")
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL


def finish(process: subprocess.Popen) -> None:
    _, err = process.communicate(timeout=STOP_TIMEOUT_S)
    assert process.returncode == 0, err
    assert "Traceback" not in err


def datasets(path: Path) -> dict[str, bytes]:
    """Every dataset of an HDF5 product (the provenance block left out), as bytes."""
    found: dict[str, bytes] = {}

    def visit(name: str, node) -> None:
        if isinstance(node, h5py.Dataset) and not name.startswith(layout.PROVENANCE.strip("/")):
            found[name] = node[()].tobytes()

    with h5py.File(path, "r") as h5:
        h5.visititems(visit)
    return found


def temporaries(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".partial"))


# ---------------------------------------------------------------------------------------------
# DL0 → DL1


@pytest.fixture(scope="module")
def dl1_reference(tmp_path_factory):
    """A small run, and its DL1 file from an uninterrupted stage run."""
    directory = tmp_path_factory.mktemp("dl1-reference")
    config = _small_config(directory)
    finish(datapipe(["simulate", "run", "-c", str(config), "-o", "run.dl0.h5", "-q"], directory))
    command = _dl1_command(directory, "reference.dl1.h5")
    finish(datapipe(command, directory))
    return directory, datasets(directory / "reference.dl1.h5")


def _small_config(directory: Path) -> Path:
    data = yaml.safe_load(DEMO.read_text())
    for particle in data["particles"]:
        particle["n_showers"] = 120
    data["chunk_size"] = 30
    path = directory / "small.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _dl1_command(directory: Path, output: str, *extra: str) -> list[str]:
    catalog = f"sqlite:///{directory / 'catalog.sqlite'}"
    return ["dl0-to-dl1", "-i", "run.dl0.h5", "-o", output, "--chunk-size", "4",
            "--catalog", catalog, "-q", *extra]  # fmt: skip


def _registered(directory: Path, level: str) -> list:
    from datapipe_ops.catalog import Catalog, ProductQuery

    with Catalog(f"sqlite:///{directory / 'catalog.sqlite'}") as catalog:
        return catalog.list_products(ProductQuery(level=level))


@pytest.mark.parametrize(
    "point",
    ["stage:start", "stage:chunk@3", "atomic:rename", "catalog:register"],
    ids=["early", "mid-chunk", "while-renaming", "while-registering"],
)
def test_dl0_to_dl1_killed(point, dl1_reference, tmp_path):
    source, reference = dl1_reference
    for name in ("run.dl0.h5", "run.coefficients.h5"):
        shutil.copy(source / name, tmp_path / name)
    names = ("run.dl0.h5", "run.coefficients.h5")
    inputs = {name: (tmp_path / name).read_bytes() for name in names}
    final = tmp_path / "run.dl1.h5"

    kill_when_stopped(datapipe(_dl1_command(tmp_path, "run.dl1.h5"), tmp_path, stop_at=point))

    # killed: no half-registered product; the product is at its final name only if it was
    # complete (killed after the rename, inside the registration transaction)
    assert _registered(tmp_path, "DL1") == []
    assert _registered(tmp_path, "DL0") == []  # the inputs were in the same transaction
    assert final.exists() == (point == "catalog:register")
    if point in ("stage:chunk@3", "atomic:rename"):
        assert temporaries(tmp_path)  # what the killed process was writing

    rerun = _dl1_command(tmp_path, "run.dl1.h5", *(["--overwrite"] if final.exists() else []))
    finish(datapipe(rerun, tmp_path))

    assert temporaries(tmp_path) == []
    assert datasets(final) == reference
    (product,) = _registered(tmp_path, "DL1")
    assert product.path == str(final)
    (dl0,) = _registered(tmp_path, "DL0")
    assert dl0.path == str(tmp_path / "run.dl0.h5")
    assert {name: (tmp_path / name).read_bytes() for name in inputs} == inputs


# ---------------------------------------------------------------------------------------------
# simulate run


@pytest.fixture(scope="module")
def simulated_reference(tmp_path_factory):
    directory = tmp_path_factory.mktemp("simulate-reference")
    config = _small_config(directory)
    finish(datapipe(["simulate", "run", "-c", str(config), "-o", "run.dl0.h5", "-q"], directory))
    return config, {
        name: datasets(directory / name) for name in ("run.dl0.h5", "run.coefficients.h5")
    }


@pytest.mark.parametrize(
    "point",
    ["stage:start", "stage:chunk@2", "atomic:rename", "atomic:rename@2"],
    ids=["early", "mid-chunk", "renaming-coefficients", "renaming-dl0"],
)
def test_simulate_run_killed(point, simulated_reference, tmp_path):
    config, reference = simulated_reference
    command = ["simulate", "run", "-c", str(config), "-o", "run.dl0.h5", "-q"]

    kill_when_stopped(datapipe(command, tmp_path, stop_at=point))

    assert not (tmp_path / "run.dl0.h5").exists()
    # the coefficients file is written (and renamed) before the first shower
    coefficients_done = point in ("stage:chunk@2", "atomic:rename@2")
    assert (tmp_path / "run.coefficients.h5").exists() == coefficients_done

    finish(datapipe([*command, *(["--overwrite"] if coefficients_done else [])], tmp_path))

    assert temporaries(tmp_path) == []
    assert {name: datasets(tmp_path / name) for name in reference} == reference
