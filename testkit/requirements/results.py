"""The record of the last test runs: which tests verify which requirement, and their outcome.

The pytest plugin keeps ``build/test-results/requirements.json`` up to date at the end of every
session; the matrix command reads it. Layout::

    {"format": 1,
     "updated": "2026-12-02T09:40:00+00:00",          # end of the last session
     "complete_collection": "2026-12-02T09:40:00+00:00",  # last session that collected every test
     "tests": {"tests/io/test_product.py::test_open_missing_file":
                   {"requirements": ["DPPS-DP-R-005"], "outcome": "passed",
                    "run_at": "2026-12-02T09:39:58+00:00", "duration": 0.01}}}

Only tests carrying a ``requirement`` mark are kept. A session that ran a subset of the tests
updates those and keeps the others (with their own ``run_at``); a session that collected the
whole suite also forgets tests that no longer exist.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from testkit.requirements.catalogue import REPOSITORY

DEFAULT_RESULTS = REPOSITORY / "build" / "test-results" / "requirements.json"
FORMAT = 1
NOT_RUN = "not run"

# worst first: the outcome a test shows when its phases disagree
OUTCOMES = ("error", "failed", "xpassed", "passed", "xfailed", "skipped", NOT_RUN)


def empty() -> dict[str, Any]:
    """A record with no test in it."""
    return {"format": FORMAT, "updated": None, "complete_collection": None, "tests": {}}


def read_results(path: Path = DEFAULT_RESULTS) -> dict[str, Any]:
    """The record at ``path`` (an empty one when there is none or it is of another format)."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return empty()
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return empty()
    return data


def write_results(data: Mapping[str, Any], path: Path = DEFAULT_RESULTS) -> None:
    """Write the record atomically (a reader never sees half of it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w") as stream:
            json.dump(data, stream, indent=1, sort_keys=True)
            stream.write("\n")
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def worst(outcomes: Iterable[str]) -> str:
    """The worst of several outcomes (``not run`` for none)."""
    return min(outcomes, key=OUTCOMES.index, default=NOT_RUN)


def merge(
    previous: Mapping[str, Any],
    collected: Mapping[str, list[str]],
    outcomes: Mapping[str, tuple[str, float]],
    *,
    complete: bool,
    when: str,
) -> dict[str, Any]:
    """The record after one session.

    ``collected`` maps every collected test to its requirement ids (empty for unmarked tests),
    ``outcomes`` the tests that ran to (outcome, duration in seconds).
    """
    tests: dict[str, Any] = {} if complete else dict(previous.get("tests", {}))
    for nodeid, requirements in collected.items():
        if not requirements:
            tests.pop(nodeid, None)
            continue
        entry = dict(previous.get("tests", {}).get(nodeid, {}))
        entry.setdefault("outcome", NOT_RUN)
        entry.setdefault("run_at", None)
        entry.setdefault("duration", None)
        entry["requirements"] = list(requirements)
        if nodeid in outcomes:
            entry["outcome"], entry["duration"] = outcomes[nodeid][0], outcomes[nodeid][1]
            entry["run_at"] = when
        tests[nodeid] = entry
    return {
        "format": FORMAT,
        "updated": when,
        "complete_collection": when if complete else previous.get("complete_collection"),
        "tests": tests,
    }
