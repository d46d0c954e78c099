"""The YAML files under ``include/instrument/`` as pydantic models.

Unknown keys and values of the wrong type are errors (strict mode: a quoted ``"28"`` is not a
number), reported by :func:`datapipe_ops.config.loading.validate_config` as a
:class:`~datapipe_ops.errors.ConfigError` naming the file and the key.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel

PositiveFloat = Annotated[float, Field(gt=0)]
PositiveInt = Annotated[int, Field(gt=0)]


class StrictModel(BaseModel):
    """Unknown keys forbidden, no type coercion, immutable."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class HexModulesPixels(StrictModel):
    """Hexagonal pixels in 7-pixel flower modules filling a hexagon (LSTCam, NectarCAM)."""

    layout: Literal["hex_modules"]
    n_pixels: PositiveInt
    pitch_m: PositiveFloat
    module_rings: PositiveInt
    drop_corner_modules: bool = False


class HexCirclePixels(StrictModel):
    """The ``n_pixels`` hexagonal pixels nearest the camera centre (FlashCam)."""

    layout: Literal["hex_circle"]
    n_pixels: PositiveInt
    pitch_m: PositiveFloat
    centre: Literal["pixel", "vertex"] = "pixel"


class SquareModulesPixels(StrictModel):
    """Square pixels in square modules on a square grid with gaps (CHEC)."""

    layout: Literal["square_modules"]
    n_pixels: PositiveInt
    pitch_m: PositiveFloat
    module_size: PositiveInt
    module_grid: PositiveInt
    module_gap_m: Annotated[float, Field(ge=0)] = 0.0
    drop_corner_modules: bool = False


class ReadoutSpec(StrictModel):
    """Digitiser of a camera."""

    sampling_rate_ghz: PositiveFloat
    n_samples: PositiveInt
    n_channels: Literal[1] = 1


class PulseSpec(StrictModel):
    """Reference single-photoelectron pulse."""

    shape: Literal["gaussian", "lognormal"]
    fwhm_ns: PositiveFloat
    skew: Annotated[float, Field(ge=0)] = 0.0
    sample_width_ns: PositiveFloat = 0.1


class CameraRecipe(StrictModel):
    """``include/instrument/cameras/<name>.yaml``: what the camera geometry is generated from."""

    name: str
    description: str = ""
    rotation_deg: float = 0.0
    pixels: Annotated[
        HexModulesPixels | HexCirclePixels | SquareModulesPixels, Field(discriminator="layout")
    ]
    readout: ReadoutSpec
    pulse: PulseSpec


class OpticsSpec(StrictModel):
    """One entry of ``include/instrument/optics.yaml``."""

    description: str = ""
    focal_length_m: PositiveFloat
    effective_focal_length_m: PositiveFloat
    mirror_area_m2: PositiveFloat
    n_mirrors: Literal[1, 2]
    psf_sigma_deg: PositiveFloat


class OpticsFile(RootModel[dict[str, OpticsSpec]]):
    """``include/instrument/optics.yaml``: optics name → parameters."""


class SiteSpec(StrictModel):
    """One entry of ``include/instrument/sites.yaml``."""

    description: str = ""
    latitude_deg: Annotated[float, Field(ge=-90, le=90)]
    longitude_deg: Annotated[float, Field(ge=-180, le=180)]
    height_m: float


class SitesFile(RootModel[dict[str, SiteSpec]]):
    """``include/instrument/sites.yaml``: site name → geodetic position."""


class TelescopeTypeSpec(StrictModel):
    """A telescope model used in a layout: size class, optics name, camera name."""

    type: Literal["LST", "MST", "SST"]
    optics: str
    camera: str


class TelescopeEntry(StrictModel):
    """One telescope of a layout: id, model (a key of ``telescope_types``), position [m]."""

    tel_id: PositiveInt
    type: str
    x: float
    y: float
    z: float = 0.0


class LayoutSpec(StrictModel):
    """``include/instrument/layouts/<name>.yaml``: an array layout on a site."""

    name: str
    site: str
    description: str = ""
    telescope_types: dict[str, TelescopeTypeSpec]
    telescopes: list[TelescopeEntry] = Field(min_length=1)
