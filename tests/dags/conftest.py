"""Airflow tests: a throw-away AIRFLOW_HOME is configured before any test imports airflow."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins"))

from airflow_env import _no_leaked_task_context, airflow_db  # noqa: F401  (fixtures)


@pytest.fixture(scope="session")
def small_sets(tmp_path_factory):
    """A data root and catalog holding a model set and an IRF set (nodes at 0 and 20 deg)
    made with the CLI on small productions, once per session:
    ``{"data", "catalog", "model_set_id", "irf_set_id"}``."""
    from simulated_data import small_model_and_irf_sets

    data = tmp_path_factory.mktemp("sets")
    catalog_url = f"sqlite:///{data / 'catalog.sqlite'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DATAPIPE_DATA_ROOT", str(data))
        mp.setenv("DATAPIPE_CATALOG_URL", catalog_url)
        sets = small_model_and_irf_sets(data / "work")
    return {"data": data, "catalog": catalog_url, **sets}
