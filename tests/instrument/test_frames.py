"""Frame conversions: exact round trips and agreement with ctapipe's frames."""

import warnings

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import AltAz, SkyCoord
from astropy.time import Time

from datapipe_ops.instrument import frames

RNG = np.random.default_rng(20261125)
N = 200
X = RNG.uniform(-1.2, 1.2, N)  # m, a camera of LST size
Y = RNG.uniform(-1.2, 1.2, N)
# pointings: (alt, az) deg, including near zenith and across the az = 0/360 seam
POINTINGS = [(70.0, 0.0), (45.0, 180.0), (89.5, 123.0), (30.0, 359.9), (60.0, 271.3)]


@pytest.mark.parametrize("rotation", [0.0, 12.5, -100.893])
def test_camera_telescope_round_trip(rotation):
    lon, lat = frames.camera_to_telescope(X, Y, 28.0, rotation)
    x, y = frames.telescope_to_camera(lon, lat, 28.0, rotation)
    np.testing.assert_allclose(x, X, atol=1e-12)
    np.testing.assert_allclose(y, Y, atol=1e-12)


def test_camera_axes_map_to_lat_and_lon():
    # camera x follows altitude (fov_lat), camera y follows azimuth (fov_lon)
    lon, lat = frames.camera_to_telescope(np.array([0.1, 0.0]), np.array([0.0, 0.1]), 10.0)
    np.testing.assert_allclose(lat, [np.rad2deg(0.01), 0.0], atol=1e-15)
    np.testing.assert_allclose(lon, [0.0, np.rad2deg(0.01)], atol=1e-15)


@pytest.mark.parametrize(("p_alt", "p_az"), POINTINGS)
def test_telescope_horizontal_round_trip(p_alt, p_az):
    lon = RNG.uniform(-5, 5, N)
    lat = RNG.uniform(-5, 5, N)
    alt, az = frames.telescope_to_horizontal(lon, lat, p_alt, p_az)
    assert np.all((az >= 0) & (az < 360))
    lon2, lat2 = frames.horizontal_to_telescope(alt, az, p_alt, p_az)
    np.testing.assert_allclose(lon2, lon, atol=1e-9)
    np.testing.assert_allclose(lat2, lat, atol=1e-9)
    # and the other way round, from the horizontal frame
    x, y = frames.horizontal_to_camera(alt, az, 16.0, p_alt, p_az, 7.0)
    alt2, az2 = frames.camera_to_horizontal(x, y, 16.0, p_alt, p_az, 7.0)
    np.testing.assert_allclose(alt2, alt, atol=1e-9)
    np.testing.assert_allclose(((az2 - az + 180) % 360) - 180, 0.0, atol=1e-9)


def test_pointing_direction_is_the_origin():
    lon, lat = frames.horizontal_to_telescope(65.0, 33.0, 65.0, 33.0)
    assert abs(lon) < 1e-12 and abs(lat) < 1e-12
    # one degree up is fov_lat = +1, one degree of azimuth at alt 0 is fov_lon = +1
    lon, lat = frames.horizontal_to_telescope(66.0, 33.0, 65.0, 33.0)
    assert lat == pytest.approx(1.0, abs=1e-12) and abs(lon) < 1e-12
    lon, lat = frames.horizontal_to_telescope(0.0, 34.0, 0.0, 33.0)
    assert lon == pytest.approx(1.0, abs=1e-12) and abs(lat) < 1e-12


@pytest.mark.parametrize(("p_alt", "p_az"), POINTINGS)
@pytest.mark.parametrize("rotation", [0.0, 10.893])
@pytest.mark.requirement("DPPS-DP-R-034")
def test_agrees_with_ctapipe_frames(p_alt, p_az, rotation):
    from ctapipe.coordinates import CameraFrame, TelescopeFrame

    pointing = SkyCoord(alt=p_alt * u.deg, az=p_az * u.deg, frame=AltAz())
    camera_frame = CameraFrame(
        focal_length=28.0 * u.m, rotation=rotation * u.deg, telescope_pointing=pointing
    )
    points = SkyCoord(x=X[:20] * u.m, y=Y[:20] * u.m, frame=camera_frame)
    in_telescope = points.transform_to(TelescopeFrame(telescope_pointing=pointing))
    in_horizontal = in_telescope.transform_to(AltAz())

    lon, lat = frames.camera_to_telescope(X[:20], Y[:20], 28.0, rotation)
    np.testing.assert_allclose(lon, in_telescope.fov_lon.to_value(u.deg), atol=1e-10)
    np.testing.assert_allclose(lat, in_telescope.fov_lat.to_value(u.deg), atol=1e-10)

    alt, az = frames.camera_to_horizontal(X[:20], Y[:20], 28.0, p_alt, p_az, rotation)
    np.testing.assert_allclose(alt, in_horizontal.alt.to_value(u.deg), atol=1e-9)
    d_az = (az - in_horizontal.az.to_value(u.deg) + 180) % 360 - 180
    np.testing.assert_allclose(d_az, 0.0, atol=1e-9)

    # and back: ctapipe's AltAz -> CameraFrame
    back = in_horizontal.transform_to(camera_frame)
    x, y = frames.horizontal_to_camera(alt, az, 28.0, p_alt, p_az, rotation)
    np.testing.assert_allclose(x, back.x.to_value(u.m), atol=1e-10)
    np.testing.assert_allclose(y, back.y.to_value(u.m), atol=1e-10)


def test_sites():
    north = frames.site_location("CTAO-North")
    assert north.lat.to_value(u.deg) == pytest.approx(28.762164)
    assert north.height.to_value(u.m) == pytest.approx(2147.0)
    south = frames.site_location("CTAO-South")
    assert south.lon.to_value(u.deg) == pytest.approx(-70.316344)


@pytest.mark.parametrize("obstime", ["2024-03-01T23:00:00", "2031-06-01T02:00:00"])
def test_icrs_round_trip_and_astropy_agreement(obstime):
    alt = RNG.uniform(20, 89, 20)
    az = RNG.uniform(0, 360, 20)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no download attempt, no degraded-accuracy warning
        warnings.filterwarnings("ignore", message=".*dubious year")  # ERFA: future leap seconds
        ra, dec = frames.horizontal_to_icrs(alt, az, obstime, "CTAO-North")
        alt2, az2 = frames.icrs_to_horizontal(ra, dec, obstime, "CTAO-North")
    np.testing.assert_allclose(alt2, alt, atol=1e-8)
    np.testing.assert_allclose((az2 - az + 180) % 360 - 180, 0.0, atol=1e-8)
    # the same as astropy itself for a time within its Earth-orientation tables
    if obstime.startswith("2024"):
        frame = AltAz(obstime=Time(obstime), location=frames.site_location("CTAO-North"))
        icrs = SkyCoord(alt=alt * u.deg, az=az * u.deg, frame=frame).icrs
        np.testing.assert_allclose(ra, icrs.ra.to_value(u.deg), atol=1e-9)
        np.testing.assert_allclose(dec, icrs.dec.to_value(u.deg), atol=1e-9)


def test_crab_culminates_high_at_la_palma():
    # the Crab (ra 83.633, dec 22.0145) transits ~83 deg high at La Palma (lat 28.76 N):
    # local sidereal time = ra at transit; 2024-12-15 ~ 01:20 UTC is close to the transit
    alt, az = frames.icrs_to_horizontal(83.633, 22.0145, "2024-12-15T01:20:00", "CTAO-North")
    assert 80.0 < float(alt) < 84.0
    assert 150.0 < float(az) < 210.0  # dec < latitude: the transit is south of the zenith
