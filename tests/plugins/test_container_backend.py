"""The container backend runs a real stage in the real stage image (podman's Docker API).

The image is built by ``include/container/build-image.sh`` (what ``make image`` runs), which does
nothing when an image with the same source hash exists: the first run on a machine builds it
(a few minutes: debootstrap, pip), later runs reuse it, and a change to ``datapipe_ops`` costs a
~30 s rebuild of the top layers. The test is skipped only when no container engine can start
(no podman and no ``DOCKER_HOST``), and never in CI (``CI=true``): ``.ci/run`` installs podman,
so a missing engine there is a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap

import pytest
import yaml
from airflow_env import ROOT, load_dag, write_test_dag
from simulated_data import SIMULATION_CONFIGS, datapipe

from datapipe_ops.catalog import Catalog

pytestmark = [pytest.mark.requirement("DPPS-DP-R-150"), pytest.mark.container, pytest.mark.slow]

ENGINE = ROOT / "include" / "container" / "engine.sh"
BUILD = ROOT / "include" / "container" / "build-image.sh"
SIMULATION_CONFIG = SIMULATION_CONFIGS / "demo.yaml"


def no_engine(reason: str) -> None:
    """Skip the test for want of a container engine, except in CI, where that is a failure."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: .ci/run installs podman, the container test must run)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def docker_url():
    """A Docker-API endpoint: $DOCKER_HOST, else podman system service (started if needed)."""
    if os.environ.get("DOCKER_HOST"):
        yield os.environ["DOCKER_HOST"]
        return
    if shutil.which("podman") is None:
        no_engine(
            "no container engine: podman is not installed (include/container/engine.sh install)"
        )
    was_running = subprocess.run([ENGINE, "status"], capture_output=True).returncode == 0
    started = subprocess.run([ENGINE, "start"], capture_output=True, text=True, timeout=120)
    if started.returncode != 0:
        no_engine(f"no container engine can start here: {started.stderr.strip()[-500:]}")
    yield started.stdout.strip().splitlines()[-1]
    if not was_running:
        subprocess.run([ENGINE, "stop"], capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def stage_image(docker_url):
    """The stage image of the current sources (built once, reused while the sources match)."""
    built = subprocess.run([BUILD], capture_output=True, text=True, timeout=3600)
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-3000:]
    return built.stdout.strip().splitlines()[-1]


CONTAINER_DAG = """
import pendulum
from airflow.sdk import DAG
from datapipe_airflow.stage import stage_task

with DAG(
    "container_stage", schedule=None, start_date=pendulum.datetime(2026, 1, 1),
    params={{"campaign": "container-test"}},
) as dag:
    stage_task(
        "dl0_to_dl1",
        ["dl0-to-dl1", "--input", "{dl0}", "--output", "{dl1}", "--quiet"],
        kind="dl0_to_dl1",
        outputs=["{dl1}"],
        retries=0,
    )
    stage_task(
        "dl0_to_dl1_missing_input",
        ["dl0-to-dl1", "--input", "{missing}", "--output", "{data}/never.dl1.h5"],
        kind="dl0_to_dl1",
        retries=0,
    )
"""


def test_a_real_stage_runs_in_the_stage_image(
    airflow_db, stage_image, docker_url, tmp_path, monkeypatch
):
    data = tmp_path / "data"
    data.mkdir()
    # The worker runs as root here: the container runs as the image's uid 10001, group 0.
    data.chmod(0o2775)
    config = tmp_path / "tiny.yaml"
    production = yaml.safe_load(SIMULATION_CONFIG.read_text())
    production["particles"] = [dict(production["particles"][0], n_showers=300)]
    config.write_text(yaml.safe_dump(production))
    dl0 = data / "run.dl0.h5"
    datapipe("simulate", "run", "-c", str(config), "-o", str(dl0), "-q")  # on the host
    dl1 = data / "run.dl1.h5"
    catalog_url = f"sqlite:///{data / 'catalog.sqlite'}"
    monkeypatch.setenv("DATAPIPE_DATA_ROOT", str(data))
    monkeypatch.setenv("DATAPIPE_CATALOG_URL", catalog_url)
    monkeypatch.setenv("DATAPIPE_EXECUTION_BACKEND", "container")
    monkeypatch.setenv("DOCKER_HOST", docker_url)
    source = textwrap.dedent(CONTAINER_DAG).format(
        dl0=dl0, dl1=dl1, data=data, missing=data / "missing.dl0.h5"
    )
    dag = load_dag(write_test_dag("container_stage", source), "container_stage")
    assert type(dag.task_dict["dl0_to_dl1"]).__name__ == "DataPipeContainerOperator"

    run = dag.test()

    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states == {"dl0_to_dl1": "success", "dl0_to_dl1_missing_input": "failed"}
    # written in the container (uid 10001) on the bind-mounted data root, at the same path
    assert dl1.stat().st_uid == 10001
    with Catalog(catalog_url) as catalog:
        product = catalog.get_product(dl1)
        lineage = {p.path for p in catalog.lineage(dl1).products().values()}
    assert product.level == "DL1"
    assert (product.dag_id, product.task_id, product.run_id) == (
        "container_stage", "dl0_to_dl1", run.run_id,
    )  # fmt: skip
    assert str(dl0) in lineage
