"""Configuration of the DL0→DL1 stage (``include/config/dl0_to_dl1/default.yaml``).

Every key has a default; a YAML file sets only what differs. The ``extraction`` and
``cleaning`` sections apply to every camera; ``cameras.<name>`` overrides single keys of them
for one camera (by camera name, e.g. ``LSTCam``). The built-in per-camera cleaning thresholds
are ctapipe 0.32's (``base_config.yaml``).
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator

from datapipe_ops.config import StageConfig

ExtractionMethod = Literal["neighbor_peak_window_sum", "local_peak_window_sum", "fixed_window_sum"]


class ExtractionConfig(StageConfig):
    """Charge and peak-time extraction (ctapipe's extractors of the same names)."""

    method: ExtractionMethod = "neighbor_peak_window_sum"
    window_width: int = Field(7, ge=1, description="integration window width [samples]")
    window_shift: int = Field(3, ge=0, description="window start before the peak [samples]")
    peak_index: int = Field(0, ge=0, description="fixed_window_sum: the peak sample")
    local_weight: int = Field(
        0, ge=0, le=16, description="neighbor_peak_window_sum: weight of the pixel's own waveform"
    )
    apply_integration_correction: bool = True


class CleaningConfig(StageConfig):
    """Tail-cuts cleaning with an optional time constraint (ctapipe's definitions)."""

    picture_threshold_pe: float = Field(10.0, description="picture threshold [p.e.]")
    boundary_threshold_pe: float = Field(5.0, description="boundary threshold [p.e.]")
    min_picture_neighbors: int = Field(2, ge=0)
    keep_isolated_pixels: bool = False
    time_limit_ns: float | None = Field(
        None, gt=0, description="time constraint: max. peak-time difference to neighbours [ns]"
    )
    time_min_neighbors: int = Field(1, ge=0, description="time constraint: neighbours needed")

    @model_validator(mode="after")
    def _boundary_below_picture(self) -> Self:
        if self.boundary_threshold_pe > self.picture_threshold_pe:
            raise ValueError("boundary_threshold_pe must not exceed picture_threshold_pe")
        return self


class ExtractionOverride(StageConfig):
    """Per-camera replacement of some extraction keys."""

    method: ExtractionMethod | None = None
    window_width: int | None = Field(None, ge=1)
    window_shift: int | None = Field(None, ge=0)
    peak_index: int | None = Field(None, ge=0)
    local_weight: int | None = Field(None, ge=0, le=16)
    apply_integration_correction: bool | None = None


class CleaningOverride(StageConfig):
    """Per-camera replacement of some cleaning keys."""

    picture_threshold_pe: float | None = None
    boundary_threshold_pe: float | None = None
    min_picture_neighbors: int | None = Field(None, ge=0)
    keep_isolated_pixels: bool | None = None
    time_limit_ns: float | None = Field(None, gt=0)
    time_min_neighbors: int | None = Field(None, ge=0)


class CameraOverride(StageConfig):
    """What differs for one camera."""

    extraction: ExtractionOverride = ExtractionOverride()
    cleaning: CleaningOverride = CleaningOverride()


def _thresholds(picture: float, boundary: float) -> CameraOverride:
    return CameraOverride(
        cleaning=CleaningOverride(picture_threshold_pe=picture, boundary_threshold_pe=boundary)
    )


#: ctapipe 0.32's per-camera tail-cuts thresholds (resources/base_config.yaml)
DEFAULT_CAMERAS: dict[str, CameraOverride] = {
    "LSTCam": _thresholds(8.5, 4.25),
    "NectarCam": _thresholds(9.0, 4.5),
    "FlashCam": _thresholds(9.0, 4.5),
    "CHEC": _thresholds(4.0, 2.0),
}


def _merge[M: StageConfig](base: M, override: StageConfig) -> M:
    """``base`` with the keys the override sets (``time_limit_ns: null`` switches it off)."""
    return type(base).model_validate(base.model_dump() | override.model_dump(exclude_unset=True))


class DL0ToDL1Config(StageConfig):
    """The DL0→DL1 stage: extraction, cleaning, what to write, how to stream."""

    chunk_size: int = Field(
        250, ge=1, le=100_000, description="telescope events processed per compiled call"
    )
    write_images: bool = Field(False, description="also write images, peak times and masks")
    timing_seed: int = Field(
        0, ge=0, description="seed of the timing fit's random starts (one stream per telescope)"
    )
    extraction: ExtractionConfig = ExtractionConfig()
    cleaning: CleaningConfig = CleaningConfig()
    cameras: dict[str, CameraOverride] = Field(default_factory=lambda: dict(DEFAULT_CAMERAS))

    @model_validator(mode="after")
    def _cameras_valid(self) -> Self:
        for name in self.cameras:
            self.for_camera(name)  # raises ValueError for an inconsistent override
        return self

    def for_camera(self, camera: str) -> tuple[ExtractionConfig, CleaningConfig]:
        """The extraction and cleaning settings in force for ``camera``."""
        override = self.cameras.get(camera)
        if override is None:
            return self.extraction, self.cleaning
        return (
            _merge(self.extraction, override.extraction),
            _merge(self.cleaning, override.cleaning),
        )
