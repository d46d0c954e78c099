"""Coordinate conversions on plain numpy arrays (degrees and metres), with ctapipe's conventions.

camera frame ↔ telescope frame
    ctapipe's ``CameraFrame`` → ``TelescopeFrame``: the camera coordinates are first turned by
    the camera ``rotation``, ``x' = x cos r - y sin r``, ``y' = x sin r + y cos r``; then
    ``fov_lat = x' / f`` and ``fov_lon = y' / f`` (radians; the equidistant mapping ctapipe uses).
    Camera x therefore follows altitude and camera y follows azimuth.
telescope frame ↔ horizontal
    ctapipe's ``TelescopeFrame`` is astropy's sky-offset frame of ``AltAz`` centred on the
    pointing: the exact spherical rotation taking the pointing direction to
    ``(fov_lon, fov_lat) = (0, 0)``; ``fov_lon`` grows with azimuth, ``fov_lat`` with altitude.
horizontal ↔ ICRS
    astropy, at the edge: the site's :class:`~astropy.coordinates.EarthLocation` from
    ``include/instrument/sites.yaml`` and an observation time. No refraction (pressure 0, as
    ctapipe). Earth-orientation data are those bundled with astropy, never downloaded, so the
    results are reproducible and stages run offline; beyond the bundled table's range astropy
    extrapolates (errors of order an arcsecond, far below the telescopes' resolution).

All functions are vectorised over numpy arrays (or scalars) and broadcast their inputs. The
plain-array conversions need numpy only: astropy's coordinates (a large import) are imported by
the functions at the astropy edge when they are first called.
"""

from __future__ import annotations

import warnings
from contextlib import ExitStack
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from astropy.coordinates import AltAz, EarthLocation
    from astropy.time import Time

ArrayLike = float | np.ndarray


