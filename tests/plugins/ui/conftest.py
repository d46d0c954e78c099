"""Fixtures of the DataPipe view tests: a populated catalog (:mod:`view_catalog`)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from view_catalog import populate

from datapipe_ops.catalog import Catalog


@pytest.fixture
def view_catalog(tmp_path):
    """(catalog URL, product ids by role, products directory)."""
    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    with Catalog(url) as catalog:
        ids = populate(catalog, tmp_path / "products")
    return url, ids, tmp_path / "products"
