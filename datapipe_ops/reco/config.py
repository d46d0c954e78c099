"""Configuration of the DL1→DL2 stage (``include/config/dl1_to_dl2/default.yaml``).

Every key has a default; a YAML file sets only what differs. The geometry quality query is
ctapipe 0.32's ``StereoQualityQuery`` by default (intensity > 50 p.e., width > 0, more than 3
pixels), plus an optional leakage cut, and an event needs at least ``min_telescopes`` images
that pass it.
"""

from __future__ import annotations

from pydantic import Field

from datapipe_ops.config import StageConfig


class QualityQuery(StageConfig):
    """Which telescope images enter the stereo reconstruction (all conditions must hold)."""

    min_intensity: float = Field(
        50.0, description="hillas_intensity must exceed this [p.e.] (ctapipe: > 50)"
    )
    min_n_pixels: int = Field(
        3, ge=0, description="morphology_n_pixels must exceed this (ctapipe: > 3)"
    )
    max_leakage_intensity_width_2: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="leakage_intensity_width_2 must not exceed this (null: no leakage cut)",
    )


class GeometryConfig(StageConfig):
    """The axes-intersection geometry (``HillasIntersection``)."""

    quality: QualityQuery = QualityQuery()
    min_telescopes: int = Field(2, ge=2, description="images passing the quality query needed")


class DL1ToDL2Config(StageConfig):
    """The DL1→DL2 stage: geometry settings and streaming."""

    chunk_size: int = Field(
        20000, ge=1, le=1_000_000, description="subarray events read and reconstructed at once"
    )
    geometry: GeometryConfig = GeometryConfig()
