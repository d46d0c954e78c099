"""The catalogue's schema and the traceability check, on a fake catalogue."""

from __future__ import annotations

import pytest

from testkit.requirements.catalogue import (
    DEFAULT_CATALOGUE,
    CatalogueError,
    check,
    load_catalogue,
    notes,
    requirements_of,
)

MERGE_TEST = "tests/test_merge.py::test_concatenates"
DATASET_TEST = "tests/test_datasets.py::test_query"


def test_a_fully_tested_catalogue_passes(project):
    catalogue = load_catalogue(project / "requirements.yaml")
    marked = {DATASET_TEST: ["DPPS-DP-R-001"], MERGE_TEST: ["DPPS-DP-R-002"], "t::u": []}
    assert check(catalogue, marked, complete=True, root=project) == []


def test_a_requirement_without_test_fails_the_whole_suite_only(project):
    catalogue = load_catalogue(project / "requirements.yaml")
    marked = {DATASET_TEST: ["DPPS-DP-R-001"]}
    problems = check(catalogue, marked, complete=True, root=project)
    assert len(problems) == 1
    assert problems[0].startswith("DPPS-DP-R-002 (Merging) has no test")
    # a subset of the tests says nothing about the others; planned and analysis pass anyway
    assert check(catalogue, marked, complete=False, root=project) == []


def test_a_mark_naming_an_unknown_requirement_always_fails(project):
    catalogue = load_catalogue(project / "requirements.yaml")
    marked = {
        DATASET_TEST: ["DPPS-DP-R-001"],
        MERGE_TEST: ["DPPS-DP-R-002", "DPPS-DP-R-099"],
    }
    for complete in (True, False):
        problems = check(catalogue, marked, complete=complete, root=project)
        assert problems == [
            f"{MERGE_TEST}: unknown requirement 'DPPS-DP-R-099' (not in the catalogue)"
        ]


def test_a_cited_file_that_is_gone_fails(project):
    (project / "bench/merge.py").unlink()
    catalogue = load_catalogue(project / "requirements.yaml")
    marked = {DATASET_TEST: ["DPPS-DP-R-001"], MERGE_TEST: ["DPPS-DP-R-002"]}
    assert check(catalogue, marked, complete=False, root=project) == [
        "DPPS-DP-R-003: bench/merge.py does not exist"
    ]


def test_a_planned_requirement_with_tests_counts_them_and_says_so(project):
    catalogue = load_catalogue(project / "requirements.yaml")
    marked = {
        DATASET_TEST: ["DPPS-DP-R-001"],
        MERGE_TEST: ["DPPS-DP-R-002"],
        "tests/report/test_report.py::test_written": ["DPPS-DP-R-004"],
    }
    assert check(catalogue, marked, complete=True, root=project) == []
    assert notes(catalogue, marked) == [
        "DPPS-DP-R-004 is planned but has marked tests now: drop its status: planned"
    ]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("derived_from: [UC-130-1.1]", "derived_from: [UC-130-9.9]"), "unknown UC-130-9.9"),
        (("id: DPPS-DP-R-002", "id: DPPS-DP-R-001"), "duplicate requirement id DPPS-DP-R-001"),
        (("id: DPPS-DP-R-002", "id: DP-2"), "requirements.1.id: String should match"),
        (("    expected_tests: [tests/report/]\n", ""), "planned requirement says where"),
        (("    evidence: [bench/merge.py]\n", ""), "analysis requirement names its evidence"),
        (("derived_from: [UC-130-1.1]", "derived_from: [UC-130-1.8]"), "from UC-130-1.1"),
        (("    title: Merging\n", "    titel: Merging\n"), "requirements.1.title: Field required"),
    ],
)
def test_a_broken_catalogue_is_one_line_naming_the_file(project, edit, message):
    path = project / "requirements.yaml"
    path.write_text(path.read_text().replace(*edit))
    with pytest.raises(CatalogueError) as error:
        load_catalogue(path)
    text = str(error.value)
    assert text.startswith(str(path)) and message in text and "\n" not in text


def test_mark_arguments_are_ids(project):
    assert requirements_of([("A", "B"), ("B",)]) == ["A", "B"]
    with pytest.raises(CatalogueError, match="at least one"):
        requirements_of([()])
    with pytest.raises(CatalogueError, match="strings"):
        requirements_of([(1,)])


def test_the_project_catalogue_is_valid_and_cites_existing_files():
    catalogue = load_catalogue(DEFAULT_CATALOGUE)
    assert len(catalogue.requirements) >= 50
    assert check(catalogue, {}, complete=False) == []
