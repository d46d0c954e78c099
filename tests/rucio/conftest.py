"""The Rucio test server (see ``rucio_service``), importable by every test directory using it."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rucio_service import rucio_server  # noqa: F401  (fixture)
