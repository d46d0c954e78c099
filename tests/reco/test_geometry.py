"""Stereo geometry: truth recovery on simulated gammas, agreement with ctapipe, quality query."""

from __future__ import annotations

import numpy as np
import pytest

from datapipe_ops.instrument.frames import horizontal_to_telescope
from datapipe_ops.io import open_product
from datapipe_ops.reco.config import GeometryConfig, QualityQuery
from datapipe_ops.reco.events import EventReader
from datapipe_ops.reco.geometry import ArrayGeometry, quality_mask, reconstruct, reconstruct_chunk

pytestmark = pytest.mark.requirement("DPPS-DP-R-050")


def _geometry(path, config=None):
    with open_product(path) as h5:
        reader = EventReader(h5, chunk_size=100000)
        (chunk,) = list(reader)
        array = ArrayGeometry.from_subarray(reader.subarray)
        pixel = min(
            float(np.sqrt(t.camera.geometry.pix_area.min())) / t.optics.effective_focal_length_m
            for t in reader.subarray.telescopes.values()
        )
    return chunk, reconstruct_chunk(chunk, array, config or GeometryConfig()), np.rad2deg(pixel)


def _separation(alt1, az1, alt2, az2):
    lon, lat = horizontal_to_telescope(alt1, az1, alt2, az2)
    return np.hypot(lon, lat)


def test_recovers_the_true_direction_and_core(dl1_runs):
    chunk, result, pixel_deg = _geometry(dl1_runs[0]["dl1"])
    valid = result.is_valid
    assert valid.sum() >= 50
    error = _separation(
        result.columns["alt"][valid],
        result.columns["az"][valid],
        chunk.truth["true_alt"][valid],
        chunk.truth["true_az"][valid],
    )
    multiplicity = result.telescopes[valid].sum(axis=1)
    high = multiplicity >= 3
    assert high.sum() >= 20
    # well below a pixel at high multiplicity, below one pixel overall
    assert np.median(error[high]) < 0.75 * pixel_deg, (np.median(error[high]), pixel_deg)
    assert np.median(error) < pixel_deg
    core = np.hypot(
        result.columns["core_x"][valid] - chunk.truth["true_core_x"][valid],
        result.columns["core_y"][valid] - chunk.truth["true_core_y"][valid],
    )
    assert np.median(core[high]) < 30.0
    # standard errors are defined from three telescopes on and NaN for two (core)
    assert np.all(np.isnan(result.columns["core_uncert_x"][valid][multiplicity == 2]))
    assert np.all(result.columns["core_uncert_x"][valid][high] >= 0)
    assert np.all(np.isfinite(result.columns["h_max_uncert"][valid]))
    # h_max above sea level, between the site and the stratosphere
    h_max = result.columns["h_max"][valid][high]
    assert 2200 < np.median(h_max) < 20000
    # impact distances: every telescope, for valid events only
    assert np.all(np.isfinite(result.impact_distance[valid]))
    assert np.all(np.isnan(result.impact_distance[~valid]))


@pytest.mark.parametrize(
    "query",
    [
        QualityQuery(),
        QualityQuery(min_intensity=100.0, min_n_pixels=5, max_leakage_intensity_width_2=0.2),
    ],
    ids=["ctapipe-default", "tighter-with-leakage"],
)
def test_agrees_with_ctapipe_hillas_reconstructor(dl1_runs, ctapipe_reference, query):
    path = dl1_runs[0]["dl1"]
    chunk, result, _ = _geometry(path, GeometryConfig(quality=query))
    reference = ctapipe_reference.reference_geometry(path, query)
    assert np.array_equal(reference.event_id, chunk.event_id)
    assert np.array_equal(result.is_valid, reference.is_valid)
    assert np.array_equal(result.telescopes, reference.telescopes)
    valid = reference.is_valid
    assert valid.sum() >= 30
    columns = result.columns
    separation = _separation(
        columns["alt"][valid], columns["az"][valid], reference.alt[valid], reference.az[valid]
    )
    assert separation.max() < 1e-4
    assert np.allclose(columns["alt_uncert"][valid], reference.alt_uncert[valid], atol=1e-5)
    for name in ("core_x", "core_y", "h_max"):
        assert np.allclose(columns[name][valid], getattr(reference, name)[valid], atol=1e-3, rtol=0)
    assert np.allclose(
        columns["average_intensity"][valid], reference.average_intensity[valid], rtol=1e-12
    )
    seen = np.isfinite(reference.impact_distance)
    assert np.allclose(result.impact_distance[seen], reference.impact_distance[seen], atol=1e-3)


def test_quality_mask_conditions():
    has = np.array([[True, True, True, True, False]])
    intensity = np.array([[60.0, 40.0, 60.0, np.nan, 100.0]])
    width = np.array([[0.1, 0.1, 0.0, 0.1, 0.1]])
    n_pixels = np.array([[4, 10, 10, 10, 10]])
    leakage = np.array([[0.5, 0.0, 0.0, 0.0, 0.0]])
    mask = quality_mask(has, intensity, width, n_pixels, leakage, QualityQuery())
    assert mask.tolist() == [[True, False, False, False, False]]
    strict = QualityQuery(max_leakage_intensity_width_2=0.2, min_n_pixels=4)
    assert not quality_mask(has, intensity, width, n_pixels, leakage, strict).any()


def test_events_with_fewer_than_min_telescopes_are_invalid(dl1_runs):
    _, two, _ = _geometry(dl1_runs[0]["dl1"])
    _, three, _ = _geometry(dl1_runs[0]["dl1"], GeometryConfig(min_telescopes=3))
    multiplicity = two.telescopes.sum(axis=1)
    assert np.array_equal(three.is_valid, two.is_valid & (multiplicity >= 3))
    same = three.is_valid
    assert np.array_equal(three.columns["alt"][same], two.columns["alt"][same])


def _two_telescopes() -> ArrayGeometry:
    return ArrayGeometry(
        tel_ids=np.array([1, 2]),
        positions=np.array([[0.0, 0.0, 0.0], [100.0, 0.0, 0.0]]),
        camera_radius=np.array([2.0, 2.0]),
        site_height=0.0,
    )


def test_parallel_axes_give_an_invalid_event():
    """Two images on the same great circle: no crossing, no direction (ctapipe: NaN)."""
    array = _two_telescopes()
    ones = np.ones((1, 2))
    used = np.ones((1, 2), bool)
    result = reconstruct(
        *(0.5 * ones, 0.0 * ones, 0.0 * ones, 100 * ones, 0.2 * ones, 0.05 * ones),
        used,
        np.array([70.0]),
        np.array([0.0]),
        array,
    )
    assert not result.is_valid[0]
    assert not result.telescopes.any()
    assert np.isnan(result.columns["alt"][0])
