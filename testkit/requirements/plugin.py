"""pytest plugin: requirement marks checked at collection, outcomes recorded for the matrix.

Loaded by ``tests/conftest.py`` (``pytest_plugins``). At collection it checks the
``@pytest.mark.requirement(...)`` marks against the catalogue (:func:`~.catalogue.check`):
a mark naming an unknown requirement stops the session; when the whole suite is collected, so
does a requirement (neither planned nor verified by analysis) that no test verifies. At the end
of the session it writes the per-test outcomes to the results file the matrix is made from.

ini options (``[tool.pytest.ini_options]``), paths relative to the rootdir:
``requirements_catalogue`` (default ``docs/requirements/requirements.yaml``) and
``requirements_results`` (default ``build/test-results/requirements.json``).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest

from testkit.requirements.catalogue import (
    CatalogueError,
    check,
    load_catalogue,
    notes,
    requirements_of,
)
from testkit.requirements.results import merge, read_results, worst, write_results

MARKER = "requirement"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "requirements_catalogue",
        "the requirements catalogue the requirement marks are checked against",
        default="docs/requirements/requirements.yaml",
    )
    parser.addini(
        "requirements_results",
        "where the outcomes of the marked tests are recorded for the verification matrix",
        default="build/test-results/requirements.json",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}(*ids): the test verifies these requirements (DPPS-DP-R-…)"
    )
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        config.pluginmanager.register(Traceability(config), "requirements-traceability")


def whole_suite_selected(config: pytest.Config) -> bool:
    """Whether this session collects every test: the arguments cover every ``testpaths``
    directory (no ``::`` selection) and no option leaves files out. ``-k``, ``-m`` and
    ``--deselect`` do not matter: the check sees the items before they are deselected."""
    if config.getoption("ignore", None) or config.getoption("ignore_glob", None):
        return False
    if config.getoption("lf", False):
        return False
    invocation = config.invocation_params.dir
    given = []
    for argument in config.args:
        if "::" in argument:
            return False
        given.append((invocation / argument).resolve())
    wanted = [(config.rootpath / path).resolve() for path in config.getini("testpaths")]
    wanted = wanted or [invocation.resolve()]
    return all(any(w == g or g in w.parents for g in given) for w in wanted)


def phase_outcome(report: pytest.TestReport) -> str | None:
    """What one phase (setup, call, teardown) says about its test; None for a passed
    set-up or teardown, which says nothing yet."""
    xfail = hasattr(report, "wasxfail")
    if report.failed:
        return "failed" if report.when == "call" else "error"
    if report.skipped:
        return "xfailed" if xfail else "skipped"
    if report.when == "call":
        return "xpassed" if xfail else "passed"
    return None


class Traceability:
    """The session's marks, the check, and the outcomes of the marked tests."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.catalogue_path = config.rootpath / config.getini("requirements_catalogue")
        self.results_path = config.rootpath / config.getini("requirements_results")
        self.started = datetime.now(UTC).isoformat(timespec="seconds")
        self.collected: dict[str, list[str]] | None = None
        self.complete = False
        self.phases: dict[str, list[str]] = {}
        self.durations: dict[str, float] = {}
        self.notes: list[str] = []

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(
        self, session: pytest.Session, items: list[pytest.Item]
    ) -> None:
        try:
            catalogue = load_catalogue(self.catalogue_path)
            collected = {
                item.nodeid: requirements_of(mark.args for mark in item.iter_markers(MARKER))
                for item in items
            }
        except CatalogueError as error:
            raise pytest.UsageError(f"requirements: {error}") from None
        complete = whole_suite_selected(self.config) and session.testsfailed == 0
        problems = check(catalogue, collected, complete=complete, root=self.config.rootpath)
        if problems:
            raise pytest.UsageError(
                f"requirements traceability ({self.catalogue_path}):\n  " + "\n  ".join(problems)
            )
        self.collected, self.complete = collected, complete
        self.notes = notes(catalogue, collected) if complete else []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        outcome = phase_outcome(report)
        phases = self.phases.setdefault(report.nodeid, [])
        if outcome is not None:
            phases.append(outcome)
        self.durations[report.nodeid] = self.durations.get(report.nodeid, 0.0) + report.duration

    def pytest_sessionfinish(self) -> None:
        if self.collected is None:
            return
        outcomes = {
            nodeid: (worst(self.phases[nodeid]), round(self.durations[nodeid], 3))
            for nodeid in self.collected
            if self.phases.get(nodeid)
        }
        record = merge(
            read_results(self.results_path),
            self.collected,
            outcomes,
            complete=self.complete,
            when=self.started,
        )
        write_results(record, self.results_path)

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if self.collected is None:
            return
        marked = sum(1 for ids in self.collected.values() if ids)
        scope = "whole suite" if self.complete else "a subset: untested requirements not checked"
        terminalreporter.write_line(
            f"requirements: {marked} marked tests collected ({scope}); outcomes in "
            f"{self.results_path}"
        )
        for line in self.notes:
            terminalreporter.write_line(f"requirements: note: {line}")
