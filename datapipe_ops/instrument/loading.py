"""Instrument descriptions built from the YAML files under ``include/instrument/``.

``cameras/<name>.yaml``
    camera recipes (:class:`~datapipe_ops.instrument.schema.CameraRecipe`): the pixel geometry
    is generated from them by :mod:`~datapipe_ops.instrument.lattice`.
``optics.yaml``
    optics name → :class:`~datapipe_ops.instrument.schema.OpticsSpec`.
``sites.yaml``
    site name → geodetic position.
``layouts/<name>.yaml``
    array layouts (:class:`~datapipe_ops.instrument.schema.LayoutSpec`).

Every problem in these files (unknown key, wrong type, unknown camera or optics, inconsistent
pixel count) is a :class:`~datapipe_ops.errors.ConfigError` naming the file and the problem.
Results are cached per file: the descriptions are immutable.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from datapipe_ops.config.loading import load_config
from datapipe_ops.errors import ConfigError
from datapipe_ops.instrument import lattice
from datapipe_ops.instrument.camera import CameraDescription, CameraGeometry, CameraReadout
from datapipe_ops.instrument.optics import OpticsDescription, TelescopeDescription
from datapipe_ops.instrument.pulse import reference_pulse
from datapipe_ops.instrument.schema import (
    CameraRecipe,
    HexCirclePixels,
    HexModulesPixels,
    LayoutSpec,
    OpticsFile,
    SitesFile,
    SquareModulesPixels,
)
from datapipe_ops.instrument.subarray import SubarrayDescription
from datapipe_ops.resources import include_dir


def instrument_dir() -> Path:
    """``include/instrument``: the default instrument descriptions."""
    return include_dir() / "instrument"


def _names(directory: Path) -> list[str]:
    return sorted(p.stem for p in directory.glob("*.yaml")) if directory.is_dir() else []


def _resolve(name_or_path: str | Path, directory: Path, what: str) -> Path:
    """A file given by path, or by name as ``<directory>/<name>.yaml``."""
    text = str(name_or_path)
    if isinstance(name_or_path, Path) or text.endswith((".yaml", ".yml")) or "/" in text:
        path = Path(name_or_path)
        if not path.is_file():
            raise ConfigError(f"{what} file does not exist", path=path)
        return path.resolve()
    path = directory / f"{text}.yaml"
    if not path.is_file():
        known = ", ".join(_names(directory)) or "none"
        raise ConfigError(f"unknown {what} '{text}' (known: {known})", path=directory)
    return path.resolve()


# ---------------------------------------------------------------------------------------------
# cameras


def available_cameras() -> list[str]:
    """Names of the cameras described under ``include/instrument/cameras``."""
    return _names(instrument_dir() / "cameras")


def pixel_positions(recipe: CameraRecipe) -> tuple[np.ndarray, np.ndarray]:
    """Unrotated pixel centres [m] of a camera recipe, in storage order.

    Raises
    ------
    ValueError
        If the recipe's layout cannot produce the pixels it asks for.
    """
    pixels = recipe.pixels
    if isinstance(pixels, HexModulesPixels):
        return lattice.hex_modules(pixels.pitch_m, pixels.module_rings, pixels.drop_corner_modules)
    if isinstance(pixels, HexCirclePixels):
        return lattice.hex_circle(pixels.pitch_m, pixels.n_pixels, pixels.centre)
    if isinstance(pixels, SquareModulesPixels):
        return lattice.square_modules(
            pixels.pitch_m,
            pixels.module_size,
            pixels.module_grid,
            pixels.module_gap_m,
            pixels.drop_corner_modules,
        )
    raise TypeError(f"unsupported pixel layout {type(pixels).__name__}")


def build_camera(recipe: CameraRecipe, source: str | Path = "<recipe>") -> CameraDescription:
    """Generate the camera (geometry with neighbours, readout with pulse) from its recipe.

    Raises
    ------
    ConfigError
        If the generated pixel count differs from the recipe's ``n_pixels``, or the layout
        parameters are inconsistent; the message names ``source``.
    """
    pixels = recipe.pixels
    try:
        x, y = pixel_positions(recipe)
    except ValueError as exc:
        raise ConfigError(f"key 'pixels': {exc}", path=source) from None
    if len(x) != pixels.n_pixels:
        raise ConfigError(
            f"key 'pixels.n_pixels': the layout gives {len(x)} pixels, not {pixels.n_pixels}",
            path=source,
        )
    x, y = lattice.rotate(x, y, recipe.rotation_deg)
    hexagonal = pixels.layout.startswith("hex")
    area = (np.sqrt(3.0) / 2.0 if hexagonal else 1.0) * pixels.pitch_m**2
    geometry = CameraGeometry(
        name=recipe.name,
        pix_id=np.arange(len(x), dtype=np.int32),
        pix_x=x,
        pix_y=y,
        pix_area=np.full(len(x), area),
        pix_type="hexagon" if hexagonal else "square",
        pix_rotation_deg=recipe.rotation_deg,
        cam_rotation_deg=0.0,
    )
    pulse = recipe.pulse
    try:
        shape = reference_pulse(pulse.shape, pulse.fwhm_ns, pulse.sample_width_ns, pulse.skew)
    except ValueError as exc:
        raise ConfigError(f"key 'pulse': {exc}", path=source) from None
    readout = CameraReadout(
        name=recipe.name,
        sampling_rate_ghz=recipe.readout.sampling_rate_ghz,
        n_samples=recipe.readout.n_samples,
        n_channels=recipe.readout.n_channels,
        reference_pulse_shape=shape[np.newaxis, :],
        reference_pulse_sample_width_ns=pulse.sample_width_ns,
        pulse_fwhm_ns=pulse.fwhm_ns,
    )
    return CameraDescription(recipe.name, geometry, readout)


@lru_cache(maxsize=64)
def _camera_from_file(path: Path) -> CameraDescription:
    recipe = load_config(path, CameraRecipe)
    if recipe.name != path.stem:
        raise ConfigError(
            f"key 'name': camera '{recipe.name}' must be described in {recipe.name}.yaml",
            path=path,
        )
    return build_camera(recipe, path)


def load_camera(name_or_path: str | Path) -> CameraDescription:
    """The camera ``name`` from ``include/instrument/cameras/<name>.yaml`` (or a recipe file).

    Raises
    ------
    ConfigError
        If the camera is unknown or its recipe is invalid.
    """
    return _camera_from_file(_resolve(name_or_path, instrument_dir() / "cameras", "camera"))


# ---------------------------------------------------------------------------------------------
# optics and sites


@lru_cache(maxsize=8)
def _optics_file(path: Path) -> dict[str, OpticsDescription]:
    specs = load_config(path, OpticsFile).root
    return {
        name: OpticsDescription(
            name=name,
            focal_length_m=spec.focal_length_m,
            effective_focal_length_m=spec.effective_focal_length_m,
            mirror_area_m2=spec.mirror_area_m2,
            n_mirrors=spec.n_mirrors,
            psf_sigma_deg=spec.psf_sigma_deg,
        )
        for name, spec in specs.items()
    }


def load_optics(name: str) -> OpticsDescription:
    """The optics ``name`` from ``include/instrument/optics.yaml``.

    Raises
    ------
    ConfigError
        If the optics are unknown or the file is invalid.
    """
    path = (instrument_dir() / "optics.yaml").resolve()
    optics = _optics_file(path)
    if name not in optics:
        raise ConfigError(f"unknown optics '{name}' (known: {', '.join(optics)})", path=path)
    return optics[name]


@dataclass(frozen=True)
class Site:
    """Geodetic position of an array site (WGS84)."""

    name: str
    latitude_deg: float
    longitude_deg: float
    height_m: float
    description: str = ""


@lru_cache(maxsize=8)
def _sites_file(path: Path) -> dict[str, Site]:
    specs = load_config(path, SitesFile).root
    return {
        name: Site(name, s.latitude_deg, s.longitude_deg, s.height_m, s.description)
        for name, s in specs.items()
    }


def available_sites() -> list[str]:
    """Names of the sites in ``include/instrument/sites.yaml``."""
    return list(_sites_file((instrument_dir() / "sites.yaml").resolve()))


def load_site(name: str) -> Site:
    """The site ``name`` (e.g. ``"CTAO-North"``) from ``include/instrument/sites.yaml``.

    Raises
    ------
    ConfigError
        If the site is unknown or the file is invalid.
    """
    path = (instrument_dir() / "sites.yaml").resolve()
    sites = _sites_file(path)
    if name not in sites:
        raise ConfigError(f"unknown site '{name}' (known: {', '.join(sites)})", path=path)
    return sites[name]


# ---------------------------------------------------------------------------------------------
# layouts


def available_layouts() -> list[str]:
    """Names of the layouts under ``include/instrument/layouts``."""
    return _names(instrument_dir() / "layouts")


@lru_cache(maxsize=16)
def _subarray_from_file(path: Path) -> SubarrayDescription:
    spec = load_config(path, LayoutSpec)
    try:
        load_site(spec.site)
    except ConfigError as exc:
        if not exc.problem.startswith("unknown site"):
            raise
        raise ConfigError(f"key 'site': {exc.problem}", path=path) from None
    models: dict[str, TelescopeDescription] = {}
    cameras = available_cameras()
    for key, model in spec.telescope_types.items():
        if model.camera not in cameras:
            raise ConfigError(
                f"key 'telescope_types.{key}.camera': unknown camera '{model.camera}' "
                f"(known: {', '.join(cameras)})",
                path=path,
            )
        try:
            optics = load_optics(model.optics)
        except ConfigError as exc:
            if not exc.problem.startswith("unknown optics"):
                raise
            raise ConfigError(
                f"key 'telescope_types.{key}.optics': {exc.problem}", path=path
            ) from None
        models[key] = TelescopeDescription.build(model.type, optics, load_camera(model.camera))
    seen: set[int] = set()
    for index, entry in enumerate(spec.telescopes):
        if entry.type not in models:
            raise ConfigError(
                f"key 'telescopes.{index}.type': '{entry.type}' is not one of the "
                f"telescope_types ({', '.join(models)})",
                path=path,
            )
        if entry.tel_id in seen:
            raise ConfigError(
                f"key 'telescopes.{index}.tel_id': telescope {entry.tel_id} appears twice",
                path=path,
            )
        seen.add(entry.tel_id)
    return SubarrayDescription(
        name=spec.name,
        tel_ids=np.array([t.tel_id for t in spec.telescopes], dtype=np.int32),
        positions=np.array([(t.x, t.y, t.z) for t in spec.telescopes], dtype=np.float64),
        telescopes={t.tel_id: models[t.type] for t in spec.telescopes},
        site=spec.site,
    )


def load_subarray(name_or_path: str | Path) -> SubarrayDescription:
    """The layout ``name`` from ``include/instrument/layouts/<name>.yaml`` (or a layout file).

    Raises
    ------
    ConfigError
        If the layout is unknown or invalid, or names an unknown camera, optics or site.
    """
    return _subarray_from_file(_resolve(name_or_path, instrument_dir() / "layouts", "layout"))
