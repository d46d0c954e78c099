"""The expected failures of the stage library.

Every error a user can cause (a missing or truncated file, a wrong schema version, missing
calibration coefficients, a bad configuration) is raised as a :class:`DataPipeError`. The CLI
prints it as one line, ``<file>: <problem>``, and exits non-zero; it never shows a traceback for
these. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from pathlib import Path


class DataPipeError(Exception):
    """An expected failure, reported as one line naming the file and the problem."""

    exit_code = 2

    def __init__(self, problem: str, path: str | Path | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.path = None if path is None else str(path)

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}" if self.path else self.problem


class ConfigError(DataPipeError):
    """A configuration file is missing, unreadable or invalid."""


class InputFileError(DataPipeError):
    """An input data file is missing, truncated, of the wrong level or schema version."""


class CalibrationError(DataPipeError):
    """Calibration coefficients are missing or do not cover the data."""


class CatalogError(DataPipeError):
    """The product catalog refused an operation (e.g. an immutable dataset already exists)."""


class OutputError(DataPipeError):
    """An output cannot be written: it exists (without overwrite), it is one of the inputs, or
    its directory is not writable (see :mod:`datapipe_ops.io.outputs`)."""
