"""Configuration of ``datapipe quality``: how the metrics are measured and their thresholds.

Every threshold turns a metric into a flag: ``good`` inside the warning limit, ``warning``
past it, ``bad`` past the bad limit. A metric without a threshold is recorded but not judged.
"""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import Field, field_validator, model_validator

from datapipe_ops.config import StageConfig


class Threshold(StageConfig):
    """The limits of one metric. ``direction: above``: larger values are worse (a fraction of
    dead pixels); ``below``: smaller values are worse (a fraction of valid reconstructions)."""

    warn: float | None = Field(None, description="past this value the metric is a warning")
    bad: float | None = Field(None, description="past this value the metric is bad")
    direction: Literal["above", "below"] = "above"

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.warn is not None and self.bad is not None:
            worse = self.bad >= self.warn if self.direction == "above" else self.bad <= self.warn
            if not worse:
                raise ValueError(
                    f"bad ({self.bad}) must lie past warn ({self.warn}) for direction "
                    f"{self.direction!r}"
                )
        return self


def _above(warn: float, bad: float) -> Threshold:
    return Threshold(warn=warn, bad=bad, direction="above")


def _below(warn: float, bad: float) -> Threshold:
    return Threshold(warn=warn, bad=bad, direction="below")


def default_thresholds() -> dict[str, Threshold]:
    """The built-in thresholds (those of ``include/config/quality/default.yaml``)."""
    return {
        "pedestal_drift": _above(2.0, 5.0),
        "noise_variability": _above(0.10, 0.25),
        "pedestal_offset_deviation": _above(1.0, 3.0),
        "calibration_outlier_fraction": _above(0.02, 0.10),
        "dead_pixel_fraction": _above(0.02, 0.10),
        "hot_pixel_fraction": _above(0.01, 0.05),
        "trigger_rate_variability": _above(0.10, 0.25),
        "valid_image_fraction": _below(0.30, 0.10),
        "intensity_variability": _above(0.15, 0.40),
        "cosmic_rate_variability": _above(0.10, 0.25),
        "valid_reconstruction_fraction": _below(0.40, 0.20),
        "reconstructed_rate_variability": _above(0.10, 0.25),
        "event_rate_variability": _above(0.10, 0.25),
        "excess_rate_variability": _above(0.30, 0.60),
    }


class QualityConfig(StageConfig):
    """What ``datapipe quality`` measures and how its metrics are judged."""

    time_bins: int = Field(
        10, ge=2, description="rates and means over time: this many equal bins over the span"
    )
    min_counts_per_bin: int = Field(
        20, ge=1, description="fewer bins when the product has too few events for time_bins"
    )
    chunk_size: int = Field(
        500, ge=1, description="telescope events (DL0 waveforms) or rows read per chunk"
    )
    pedestal_samples: int = Field(
        8, ge=2, description="DL0: the first samples of each waveform, taken as pedestal"
    )
    dead_noise_ratio: float = Field(
        0.2,
        gt=0,
        lt=1,
        description="DL0: a pixel whose noise is below this x camera median is dead",
    )
    hot_noise_ratio: float = Field(
        3.0, gt=1, description="DL0: a pixel whose noise is above this x camera median is hot"
    )
    cosmic_min_intensity: float = Field(
        50.0, ge=0, description="DL1: images brighter than this (p.e.) count as cosmic rays"
    )
    on_radius_deg: float = Field(
        0.2, gt=0, description="DL3: radius of the on region around the target (and the off one)"
    )
    thresholds: dict[str, Threshold] = Field(default_factory=default_thresholds)

    @field_validator("thresholds", mode="before")
    @classmethod
    def _over_defaults(cls, value: Any) -> Any:
        """A file's thresholds replace the defaults of the metrics it names, one by one; a
        metric set to ``null`` is no longer judged."""
        if not isinstance(value, dict):
            return value
        merged: dict[str, Any] = dict(default_thresholds())
        for name, threshold in value.items():
            if threshold is None:
                merged.pop(name, None)
            else:
                merged[name] = threshold
        return merged

    def threshold(self, name: str) -> Threshold | None:
        """The threshold of metric ``name`` (per-telescope names ``<metric>.tel_NNN`` use their
        metric's), or None when it is not judged."""
        return self.thresholds.get(name.split(".", 1)[0])
