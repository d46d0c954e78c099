"""A throw-away Airflow installation for the tests, configured before anything imports airflow.

Importing this module (both ``tests/plugins/conftest.py`` and ``tests/dags/conftest.py`` do, so
either directory runs alone) points ``AIRFLOW_HOME`` at a fresh temporary directory with a
SQLite metadata database, the repository's ``dags/`` and ``plugins/`` folders and no example
DAGs, and puts ``plugins/`` and ``dags/`` on ``sys.path`` as Airflow does. The database is
created once per test session by the :func:`airflow_db` fixture.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
AIRFLOW = str(Path(sys.executable).with_name("airflow"))
_MARKER = "DATAPIPE_TEST_AIRFLOW_HOME"


def airflow_environment(home: Path, sql_alchemy_conn: str | None = None) -> dict[str, str]:
    """The environment variables of an Airflow installation in ``home`` for this repository.

    Two DAG bundles: the repository's ``dags/`` and ``<home>/test_dags`` for DAG files that
    the tests write (``dag.test()`` runs only DAGs that a bundle holds).
    """
    bundles = [
        {
            "name": "dags-folder",
            "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
            "kwargs": {"path": str(ROOT / "dags")},
        },
        {
            "name": "test-dags",
            "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
            "kwargs": {"path": str(home / "test_dags")},
        },
    ]
    (home / "test_dags").mkdir(parents=True, exist_ok=True)
    return {
        "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(bundles),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sql_alchemy_conn or f"sqlite:///{home}/airflow.db",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "MPLBACKEND": "Agg",
    }


def _configure() -> Path:
    existing = os.environ.get(_MARKER)
    if existing:
        return Path(existing)
    home = Path(tempfile.mkdtemp(prefix="datapipe-airflow-"))
    atexit.register(shutil.rmtree, home, True)
    os.environ.update(airflow_environment(home))
    os.environ[_MARKER] = str(home)
    for folder in ("plugins", "dags"):
        if str(ROOT / folder) not in sys.path:
            sys.path.insert(0, str(ROOT / folder))
    return home


HOME = _configure()


def migrate(env: dict[str, str]) -> None:
    """``airflow db migrate`` and the project's pools in the installation described by ``env``."""
    full = {**os.environ, **env}
    for argv in (
        [AIRFLOW, "db", "migrate"],
        [AIRFLOW, "pools", "import", str(ROOT / "include" / "airflow" / "pools.json")],
    ):
        result = subprocess.run(argv, env=full, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, f"{' '.join(argv[1:])} failed:\n{result.stderr[-3000:]}"


def write_test_dag(name: str, source: str) -> Path:
    """Write a DAG file into the test bundle (``dag.test()`` needs the DAG in a bundle)."""
    path = HOME / "test_dags" / f"{name}.py"
    path.write_text(source)
    return path


def load_dag(path: Path, dag_id: str):
    """Import the DAG file ``path`` and return its DAG ``dag_id``."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"test_dag_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, "dag", None) or next(
        v for v in vars(module).values() if getattr(v, "dag_id", None) == dag_id
    )


# --- Kubernetes pods, rendered as the provider builds them ----------------------------------

RUN_ID = "scheduled__2026-11-24T12:00:00+00:00"


def fake_context(task_id: str, map_index: int = -1) -> dict:
    """What the pod and its templates read from a task's context."""
    ti = SimpleNamespace(
        dag_id="observation_processing", task_id=task_id, map_index=map_index, try_number=1
    )
    return {
        "ti": ti,
        "task_instance": ti,
        "run_id": RUN_ID,
        "dag": SimpleNamespace(dag_id="observation_processing", parent_dag=None),
        "params": {"campaign": "nightly-2026"},
        "ds": "2026-11-24",
    }


def render_pod(op, map_index: int = -1) -> dict:
    """Render a DataPipePodOperator's templates and build its pod as a plain manifest."""
    from kubernetes.client import ApiClient

    context = fake_context(op.task_id, map_index)
    op.render_template_fields(context)
    pod = op.build_pod_request_obj(context, dry_run=True)
    return ApiClient().sanitize_for_serialization(pod)


def kubernetes_validate(manifests: list[dict], directory: Path) -> subprocess.CompletedProcess:
    """``kubernetes-validate --strict`` of the manifests (bundled schemas, no cluster)."""
    paths = []
    for i, manifest in enumerate(manifests):
        path = directory / f"pod-{i:02d}.json"
        path.write_text(json.dumps(manifest))
        paths.append(str(path))
    tool = Path(sys.executable).with_name("kubernetes-validate")
    return subprocess.run(
        [str(tool), "--strict", "--quiet", *paths], capture_output=True, text=True, timeout=300
    )


@pytest.fixture(autouse=True)
def _no_leaked_task_context():
    """The in-process task runner of ``dag.test()`` exports ``AIRFLOW_CTX_*`` into
    ``os.environ``; remove them after each test so that later tests (the catalog reads them)
    do not believe they run inside an Airflow task."""
    before = {k: v for k, v in os.environ.items() if k.startswith("AIRFLOW_CTX_")}
    yield
    for key in [k for k in os.environ if k.startswith("AIRFLOW_CTX_")]:
        del os.environ[key]
    os.environ.update(before)


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """The test AIRFLOW_HOME with its metadata database created (once per session)."""
    if not (HOME / ".migrated").exists():
        migrate(airflow_environment(HOME))
        (HOME / ".migrated").touch()
    return HOME
