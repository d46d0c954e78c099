"""The requirements catalogue (``docs/requirements/requirements.yaml``) and its checks.

The catalogue lists the DataPipe use cases (UC-130-*) and the requirements derived from them.
Tests name the requirements they verify with ``@pytest.mark.requirement("DPPS-DP-R-…")``;
:func:`check` compares those marks with the catalogue. Everything here is pure: the pytest
plugin (:mod:`testkit.requirements.plugin`) and the matrix command feed it.
"""

from __future__ import annotations

import glob
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

REPOSITORY = Path(__file__).resolve().parents[2]
DEFAULT_CATALOGUE = REPOSITORY / "docs" / "requirements" / "requirements.yaml"

REQUIREMENT_ID = r"^DPPS-DP-R-\d{3}$"
USE_CASE_ID = r"^UC-130-\d+(\.\d+)*$"


class CatalogueError(ValueError):
    """The catalogue file is missing or does not follow its schema (one line, naming the file)."""


class UseCase(BaseModel):
    """A DataPipe use case: the source requirements derive from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=USE_CASE_ID)
    title: str = Field(min_length=1)


class Requirement(BaseModel):
    """One verifiable requirement.

    ``verification`` is ``test`` (verified by the tests that carry its marker) or ``analysis``
    (verified by the measurements of the ``evidence`` scripts, e.g. a speed benchmark; tests
    may add to it). A ``planned`` requirement belongs to a feature still being built:
    ``expected_tests`` says where its tests will land; its marked tests count as soon as they do.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=REQUIREMENT_ID)
    title: str = Field(min_length=1)
    statement: str = Field(min_length=1)
    derived_from: list[str] = Field(min_length=1)
    verification: Literal["test", "analysis"] = "test"
    status: Literal["implemented", "planned"] = "implemented"
    implemented_in: list[str] = []
    expected_tests: list[str] = []
    evidence: list[str] = []

    @model_validator(mode="after")
    def _consistent(self) -> Requirement:
        if self.status == "planned" and self.verification == "test" and not self.expected_tests:
            raise ValueError("a planned requirement says where its tests will be (expected_tests)")
        if self.verification == "analysis" and not self.evidence:
            raise ValueError("an analysis requirement names its evidence (scripts, pages)")
        return self


class Catalogue(BaseModel):
    """The whole file: use cases and requirements, cross-checked."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    use_cases: list[UseCase] = Field(min_length=1)
    requirements: list[Requirement] = Field(min_length=1)

    @model_validator(mode="after")
    def _cross_references(self) -> Catalogue:
        for kind, ids in (
            ("use case", [uc.id for uc in self.use_cases]),
            ("requirement", [r.id for r in self.requirements]),
        ):
            duplicates = sorted({i for i in ids if ids.count(i) > 1})
            if duplicates:
                raise ValueError(f"duplicate {kind} id {', '.join(duplicates)}")
        known = {uc.id for uc in self.use_cases}
        for requirement in self.requirements:
            unknown = [uc for uc in requirement.derived_from if uc not in known]
            if unknown:
                raise ValueError(f"{requirement.id} derives from unknown {', '.join(unknown)}")
        derived = {uc for r in self.requirements for uc in r.derived_from}
        orphans = [uc.id for uc in self.use_cases if uc.id not in derived]
        if orphans:
            raise ValueError(f"no requirement derives from {', '.join(orphans)}")
        return self

    @property
    def ids(self) -> set[str]:
        """Every requirement id."""
        return {r.id for r in self.requirements}

    def derived_from(self, use_case: str) -> list[Requirement]:
        """The requirements derived from one use case, in catalogue order."""
        return [r for r in self.requirements if use_case in r.derived_from]


def load_catalogue(path: Path = DEFAULT_CATALOGUE) -> Catalogue:
    """Read and validate the catalogue; :class:`CatalogueError` names the file and the problem."""
    try:
        data = yaml.safe_load(Path(path).read_text())
    except OSError as error:
        raise CatalogueError(f"{path}: cannot read the requirements catalogue: {error}") from None
    except yaml.YAMLError as error:
        raise CatalogueError(f"{path}: not YAML: {error}".replace("\n", " ")) from None
    try:
        return Catalogue.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        raise CatalogueError(f"{path}: {where + ': ' if where else ''}{message}") from None


def requirements_of(marks: Iterable[tuple[object, ...]]) -> list[str]:
    """The requirement ids of a test's ``requirement`` marks (the arguments of each mark)."""
    ids: list[str] = []
    for arguments in marks:
        if not arguments:
            raise CatalogueError("@pytest.mark.requirement needs at least one requirement id")
        for argument in arguments:
            if not isinstance(argument, str):
                raise CatalogueError(f"requirement ids are strings, got {argument!r}")
            if argument not in ids:
                ids.append(argument)
    return ids


def _matches(root: Path, pattern: str) -> bool:
    return bool(glob.glob(str(root / pattern)))


def check(
    catalogue: Catalogue,
    marked: Mapping[str, Iterable[str]],
    *,
    complete: bool,
    root: Path = REPOSITORY,
) -> list[str]:
    """The traceability problems, one line each (an empty list when all is well).

    ``marked`` maps each collected test (node id) to the requirement ids it is marked with.
    A mark naming an unknown requirement is always a problem. Only when ``complete`` (the
    whole suite was collected) is a requirement without any test a problem too: a subset
    of the tests says nothing about the others. A ``planned`` requirement, and one verified by
    analysis, may have no test; the files an implemented requirement cites must exist.
    """
    problems: list[str] = []
    known = catalogue.ids
    for nodeid, ids in marked.items():
        problems.extend(
            f"{nodeid}: unknown requirement {rid!r} (not in the catalogue)"
            for rid in ids
            if rid not in known
        )
    tested = {rid for ids in marked.values() for rid in ids}
    for requirement in catalogue.requirements:
        if requirement.status == "planned":
            continue
        if complete and requirement.verification == "test" and requirement.id not in tested:
            problems.append(
                f"{requirement.id} ({requirement.title}) has no test: mark the tests that verify"
                f' it with @pytest.mark.requirement("{requirement.id}"), or mark it'
                " status: planned with its expected_tests"
            )
        problems.extend(
            f"{requirement.id}: {path} does not exist"
            for path in (*requirement.implemented_in, *requirement.evidence)
            if not _matches(root, path)
        )
    return problems


def notes(catalogue: Catalogue, marked: Mapping[str, Iterable[str]]) -> list[str]:
    """Hints that are not failures: planned requirements whose marked tests have arrived."""
    tested = {rid for ids in marked.values() for rid in ids}
    return [
        f"{requirement.id} is planned but has marked tests now: drop its status: planned"
        for requirement in catalogue.requirements
        if requirement.status == "planned" and requirement.id in tested
    ]
