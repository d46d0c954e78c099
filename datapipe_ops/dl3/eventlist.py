"""GADF DL3 HDUs of one observation: EVENTS, GTI, POINTING, and the IRF HDUs that go with them.

Times are seconds since ``MJDREF`` = 2001-01-01 00:00:00 TT (``MJDREFI`` 51910, ``MJDREFF``
0, ``TIMESYS`` TT, ``TIMEREF`` TOPOCENTER); directions are ICRS, converted from the
reconstructed alt/az at each event's time and the site's location with astropy.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
from astropy import units as u
from astropy.coordinates import CIRS, ICRS, AltAz, EarthLocation, SkyCoord
from astropy.io import fits
from astropy.table import QTable
from astropy.time import Time

from datapipe_ops.errors import InputFileError
from datapipe_ops.instrument.frames import offline_earth_orientation
from datapipe_ops.io import layout, read_table
from datapipe_ops.irf.products import creator
from datapipe_ops.irf.response import DL3_COMPONENTS, hdu_name

MJDREF = Time(51910, 0.0, format="mjd", scale="tt")
GADF = {
    "HDUCLASS": "GADF",
    "HDUDOC": "https://github.com/open-gamma-ray-astro/gamma-astro-data-formats",
    "HDUVERS": "0.3",
}
#: gammapy HDU_TYPE → HDU_CLASS of the IRF HDUs DataPipe writes
IRF_CLASSES = {
    "aeff": "aeff_2d",
    "edisp": "edisp_2d",
    "psf": "psf_table",
    "bkg": "bkg_2d",
    "rad_max": "rad_max_2d",
}
#: DL3 EXTNAMEs of the IRF HDUs (gammapy's usual names)
DL3_NAMES = {
    "aeff": "EFFECTIVE AREA",
    "edisp": "ENERGY DISPERSION",
    "psf": "PSF",
    "bkg": "BACKGROUND",
    "rad_max": "RAD_MAX",
}


@dataclass(frozen=True)
class ObservationInfo:
    """What the DL2 product of an observation says about it."""

    obs_id: int
    target: str
    target_ra_deg: float
    target_dec_deg: float
    pointing_ra_deg: float
    pointing_dec_deg: float
    location: EarthLocation
    gti_start: Time
    gti_stop: Time
    wobble_deg: float | None = None


def _row_value(table: QTable, name: str, unit: str | None = None) -> float | str | None:
    if name not in table.colnames:
        return None
    value = table[name][0]
    if unit is not None:
        return float(u.Quantity(value).to_value(unit))
    return value.decode() if isinstance(value, bytes) else value


def observation_info(h5file: h5py.File) -> ObservationInfo:
    """Observation block and good time intervals of an observation's DL2 product."""
    where = h5file.filename
    if layout.OBSERVATION not in h5file:
        raise InputFileError(f"has no observation block {layout.OBSERVATION}", path=where)
    if layout.GTI not in h5file:
        raise InputFileError(f"has no good time intervals {layout.GTI}", path=where)
    block = read_table(h5file, layout.OBSERVATION)
    gti = read_table(h5file, layout.GTI)
    if len(gti) == 0:
        raise InputFileError(f"good time intervals {layout.GTI} are empty", path=where)
    if np.any(gti["stop"] <= gti["start"]):
        raise InputFileError(f"{layout.GTI} has an interval that ends before it starts", path=where)
    needed = (
        "obs_id",
        "pointing_ra",
        "pointing_dec",
        "site_latitude",
        "site_longitude",
        "site_height",
    )
    for name in needed:
        if name not in block.colnames:
            raise InputFileError(f"observation block has no column {name}", path=where)
    location = EarthLocation(
        lon=_row_value(block, "site_longitude", "deg") * u.deg,
        lat=_row_value(block, "site_latitude", "deg") * u.deg,
        height=_row_value(block, "site_height", "m") * u.m,
    )
    return ObservationInfo(
        obs_id=int(block["obs_id"][0]),
        target=str(_row_value(block, "target_name") or "UNKNOWN"),
        target_ra_deg=_row_value(block, "target_ra", "deg") or np.nan,
        target_dec_deg=_row_value(block, "target_dec", "deg") or np.nan,
        pointing_ra_deg=_row_value(block, "pointing_ra", "deg"),
        pointing_dec_deg=_row_value(block, "pointing_dec", "deg"),
        location=location,
        gti_start=gti["start"],
        gti_stop=gti["stop"],
        wobble_deg=_row_value(block, "wobble_offset", "deg"),
    )


def seconds(time: Time) -> np.ndarray:
    """``time`` as seconds since MJDREF (TT)."""
    return (time.tt - MJDREF).to_value(u.s)


