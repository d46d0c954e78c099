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


def sha256_files_in_background(paths: Sequence[Path]) -> Callable[[], dict[Path, str]]:
    """Start hashing ``paths`` in a background thread; call the result to wait for
    ``{path: sha256}`` (it re-raises what the hashing raised).

    ``hashlib`` releases the GIL while it digests a block and reading a block waits on I/O, so
    the checksums of a stage's inputs are computed on another core while the stage decodes
    and processes them, off its critical path.
    """
    results: dict[Path, str] = {}
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for path in paths:
                results[path] = sha256_file(path)
        except BaseException as exc:  # handed to the caller by wait()
            errors.append(exc)

    thread = threading.Thread(target=work, name="datapipe-sha256", daemon=True)
    thread.start()

    def wait() -> dict[Path, str]:
        thread.join()
        if errors:
            raise errors[0]
        return results

    return wait


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
