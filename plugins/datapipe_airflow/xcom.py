"""Reading the XCom values of mapped tasks.

A mapped task's output arrives in a downstream task as a lazy sequence: it supports ``len`` and
indexing, but iterating it probes one element past the end (a query that finds nothing). Every
DAG step turns it into a plain list with :func:`as_list`, the one place that knows this.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def as_list(values: Sequence[Any]) -> list[Any]:
    """The values of a (lazy) XCom sequence as a list, read by index."""
    return [values[i] for i in range(len(values))]
