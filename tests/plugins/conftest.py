"""Airflow tests: a throw-away AIRFLOW_HOME is configured before any test imports airflow."""

from airflow_env import airflow_db  # noqa: F401  (fixture)