def camera_to_telescope(
    x: ArrayLike, y: ArrayLike, focal_length_m: ArrayLike, rotation_deg: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Camera frame ``(x, y)`` [m] → telescope frame ``(fov_lon, fov_lat)`` [deg]."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if rotation_deg != 0.0:
        c, s = np.cos(np.deg2rad(rotation_deg)), np.sin(np.deg2rad(rotation_deg))
        x, y = x * c - y * s, x * s + y * c
    return np.rad2deg(y / focal_length_m), np.rad2deg(x / focal_length_m)


def telescope_to_camera(
    fov_lon: ArrayLike, fov_lat: ArrayLike, focal_length_m: ArrayLike, rotation_deg: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Telescope frame ``(fov_lon, fov_lat)`` [deg] → camera frame ``(x, y)`` [m]."""
    x = np.deg2rad(np.asarray(fov_lat, dtype=np.float64)) * focal_length_m
    y = np.deg2rad(np.asarray(fov_lon, dtype=np.float64)) * focal_length_m
    if rotation_deg != 0.0:
        c, s = np.cos(np.deg2rad(rotation_deg)), np.sin(np.deg2rad(rotation_deg))
        x, y = x * c + y * s, -x * s + y * c
    return x, y


def _unit_vector(lon_deg: ArrayLike, lat_deg: ArrayLike) -> tuple[np.ndarray, ...]:
    lon, lat = np.deg2rad(lon_deg), np.deg2rad(lat_deg)
    return np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)


def _lon_lat(
    vx: np.ndarray, vy: np.ndarray, vz: np.ndarray, wrap_deg: float
) -> tuple[np.ndarray, np.ndarray]:
    """Longitude in ``[wrap - 360, wrap)`` and latitude [deg] of a (unit) vector."""
    lon = np.rad2deg(np.arctan2(vy, vx))
    lon = np.mod(lon - (wrap_deg - 360.0), 360.0) + (wrap_deg - 360.0)
    lat = np.rad2deg(np.arctan2(vz, np.hypot(vx, vy)))
    return lon, lat


def horizontal_to_telescope(
    alt: ArrayLike, az: ArrayLike, pointing_alt: ArrayLike, pointing_az: ArrayLike
) -> tuple[np.ndarray, np.ndarray]:
    """Horizontal ``(alt, az)`` [deg] → telescope frame ``(fov_lon, fov_lat)`` [deg].

    ``fov_lon`` is wrapped to ``[-180, 180)``.
    """
    vx, vy, vz = _unit_vector(np.asarray(az, dtype=np.float64) - pointing_az, alt)
    p_alt = np.deg2rad(pointing_alt)
    sin_p, cos_p = np.sin(p_alt), np.cos(p_alt)
    wx = cos_p * vx + sin_p * vz
    wz = -sin_p * vx + cos_p * vz
    return _lon_lat(wx, vy, wz, 180.0)


def telescope_to_horizontal(
    fov_lon: ArrayLike, fov_lat: ArrayLike, pointing_alt: ArrayLike, pointing_az: ArrayLike
) -> tuple[np.ndarray, np.ndarray]:
    """Telescope frame ``(fov_lon, fov_lat)`` [deg] → horizontal ``(alt, az)`` [deg].

    ``az`` is wrapped to ``[0, 360)``.
    """
    wx, wy, wz = _unit_vector(fov_lon, fov_lat)
    p_alt = np.deg2rad(pointing_alt)
    sin_p, cos_p = np.sin(p_alt), np.cos(p_alt)
    vx = cos_p * wx - sin_p * wz
    vz = sin_p * wx + cos_p * wz
    daz, alt = _lon_lat(vx, wy, vz, 360.0)
    return alt, np.mod(daz + pointing_az, 360.0)


def camera_to_horizontal(
    x: ArrayLike,
    y: ArrayLike,
    focal_length_m: ArrayLike,
    pointing_alt: ArrayLike,
    pointing_az: ArrayLike,
    rotation_deg: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Camera frame ``(x, y)`` [m] → horizontal ``(alt, az)`` [deg] for a pointing [deg]."""
    fov_lon, fov_lat = camera_to_telescope(x, y, focal_length_m, rotation_deg)
    return telescope_to_horizontal(fov_lon, fov_lat, pointing_alt, pointing_az)


def horizontal_to_camera(
    alt: ArrayLike,
    az: ArrayLike,
    focal_length_m: ArrayLike,
    pointing_alt: ArrayLike,
    pointing_az: ArrayLike,
    rotation_deg: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Horizontal ``(alt, az)`` [deg] → camera frame ``(x, y)`` [m] for a pointing [deg]."""
    fov_lon, fov_lat = horizontal_to_telescope(alt, az, pointing_alt, pointing_az)
    return telescope_to_camera(fov_lon, fov_lat, focal_length_m, rotation_deg)


# ---------------------------------------------------------------------------------------------
# the edge: astropy for the Earth's orientation


def site_location(site: str) -> EarthLocation:
    """The :class:`~astropy.coordinates.EarthLocation` of a site of ``sites.yaml``."""
    from astropy import units as u
    from astropy.coordinates import EarthLocation

    from datapipe_ops.instrument.loading import load_site

    s = load_site(site)
    return EarthLocation.from_geodetic(
        lon=s.longitude_deg * u.deg, lat=s.latitude_deg * u.deg, height=s.height_m * u.m
    )


def _offline_earth_orientation() -> ExitStack:
    """Use astropy's bundled IERS tables only: no download, extrapolate beyond their range."""
    from astropy.utils import iers

    stack = ExitStack()
    stack.enter_context(warnings.catch_warnings())
    warnings.filterwarnings("ignore", message="Tried to get polar motions for times after IERS")
    stack.enter_context(iers.conf.set_temp("auto_download", False))
    stack.enter_context(iers.conf.set_temp("auto_max_age", None))
    stack.enter_context(iers.conf.set_temp("iers_degraded_accuracy", "ignore"))
    return stack


def offline_earth_orientation() -> ExitStack:
    """Context of astropy's bundled IERS tables only (no download, extrapolated beyond their
    range): for frame transformations of stages that call astropy themselves."""
    return _offline_earth_orientation()


def _altaz_frame(obstime: Time | str, site: str | EarthLocation) -> AltAz:
    from astropy.coordinates import AltAz, EarthLocation
    from astropy.time import Time

    location = site if isinstance(site, EarthLocation) else site_location(site)
    return AltAz(obstime=Time(obstime), location=location)


def horizontal_to_icrs(
    alt: ArrayLike, az: ArrayLike, obstime: Time | str, site: str | EarthLocation
) -> tuple[np.ndarray, np.ndarray]:
    """Horizontal ``(alt, az)`` [deg] → ICRS ``(ra, dec)`` [deg] at ``obstime`` and ``site``."""
    from astropy import units as u
    from astropy.coordinates import SkyCoord

    with _offline_earth_orientation():
        coord = SkyCoord(
            alt=np.asarray(alt) * u.deg,
            az=np.asarray(az) * u.deg,
            frame=_altaz_frame(obstime, site),
        ).icrs
        return coord.ra.to_value(u.deg), coord.dec.to_value(u.deg)


def icrs_to_horizontal(
    ra: ArrayLike, dec: ArrayLike, obstime: Time | str, site: str | EarthLocation
) -> tuple[np.ndarray, np.ndarray]:
    """ICRS ``(ra, dec)`` [deg] → horizontal ``(alt, az)`` [deg] at ``obstime`` and ``site``."""
    from astropy import units as u
    from astropy.coordinates import SkyCoord

    with _offline_earth_orientation():
        coord = SkyCoord(ra=np.asarray(ra) * u.deg, dec=np.asarray(dec) * u.deg, frame="icrs")
        altaz = coord.transform_to(_altaz_frame(obstime, site))
        return altaz.alt.to_value(u.deg), altaz.az.to_value(u.deg)
