"""The output policy every stage applies before it writes anything.

One function, :func:`check_outputs`, decides whether a stage may write its output files:

* an output that is one of the stage's inputs — the same path, or the same file reached through
  a symbolic or hard link (same device and inode) — is refused, always, ``--overwrite`` or not;
* an existing output is refused unless the stage was asked to ``overwrite`` it;
* an output that is a directory, or whose directory cannot be created or written, is refused.

It runs before the first event is read, so a refused output costs nothing and leaves every file
as it was. Outputs are then written through :func:`datapipe_ops.io.atomic.atomic_output` (or
:class:`datapipe_ops.io.product.ProductWriter`), so a replaced output changes in one rename.
:func:`check_output_directory` is the same policy for a dataset directory (``datapipe simulate
production|observation``).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from datapipe_ops.errors import OutputError


def absolute_path(path: str | Path) -> Path:
    """``path`` made absolute against the working directory and normalised (``..`` removed),
    symbolic links kept: the name under which a stage reports, writes and registers a file."""
    return Path(os.path.abspath(path))


def same_file(a: str | Path, b: str | Path) -> bool:
    """Whether ``a`` and ``b`` name the same file: equal absolute paths, or (both existing) the
    same device and inode, i.e. the same file through a symbolic or hard link."""
    a, b = Path(a), Path(b)
    if absolute_path(a) == absolute_path(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (or cannot be stat'ed): not the same file
        return False


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path(path.anchor or ".")


def check_writable_directory(directory: str | Path, what: str | Path | None = None) -> None:
    """Raise :class:`OutputError` unless files can be created in ``directory`` (or, if it does
    not exist yet, in the directory it would be created in). ``what`` names the output."""
    directory = absolute_path(directory)
    existing = _nearest_existing(directory)
    if not existing.is_dir():
        raise OutputError(
            f"cannot create directory {directory}: {existing} is a file", what or directory
        )
    try:  # really create a file: permission bits do not tell for root or read-only mounts
        handle, probe = tempfile.mkstemp(prefix=".datapipe-probe-", dir=existing)
    except OSError as exc:
        raise OutputError(
            f"output directory {existing} is not writable ({exc.strerror})", what or directory
        ) from None
    os.close(handle)
    os.unlink(probe)


def check_outputs(
    outputs: Iterable[str | Path],
    inputs: Iterable[str | Path] = (),
    overwrite: bool = False,
) -> list[Path]:
    """Check that a stage may write ``outputs`` given its ``inputs``; returns the outputs as
    absolute paths.

    Raises
    ------
    OutputError
        An output is one of the inputs (never allowed), exists and ``overwrite`` is false, is a
        directory, appears twice, or its directory is not writable.
    """
    checked: list[Path] = []
    inputs = [Path(p) for p in inputs]
    for output in (Path(p) for p in outputs):
        for source in inputs:
            if same_file(output, source):
                raise OutputError(
                    f"is also an input of this stage ({source}); an input is never overwritten",
                    path=output,
                )
        if any(same_file(output, other) for other in checked):
            raise OutputError("is given as two different outputs of this stage", path=output)
        if output.is_dir():
            raise OutputError("is a directory, not an output file", path=output)
        if (output.exists() or output.is_symlink()) and not overwrite:
            raise OutputError("exists; give --overwrite to replace it", path=output)
        check_writable_directory(output.parent, output)
        checked.append(absolute_path(output))
    return checked


def check_output(
    output: str | Path, inputs: Iterable[str | Path | None] = (), overwrite: bool = False
) -> Path:
    """:func:`check_outputs` for a stage with one output (``None`` inputs are left out)."""
    return check_outputs([output], [i for i in inputs if i is not None], overwrite)[0]


def check_output_directory(directory: str | Path, inputs: Iterable[str | Path] = ()) -> Path:
    """Check that ``directory`` can hold a dataset's files (created if missing) and is not one of
    the inputs; returns it absolute. Whether its existing content may be replaced is the
    dataset's own rule (its manifest), see ``datapipe simulate``."""
    directory = absolute_path(directory)
    for source in inputs:
        if same_file(directory, source):
            raise OutputError("is also an input of this stage", path=directory)
    if directory.exists() and not directory.is_dir():
        raise OutputError("is a file, not a dataset directory", path=directory)
    check_writable_directory(directory, directory)
    return directory
