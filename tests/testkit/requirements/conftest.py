"""A small fake catalogue for the traceability tests."""

from __future__ import annotations

from pathlib import Path

import pytest

CATALOGUE = """\
use_cases:
  - {id: UC-130-1.1, title: "Select datasets"}
  - {id: UC-130-1.8, title: "Merge"}
requirements:
  - id: DPPS-DP-R-001
    title: Datasets by query
    statement: Datasets hold exactly the products matching their query.
    derived_from: [UC-130-1.1]
    implemented_in: [code/datasets.py]
  - id: DPPS-DP-R-002
    title: Merging
    statement: Merging concatenates the tables.
    derived_from: [UC-130-1.8]
  - id: DPPS-DP-R-003
    title: Merging fast
    statement: Merging is fast.
    derived_from: [UC-130-1.8]
    verification: analysis
    evidence: [bench/merge.py]
  - id: DPPS-DP-R-004
    title: Merge report
    statement: Merging writes a report.
    derived_from: [UC-130-1.8]
    status: planned
    expected_tests: [tests/report/]
"""


@pytest.fixture
def project(tmp_path) -> Path:
    """A directory holding the fake catalogue (requirements.yaml) and the files it cites."""
    (tmp_path / "requirements.yaml").write_text(CATALOGUE)
    for path in ("code/datasets.py", "bench/merge.py"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("")
    return tmp_path
