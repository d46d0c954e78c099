"""``python -m testkit.requirements matrix``: write the verification matrix.

Reads the catalogue and the results the pytest plugin recorded (``make test`` records every
test; ``pytest --collect-only -q`` records which tests verify what without running them) and
writes ``docs/requirements/matrix.md``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from testkit.requirements.catalogue import (
    DEFAULT_CATALOGUE,
    REPOSITORY,
    CatalogueError,
    load_catalogue,
)
from testkit.requirements.matrix import render, tests_by_requirement
from testkit.requirements.results import DEFAULT_RESULTS, read_results

DEFAULT_MATRIX = REPOSITORY / "docs" / "requirements" / "matrix.md"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m testkit.requirements")
    commands = parser.add_subparsers(dest="command", required=True)
    matrix = commands.add_parser("matrix", help="write the verification matrix (Markdown)")
    matrix.add_argument("--catalogue", type=Path, default=DEFAULT_CATALOGUE)
    matrix.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    matrix.add_argument("-o", "--output", type=Path, default=DEFAULT_MATRIX)
    arguments = parser.parse_args(argv)

    try:
        catalogue = load_catalogue(arguments.catalogue)
    except CatalogueError as error:
        print(f"requirements: error: {error}", file=sys.stderr)
        return 2
    if not arguments.results.exists():
        print(
            f"requirements: error: {arguments.results}: no test results yet; run the tests"
            " (make test), or `pytest --collect-only -q` for the links alone",
            file=sys.stderr,
        )
        return 2
    results = read_results(arguments.results)
    page = render(catalogue, results)
    output = arguments.output
    output.parent.mkdir(parents=True, exist_ok=True)
    temporary = output.with_name(f".{output.name}.tmp")
    temporary.write_text(page)
    temporary.replace(output)
    table = tests_by_requirement(results)
    untested = [r for r in catalogue.requirements if r.id not in table]
    print(
        f"{output}: {len(catalogue.requirements)} requirements, "
        f"{sum(len(t) for t in table.values())} links to test functions; without a test: "
        f"{sum(r.status == 'planned' for r in untested)} planned, "
        f"{sum(r.status != 'planned' and r.verification == 'analysis' for r in untested)}"
        " verified by analysis, others: "
        + (
            ", ".join(r.id for r in untested if r.status != "planned" and r.verification == "test")
            or "none"
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
