"""The provenance block every product carries (``/provenance``), the same facts the catalog holds.

It records the software version, the stage and its command line, the fully resolved
configuration and its hash, every input file with its sha256, start and stop time (UTC) and the
host. It is stored as attributes of the ``/provenance`` group; nested values are JSON strings.
"""

from __future__ import annotations

import getpass
import json
import platform
import socket
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import h5py
from pydantic import BaseModel

from datapipe_ops.checksum import BackgroundChecksums, sha256_file
from datapipe_ops.config import config_hash, resolved_config
from datapipe_ops.errors import InputFileError
from datapipe_ops.io.layout import PROVENANCE

_JSON_KEYS = ("config", "inputs", "environment")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _environment() -> dict[str, str]:
    import numpy

    versions = {"python": platform.python_version(), "numpy": numpy.__version__}
    for module in ("numba", "astropy", "h5py", "pyirf", "lightgbm"):
        if module in sys.modules:
            versions[module] = getattr(sys.modules[module], "__version__", "?")
    return versions


def input_records(inputs: Sequence[str | Path] | Mapping[str, str]) -> list[dict[str, str]]:
    """``[{"path", "sha256"}]`` for the inputs; a mapping path → sha256 skips re-hashing."""
    if isinstance(inputs, Mapping):
        return [{"path": str(Path(p).absolute()), "sha256": h} for p, h in inputs.items()]
    records = []
    for path in inputs:
        path = Path(path)
        if not path.exists():
            raise InputFileError("input file does not exist", path=path)
        records.append({"path": str(path.absolute()), "sha256": sha256_file(path)})
    return records


def pending_input_records(
    inputs: Sequence[str | Path] | Mapping[str, str],
    checksums: BackgroundChecksums | None = None,
) -> tuple[list[dict[str, str]], Callable[[], None]]:
    """As :func:`input_records`, with the checksums computed in the background.

    Missing inputs are reported at once; the records get their ``sha256`` when the returned
    function is called (it waits for the hashing; call it before the records are written).
    ``checksums``: hashing already started for these inputs (among others, e.g. every input of
    a task that writes several products); default: a thread started here.
    """
    if isinstance(inputs, Mapping):
        return input_records(inputs), lambda: None
    paths = [Path(path) for path in inputs]
    for path in paths:
        if not path.exists():
            raise InputFileError("input file does not exist", path=path)
    records = [{"path": str(path.absolute()), "sha256": ""} for path in paths]
    hashing = checksums if checksums is not None else BackgroundChecksums(paths)

    def complete() -> None:
        hashes = hashing.wait_for(paths)
        for record, path in zip(records, paths, strict=True):
            record["sha256"] = hashes[path]

    return records, complete


def start_provenance(
    stage: str,
    config: BaseModel | None = None,
    inputs: Sequence[str | Path] | Mapping[str, str] = (),
) -> dict[str, Any]:
    """Open a provenance record at the start of a stage (stop time is added on completion)."""
    from datapipe_ops import __version__

    resolved = resolved_config(config)
    return {
        "stage": stage,
        "software_version": __version__,
        "command": " ".join(sys.argv),
        "config": resolved,
        "config_hash": config_hash(resolved),
        "inputs": input_records(inputs),
        "start_time": _now(),
        "stop_time": "",
        "host": socket.gethostname(),
        "user": getpass.getuser(),
        "environment": _environment(),
    }


def write_provenance(h5file: h5py.File, record: Mapping[str, Any]) -> None:
    """Store ``record`` (with its stop time set now) as the ``/provenance`` group."""
    group = h5file.require_group(PROVENANCE)
    for key, value in {**record, "stop_time": _now()}.items():
        group.attrs[key] = json.dumps(value) if key in _JSON_KEYS else value


def read_provenance(h5file: h5py.File) -> dict[str, Any]:
    """The provenance record of an open product (empty dict if it has none)."""
    if PROVENANCE not in h5file:
        return {}
    out: dict[str, Any] = {}
    for key, value in h5file[PROVENANCE].attrs.items():
        text = value.decode() if isinstance(value, bytes) else value
        out[key] = json.loads(text) if key in _JSON_KEYS else text
    return out
