"""Atomic output files: write to a hidden temporary name, rename into place when complete.

The temporary name ``.<name>.<host>.<pid>.partial`` sits beside the final name (so the rename is
atomic on POSIX) and is hidden from readers globbing for products. A process killed while
writing leaves its temporary file behind; the next writer of the same output removes it
(:func:`remove_stale_temporaries`), so a rerun leaves no trace of the failed attempt.
"""

from __future__ import annotations

import glob
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from datapipe_ops.faults import stop_point

_SUFFIX = ".partial"


def _host() -> str:
    return socket.gethostname().replace(".", "_") or "localhost"


def temporary_name(final: Path) -> Path:
    """The hidden temporary name used while ``final`` is being written (same directory)."""
    return final.with_name(f".{final.name}.{_host()}.{os.getpid()}{_SUFFIX}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(final: str | Path) -> list[Path]:
    """Remove the temporary files that earlier, dead writers of ``final`` left behind.

    A temporary file of this host is stale when its process no longer runs; one of another host
    (a pod or node that was killed) is always stale: the output belongs to the process writing
    it now. Returns the files removed.
    """
    final = Path(final)
    removed = []
    if not final.parent.is_dir():
        return removed
    host = _host()
    for tmp in final.parent.glob(f".{glob.escape(final.name)}.*{_SUFFIX}"):
        writer = tmp.name[len(final.name) + 2 : -len(_SUFFIX)]
        writer_host, _, pid = writer.rpartition(".")
        if writer_host == host and pid.isdigit() and (int(pid) == os.getpid() or _alive(int(pid))):
            continue
        tmp.unlink(missing_ok=True)
        removed.append(tmp)
    return removed


@contextmanager
def atomic_output(final: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write; rename it to ``final`` only if the block succeeds.

    The temporary file lives in the same directory (so the rename is atomic on POSIX) under a
    hidden name that no reader globbing for products finds. On any exception — or if the process
    is killed — nothing appears at ``final`` and an existing file there is left untouched.
    Whether ``final`` may be replaced at all is decided before, by
    :func:`datapipe_ops.io.outputs.check_outputs`.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(final)
    tmp = temporary_name(final)
    tmp.unlink(missing_ok=True)
    try:
        yield tmp
        stop_point("atomic:rename")
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