def in_gti(time_mjd_tai: np.ndarray, info: ObservationInfo) -> np.ndarray:
    """Events inside one of the good time intervals (start inclusive, stop exclusive)."""
    mask = np.zeros(time_mjd_tai.shape, bool)
    for start, stop in zip(info.gti_start.tai.mjd, info.gti_stop.tai.mjd, strict=True):
        mask |= (time_mjd_tai >= start) & (time_mjd_tai < stop)
    return mask


#: Earth rotation angle rate [rad/s] (IERS: 1.00273781191135448 turns per UT1 day)
EARTH_ROTATION_RAD_S = 2 * np.pi * 1.00273781191135448 / 86400.0
#: events are converted with astropy at the middle of time blocks this long [s]
RADEC_BLOCK_S = 60.0


def radec(alt_deg: np.ndarray, az_deg: np.ndarray, time: Time, location: EarthLocation):
    """ICRS RA, Dec [deg] of alt/az directions seen at ``time`` from ``location``.

    astropy's AltAz → ICRS costs ~0.4 ms per distinct obstime, so events are converted in
    blocks of :data:`RADEC_BLOCK_S` seconds with the block's middle as obstime, then turned by
    the Earth rotation angle over their offset from it about the celestial intermediate pole
    (as astropy sees it at that time). The residual (change of aberration and precession
    within the block) stays below 0.1 arcsec (tests/dl3/test_eventlist.py).
    """
    alt_deg, az_deg = np.atleast_1d(alt_deg), np.atleast_1d(az_deg)
    if alt_deg.size == 0:
        return np.zeros(0), np.zeros(0)
    with offline_earth_orientation():
        return _radec_blocks(alt_deg, az_deg, time, location)


def _radec_blocks(
    alt_deg: np.ndarray, az_deg: np.ndarray, time: Time, location: EarthLocation
) -> tuple[np.ndarray, np.ndarray]:
    mjd = np.atleast_1d(time.tai.mjd)
    seconds_from_start = (mjd - mjd.min()) * 86400.0
    block = np.floor(seconds_from_start / RADEC_BLOCK_S).astype(np.int64)
    ra, dec = np.empty(alt_deg.size), np.empty(alt_deg.size)
    start = Time(mjd.min(), format="mjd", scale="tai")
    for index in np.unique(block):
        members = np.flatnonzero(block == index)
        middle_s = (index + 0.5) * RADEC_BLOCK_S
        obstime = start + middle_s * u.s
        frame = AltAz(obstime=obstime, location=location)
        icrs = SkyCoord(
            alt=alt_deg[members] * u.deg, az=az_deg[members] * u.deg, frame=frame
        ).transform_to(ICRS())
        pole = (
            SkyCoord(CIRS(ra=0 * u.deg, dec=90 * u.deg, obstime=obstime))
            .transform_to(ICRS())
            .cartesian.xyz.value
        )
        vectors = icrs.cartesian.xyz.value
        angle = EARTH_ROTATION_RAD_S * (seconds_from_start[members] - middle_s)
        cos, sin = np.cos(angle), np.sin(angle)
        cross = np.cross(pole, vectors, axis=0)
        dot = pole @ vectors
        rotated = vectors * cos + cross * sin + np.outer(pole, dot) * (1 - cos)
        ra[members] = np.rad2deg(np.arctan2(rotated[1], rotated[0])) % 360.0
        dec[members] = np.rad2deg(np.arcsin(np.clip(rotated[2], -1.0, 1.0)))
    return ra, dec


def common_cards(info: ObservationInfo, config: object) -> dict:
    """Time, place and origin cards of every DL3 HDU."""
    lon, lat, height = info.location.to_geodetic()
    return {
        **GADF,
        "ORIGIN": config.origin,
        "TELESCOP": config.telescope,
        "INSTRUME": config.instrument,
        "CREATOR": creator(),
        "OBS_ID": info.obs_id,
        "MJDREFI": 51910,
        "MJDREFF": 0.0,
        "TIMEUNIT": "s",
        "TIMESYS": "TT",
        "TIMEREF": "TOPOCENTER",
        "GEOLON": float(lon.to_value(u.deg)),
        "GEOLAT": float(lat.to_value(u.deg)),
        "ALTITUDE": float(height.to_value(u.m)),
    }


