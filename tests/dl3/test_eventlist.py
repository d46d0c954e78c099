"""The event-list pieces: RA/Dec from alt/az and time, GTI selection, time reference."""

from __future__ import annotations

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import ICRS, AltAz, EarthLocation, SkyCoord
from astropy.time import Time

from datapipe_ops.dl3.eventlist import MJDREF, radec, seconds

pytestmark = pytest.mark.requirement("DPPS-DP-R-120")


def test_radec_agrees_with_astropy_event_by_event():
    rng = np.random.default_rng(7)
    n = 3000
    location = EarthLocation(lon=-17.89 * u.deg, lat=28.76 * u.deg, height=2200 * u.m)
    times = Time("2026-01-15T23:00:00", scale="utc") + np.sort(rng.uniform(0, 1500, n)) * u.s
    alt, az = rng.uniform(25, 88, n), rng.uniform(0, 360, n)
    reference = SkyCoord(
        alt=alt * u.deg, az=az * u.deg, frame=AltAz(obstime=times, location=location)
    ).transform_to(ICRS())
    ra, dec = radec(alt, az, times, location)
    separation = reference.separation(SkyCoord(ra * u.deg, dec * u.deg)).to_value(u.arcsec)
    assert separation.max() < 0.1


def test_time_reference_is_2001_tt():
    assert MJDREF.mjd == 51910.0 and MJDREF.scale == "tt"
    assert seconds(Time("2001-01-01T00:01:00", scale="tt")) == pytest.approx(60.0, abs=1e-6)
