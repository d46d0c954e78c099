"""Airflow tests: a throw-away AIRFLOW_HOME is configured before any test imports airflow."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins"))

from airflow_env import _no_leaked_task_context, airflow_db  # noqa: F401  (fixtures)
