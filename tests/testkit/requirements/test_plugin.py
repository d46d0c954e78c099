"""The pytest plugin in real pytest sessions of a fake project: what fails collection, what a
subset of the tests may skip, and what the session records for the matrix."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from testkit.requirements.catalogue import load_catalogue
from testkit.requirements.matrix import render

INI = """\
[pytest]
testpaths = tests
addopts = --strict-markers -p testkit.requirements.plugin -p no:cacheprovider
requirements_catalogue = requirements.yaml
requirements_results = build/results.json
"""

DATASETS = """\
import pytest

@pytest.mark.requirement("DPPS-DP-R-001")
@pytest.mark.parametrize("n", [1, 2])
def test_query(n):
    assert n > 0

@pytest.mark.requirement("DPPS-DP-R-001")
def test_fails():
    assert False

@pytest.mark.requirement("DPPS-DP-R-001")
@pytest.mark.skip(reason="not here")
def test_skipped():
    pass

def test_unmarked():
    pass
"""

MERGE = """\
import pytest

pytestmark = pytest.mark.requirement("DPPS-DP-R-002")

def test_concatenates():
    pass
"""


@pytest.fixture
def fake(project) -> Path:
    (project / "pytest.ini").write_text(INI)
    (project / "tests").mkdir()
    (project / "tests" / "test_datasets.py").write_text(DATASETS)
    return project


def run(directory: Path, *arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", *arguments],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},  # only ours: faster
    )


def test_whole_suite_fails_on_a_requirement_without_test_a_subset_does_not(fake):
    whole = run(fake)
    assert whole.returncode == 4, whole.stdout + whole.stderr  # usage error: nothing ran
    assert "DPPS-DP-R-002 (Merging) has no test" in whole.stderr
    assert "DPPS-DP-R-001" not in whole.stderr  # tested; 003 analysis, 004 planned
    assert not (fake / "build/results.json").exists()
    for arguments in (
        ["tests/test_datasets.py"],
        ["tests/test_datasets.py::test_fails"],
        ["tests", "--ignore", "tests/x"],
    ):
        subset = run(fake, *arguments)
        assert subset.returncode == 1, subset.stdout + subset.stderr  # test_fails fails
        assert "has no test" not in subset.stderr + subset.stdout
    # -k and -m deselect after the check: still the whole suite, still refused
    assert run(fake, "-k", "query").returncode == 4


def test_unknown_requirement_fails_even_a_subset(fake):
    (fake / "tests" / "test_merge.py").write_text(MERGE.replace("R-002", "R-020"))
    result = run(fake, "tests/test_merge.py")
    assert result.returncode == 4
    assert (
        "tests/test_merge.py::test_concatenates: unknown requirement 'DPPS-DP-R-020'"
        in result.stderr
    )


def test_outcomes_are_recorded_and_joined_into_the_matrix(fake):
    (fake / "tests" / "test_merge.py").write_text(MERGE)
    result = run(fake)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "requirements: 5 marked tests collected (whole suite)" in result.stdout
    record = json.loads((fake / "build/results.json").read_text())
    outcomes = {nodeid: entry["outcome"] for nodeid, entry in record["tests"].items()}
    assert outcomes == {
        "tests/test_datasets.py::test_query[1]": "passed",
        "tests/test_datasets.py::test_query[2]": "passed",
        "tests/test_datasets.py::test_fails": "failed",
        "tests/test_datasets.py::test_skipped": "skipped",
        "tests/test_merge.py::test_concatenates": "passed",
    }
    assert record["complete_collection"] == record["updated"]

    # a later subset run updates its tests and keeps the others
    (fake / "tests" / "test_datasets.py").write_text(DATASETS.replace("assert False", "pass"))
    assert run(fake, "tests/test_datasets.py::test_fails").returncode == 0
    later = json.loads((fake / "build/results.json").read_text())
    assert later["tests"]["tests/test_datasets.py::test_fails"]["outcome"] == "passed"
    assert (
        later["tests"]["tests/test_merge.py::test_concatenates"]
        == (record["tests"]["tests/test_merge.py::test_concatenates"])
    )
    assert later["complete_collection"] == record["complete_collection"]

    page = render(load_catalogue(fake / "requirements.yaml"), later)
    assert "| `tests/test_datasets.py::test_query` | 2 passed |" in page
    assert "| `tests/test_datasets.py::test_skipped` | skipped |" in page
    assert "[DPPS-DP-R-002](#dpps-dp-r-002) Merging | 1.8 | test | 1 | passed (1) |" in page
    assert "| planned |" in page and "| by analysis |" in page


def test_collect_only_records_the_links_without_outcomes(fake):
    (fake / "tests" / "test_merge.py").write_text(MERGE)
    assert run(fake, "--collect-only").returncode == 0
    record = json.loads((fake / "build/results.json").read_text())
    assert {e["outcome"] for e in record["tests"].values()} == {"not run"}
    assert record["tests"]["tests/test_merge.py::test_concatenates"]["requirements"] == [
        "DPPS-DP-R-002"
    ]
