"""Configuration of ``datapipe dl2-to-dl3``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from datapipe_ops.config import StageConfig
from datapipe_ops.irf.config import DL2Algorithms


class DL3Config(StageConfig):
    """What goes into a DL3 file and its header."""

    algorithms: DL2Algorithms = DL2Algorithms()
    flavour: Literal["point-like", "full-enclosure"] = Field(
        "point-like",
        description="point-like: AEFF/EDISP after the direction cut + RAD_MAX; "
        "full-enclosure: AEFF/EDISP after the gammaness cut + PSF table.",
    )
    origin: str = "CTAO"
    telescope: str = "CTAO"
    instrument: str = "CTAO-North"
    dead_time_correction: float = Field(1.0, gt=0, le=1, description="DEADC: livetime/ontime.")
    chunk_size: int = Field(500_000, ge=1)
