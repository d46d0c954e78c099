"""The verification matrix page: generated from the catalogue, and in step with it."""

from __future__ import annotations

import re

from testkit.requirements.__main__ import DEFAULT_MATRIX, main
from testkit.requirements.catalogue import DEFAULT_CATALOGUE, load_catalogue
from testkit.requirements.matrix import render
from testkit.requirements.results import empty, merge, write_results


def test_the_committed_page_lists_exactly_the_catalogued_requirements():
    """After adding or removing a requirement: `python -m testkit.requirements matrix`."""
    page = DEFAULT_MATRIX.read_text()
    listed = re.findall(r"^### (DPPS-DP-R-\d{3})$", page, flags=re.MULTILINE)
    assert listed == [r.id for r in load_catalogue(DEFAULT_CATALOGUE).requirements]


def test_a_failed_test_and_a_missing_test_stand_out(project):
    catalogue = load_catalogue(project / "requirements.yaml")
    results = merge(
        empty(),
        {"t.py::test_a[1]": ["DPPS-DP-R-001"], "t.py::test_a[2]": ["DPPS-DP-R-001"]},
        {"t.py::test_a[1]": ("passed", 0.1), "t.py::test_a[2]": ("failed", 0.1)},
        complete=True,
        when="2026-01-01T00:00:00+00:00",
    )
    page = render(catalogue, results)
    assert "Datasets by query | 1.1 | test | 1 | **failed** (1 failed, 1 passed) |" in page
    assert "Merging | 1.8 | test | 0 | **no test** |" in page
    assert "| `t.py::test_a` | 1 failed, 1 passed | 2026-01-01T00:00:00+00:00 |" in page
    assert "2 marked tests (parametrisations counted): 1 failed, 1 passed." in page


def test_the_command_writes_the_page_or_says_what_to_run(project, capsys):
    output = project / "out" / "matrix.md"
    arguments = ["matrix", "--catalogue", str(project / "requirements.yaml"), "-o", str(output)]
    results = project / "results.json"
    assert main([*arguments, "--results", str(results)]) == 2
    assert "no test results yet" in capsys.readouterr().err
    write_results(empty(), results)
    assert main([*arguments, "--results", str(results)]) == 0
    assert "### DPPS-DP-R-004" in output.read_text()
    assert "others: DPPS-DP-R-001, DPPS-DP-R-002" in capsys.readouterr().out
