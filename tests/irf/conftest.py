"""Toy DL2 productions at two zenith angles and their cuts and IRFs, built once per session."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# Importable whatever pytest's import mode (importlib mode puts no test directory on sys.path).
sys.path.insert(0, str(Path(__file__).resolve().parent))

import toy_dl2


@pytest.fixture(scope="session")
def irf_products(tmp_path_factory):
    """{"files", "cuts", "irfs", "config"} of toy productions at 20 and 40 deg (read-only)."""
    return toy_dl2.build_irf_products(tmp_path_factory.mktemp("irf"))
