"""File checksums used by provenance, the catalog, the BDMS manifest and Rucio."""

from __future__ import annotations

import hashlib
import zlib
from pathlib import Path

_BLOCK = 1 << 20


def sha256_file(path: str | Path) -> str:
    """Return the hex sha256 of a file, read in 1 MiB blocks (memory stays flat)."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while block := stream.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


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
