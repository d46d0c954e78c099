"""Airflow tests: a throw-away AIRFLOW_HOME is configured before any test imports airflow."""

import sys
from pathlib import Path

# Importable whatever pytest's import mode (importlib mode puts no test directory on sys.path).
sys.path.insert(0, str(Path(__file__).resolve().parent))

from airflow_env import _no_leaked_task_context, airflow_db  # noqa: F401  (fixtures)
