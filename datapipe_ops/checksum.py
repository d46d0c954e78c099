"""File checksums used by provenance, the catalog, the BDMS manifest and Rucio."""

from __future__ import annotations

import hashlib
import threading
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

_BLOCK = 1 << 20


def sha256_file(path: str | Path) -> str:
    """Return the hex sha256 of a file, read in 1 MiB blocks (memory stays flat)."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while block := stream.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


class BackgroundChecksums:
    """The sha256 of files, computed one after the other in a background thread.

    ``hashlib`` releases the GIL while it digests a block and reading a block waits on I/O, so
    the checksums of a stage's inputs are computed on another core while the stage decodes
    and processes them, off its critical path. The files are hashed in the order given: a
    stage that processes several files waits (:meth:`wait_for`) only for the ones its current
    product records.
    """

    def __init__(self, paths: Sequence[Path]) -> None:
        self._paths = list(dict.fromkeys(Path(p) for p in paths))
        self._results: dict[Path, str] = {}
        self._error: BaseException | None = None
        self._done = threading.Condition()
        self._thread = threading.Thread(target=self._work, name="datapipe-sha256", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        for path in self._paths:
            try:
                digest = sha256_file(path)
            except BaseException as exc:  # handed to the caller by wait_for()
                with self._done:
                    self._error = exc
                    self._done.notify_all()
                return
            with self._done:
                self._results[path] = digest
                self._done.notify_all()

    def wait_for(self, paths: Sequence[Path]) -> dict[Path, str]:
        """``{path: sha256}`` of ``paths`` (among those given at start), once computed; it
        re-raises what the hashing raised."""
        wanted = [Path(p) for p in paths]
        unknown = [p for p in wanted if p not in self._paths]
        if unknown:
            raise KeyError(f"{unknown[0]} is not hashed by this BackgroundChecksums")
        with self._done:
            while self._error is None and any(p not in self._results for p in wanted):
                self._done.wait()
            if any(p not in self._results for p in wanted):
                raise self._error  # type: ignore[misc]
            return {p: self._results[p] for p in wanted}

    def __call__(self) -> dict[Path, str]:
        """``{path: sha256}`` of every file (waits for all of them)."""
        return self.wait_for(self._paths)


def sha256_files_in_background(paths: Sequence[Path]) -> Callable[[], dict[Path, str]]:
    """Start hashing ``paths`` in a background thread; call the result to wait for
    ``{path: sha256}`` (it re-raises what the hashing raised). See
    :class:`BackgroundChecksums`."""
    return BackgroundChecksums(paths)


def rucio_checksums(path: str | Path) -> dict[str, str]:
    """``{"adler32": ..., "md5": ...}`` of a file in one pass, formatted as Rucio stores them
    (adler32 as 8 lower-case hex digits, md5 as 32)."""
    adler = 1
    md5 = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as stream:
        while block := stream.read(_BLOCK):
            adler = zlib.adler32(block, adler)
            md5.update(block)
    return {"adler32": f"{adler & 0xFFFFFFFF:08x}", "md5": md5.hexdigest()}
