"""The toy IRF products of tests/irf, and observations to turn into DL3."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "irf"))

import toy_dl2


@pytest.fixture(scope="session")
def irf_products(tmp_path_factory):
    """{"files", "cuts", "irfs", "config"} of toy productions at 20 and 40 deg (read-only)."""
    return toy_dl2.build_irf_products(
        tmp_path_factory.mktemp("irf"), zeniths=(20.0,), event_types=()
    )