def events_hdu(
    events: QTable, info: ObservationInfo, cards: dict, config: object
) -> fits.BinTableHDU:
    """The EVENTS HDU of the selected, time-ordered events (columns and GADF header)."""
    times = Time(np.asarray(events["time"]), format="mjd", scale="tai")
    ra, dec = radec(
        events["reco_alt"].to_value(u.deg), events["reco_az"].to_value(u.deg), times, info.location
    )
    table = QTable(
        {
            "EVENT_ID": np.asarray(events["event_id"], np.int64),
            "TIME": seconds(times) * u.s,
            "RA": ra * u.deg,
            "DEC": dec * u.deg,
            "ENERGY": events["reco_energy"].to(u.TeV),
            "GAMMANESS": np.asarray(events["gh_score"], np.float32),
            "EVENT_TYPE": np.asarray(events["event_type"], np.int16),
            "MULTIP": np.asarray(events["multiplicity"], np.int16),
            "ALT": events["reco_alt"].to(u.deg),
            "AZ": events["reco_az"].to(u.deg),
        }
    )
    start, stop = info.gti_start.min(), info.gti_stop.max()
    ontime = float(np.sum((info.gti_stop - info.gti_start).to_value(u.s)))
    pointing = SkyCoord(info.pointing_ra_deg * u.deg, info.pointing_dec_deg * u.deg)
    middle = start + (stop - start) / 2
    with offline_earth_orientation():
        altaz = pointing.transform_to(AltAz(obstime=middle, location=info.location))
    hdu = fits.table_to_hdu(table)
    hdu.name = "EVENTS"
    header = hdu.header
    for key, value in cards.items():
        header[key] = value
    header.update(
        {
            "HDUCLAS1": "EVENTS",
            "TSTART": float(seconds(start)),
            "TSTOP": float(seconds(stop)),
            "ONTIME": ontime,
            "LIVETIME": ontime * config.dead_time_correction,
            "DEADC": config.dead_time_correction,
            "TELAPSE": float((stop - start).to_value(u.s)),
            "DATE-OBS": start.utc.isot,
            "DATE-END": stop.utc.isot,
            "RA_PNT": info.pointing_ra_deg,
            "DEC_PNT": info.pointing_dec_deg,
            "ALT_PNT": float(altaz.alt.deg),
            "AZ_PNT": float(altaz.az.deg),
            "OBS_MODE": "WOBBLE" if info.wobble_deg else "POINTING",
            "OBJECT": info.target,
            "RA_OBJ": info.target_ra_deg,
            "DEC_OBJ": info.target_dec_deg,
            "RADECSYS": "ICRS",
            "EQUINOX": 2000.0,
            "N_TELS": int(np.max(events["multiplicity"])) if len(events) else 0,
        }
    )
    return hdu


def gti_hdu(info: ObservationInfo, cards: dict) -> fits.BinTableHDU:
    """The GTI HDU (START, STOP in seconds since MJDREF)."""
    table = QTable({"START": seconds(info.gti_start) * u.s, "STOP": seconds(info.gti_stop) * u.s})
    hdu = fits.table_to_hdu(table)
    hdu.name = "GTI"
    for key, value in cards.items():
        hdu.header[key] = value
    hdu.header["HDUCLAS1"] = "GTI"
    return hdu


def pointing_hdu(h5file: h5py.File, info: ObservationInfo, cards: dict) -> fits.BinTableHDU:
    """The POINTING HDU: the monitored pointing track (TIME, RA/DEC_PNT, ALT/AZ_PNT)."""
    from datapipe_ops.irf.events import pointing_columns

    track = read_table(h5file, layout.POINTING)
    alt_name, az_name = pointing_columns(h5file)
    alt, az = track[alt_name].to_value(u.deg), track[az_name].to_value(u.deg)
    ra, dec = radec(alt, az, track["time"], info.location)
    table = QTable(
        {
            "TIME": seconds(track["time"]) * u.s,
            "RA_PNT": ra * u.deg,
            "DEC_PNT": dec * u.deg,
            "ALT_PNT": alt * u.deg,
            "AZ_PNT": az * u.deg,
        }
    )
    hdu = fits.table_to_hdu(table)
    hdu.name = "POINTING"
    for key, value in cards.items():
        hdu.header[key] = value
    hdu.header["HDUCLAS1"] = "POINTING"
    return hdu


def irf_hdus(irf_path: Path, flavour: str) -> list[tuple[fits.BinTableHDU, str]]:
    """The IRF HDUs of ``flavour`` from an IRF product, renamed for DL3: (hdu, HDU_TYPE)."""
    out = []
    with fits.open(irf_path) as hdul:
        for hdu_type, component in DL3_COMPONENTS[flavour].items():
            name = hdu_name(component)
            if name not in hdul:
                raise InputFileError(
                    f"IRF product has no {name} HDU ({flavour} IRFs)", path=irf_path
                )
            hdu = hdul[name].copy()
            hdu.name = DL3_NAMES[hdu_type]
            out.append((hdu, hdu_type))
    return out
