"""BDMS tests: the Rucio test server fixture (``tests/rucio/rucio_service.py``)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "rucio"))

from rucio_service import rucio_server  # noqa: F401  (fixture)
