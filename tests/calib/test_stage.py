"""The DL0→DL1 stage on a small simulated run: content, reproducibility, ctapipe, the catalog."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from astropy.table import Table

from datapipe_ops.calib.config import DL0ToDL1Config
from datapipe_ops.calib.stage import dl0_to_dl1
from datapipe_ops.io import layout, open_product, read_provenance, read_table
from datapipe_ops.io.instrument import read_subarray

PARAMS = layout.DL1_PARAMETERS
IMAGES = layout.DL1_IMAGES


@pytest.fixture(scope="module")
def dl1(simulated_run, tmp_path_factory):
    """The run processed with images, registered in a fresh SQLite catalog."""
    dl0, coefficients = simulated_run
    out = tmp_path_factory.mktemp("dl1")
    url = f"sqlite:///{out / 'catalog.sqlite'}"
    config = DL0ToDL1Config(write_images=True, chunk_size=16)
    summary = dl0_to_dl1(dl0, out / "run.dl1.h5", coefficients, config, catalog_url=url)
    return summary, url


def tel_ids(path):
    with h5py.File(path) as h5:
        return layout.tel_ids_in(h5, layout.WAVEFORMS if "dl0" in path.name else PARAMS)


@pytest.mark.requirement("DPPS-DP-R-044")
def test_every_telescope_event_is_parameterised(simulated_run, dl1):
    dl0, _ = simulated_run
    summary, _ = dl1
    assert tel_ids(summary.output) == tel_ids(dl0)
    with h5py.File(dl0) as h5:
        for tel_id in tel_ids(dl0):
            index = h5[layout.tel_path(layout.DL0_TEL_INDEX, tel_id)][()]
            table = Table.read(summary.output, path=layout.tel_path(PARAMS, tel_id))
            assert table.colnames[:3] == ["obs_id", "event_id", "tel_id"]
            assert np.array_equal(table["event_id"], index["event_id"])
            assert np.all(table["tel_id"] == tel_id)
            assert summary.telescope_events[tel_id] == len(table)
    assert summary.n_telescope_events == sum(summary.telescope_events.values()) > 20
    assert 0 < summary.n_valid <= summary.n_telescope_events


@pytest.mark.requirement("DPPS-DP-R-006", "DPPS-DP-R-044")
def test_pass_through_and_provenance(simulated_run, dl1):
    dl0, coefficients = simulated_run
    summary, _ = dl1
    with open_product(dl0) as source, open_product(summary.output, level="DL1") as product:
        for path in (
            layout.TRIGGER,
            layout.SHOWER,
            layout.SHOWER_DISTRIBUTION,
            layout.SIMULATION_RUN,
            layout.tel_path(layout.TRUE_IMAGES, 1),
        ):
            assert np.array_equal(source[path][()], product[path][()]), path
        assert read_subarray(product) == read_subarray(source)
        assert product.attrs["obs_id"] == source.attrs["obs_id"]
        assert layout.WAVEFORMS not in product
        provenance = read_provenance(product)
    assert provenance["stage"] == "dl0_to_dl1"
    assert {r["path"] for r in provenance["inputs"]} == {
        str(dl0.absolute()),
        str(coefficients.absolute()),
    }
    assert provenance["config"]["write_images"] is True


@pytest.mark.requirement("DPPS-DP-R-044")
def test_images_and_masks_are_consistent(dl1):
    summary, _ = dl1
    with open_product(summary.output) as h5:
        images = read_table(h5, layout.tel_path(IMAGES, 1))
        params = read_table(h5, layout.tel_path(PARAMS, 1))
    assert images["image"].shape[1] == 1855 and str(images["peak_time"].unit) == "ns"
    n_mask = images["image_mask"].sum(axis=1)
    parameterised = params["morphology_n_pixels"] >= 0
    assert np.array_equal(n_mask[parameterised], params["morphology_n_pixels"][parameterised])
    intensity = (images["image"] * images["image_mask"]).sum(axis=1)
    assert np.allclose(
        intensity[parameterised], params["hillas_intensity"][parameterised], rtol=1e-5
    )


@pytest.mark.requirement("DPPS-DP-R-040")
def test_calibration_recovers_true_charge(dl1):
    """Bright pixels: reconstructed charge over true p.e. ≈ 1 within photo-statistics."""
    summary, _ = dl1
    with open_product(summary.output) as h5:
        pulls, ratios = [], []
        for tel_id in layout.tel_ids_in(h5, IMAGES):
            image = read_table(h5, layout.tel_path(IMAGES, tel_id))["image"]
            true = read_table(h5, layout.tel_path(layout.TRUE_IMAGES, tel_id))["true_image"]
            bright = true > 100
            ratios.append(image[bright] / true[bright])
            pulls.append((image[bright] - true[bright]) / np.sqrt(true[bright]))
    ratio, pull = np.concatenate(ratios), np.concatenate(pulls)
    assert ratio.size > 100
    assert abs(np.median(ratio) - 1.0) < 0.05
    assert np.std(pull) < 3.0  # Poisson, excess noise, NSB and electronics: a few sigma_pe


@pytest.mark.requirement("DPPS-DP-R-007", "DPPS-DP-R-008")
def test_rerun_and_other_chunk_size_give_identical_parameters(simulated_run, dl1, tmp_path):
    dl0, coefficients = simulated_run
    summary, _ = dl1
    again = dl0_to_dl1(
        dl0, tmp_path / "again.h5", coefficients, DL0ToDL1Config(chunk_size=5), register=False
    )
    with h5py.File(summary.output) as first, h5py.File(again.output) as second:
        for tel_id in layout.tel_ids_in(first, PARAMS):
            path = layout.tel_path(PARAMS, tel_id)
            assert first[path][()].tobytes() == second[path][()].tobytes()
        assert IMAGES not in second  # images are optional


@pytest.mark.requirement("DPPS-DP-R-043", "DPPS-DP-R-044")
def test_parameters_agree_with_ctapipe_on_the_simulated_run(simulated_run, dl1):
    """The whole chain against ctapipe's CameraCalibrator + ImageProcessor (telescope 1)."""
    from datapipe_ops.calib.calibration import CoefficientSeries
    from testkit.ctapipe_reference import ReferenceChain, ReferenceSettings, ctapipe_subarray

    dl0, coefficients = simulated_run
    summary, _ = dl1
    tel_id = 1
    with open_product(dl0) as h5, open_product(coefficients) as cal:
        telescope = read_subarray(h5).telescopes[tel_id]
        waveforms = h5[layout.tel_path(layout.WAVEFORMS, tel_id)][()]
        series = CoefficientSeries.read(cal, tel_id)
    camera = telescope.camera
    _, cleaning = DL0ToDL1Config().for_camera(camera.name)
    settings = ReferenceSettings(
        picture_threshold=cleaning.picture_threshold_pe,
        boundary_threshold=cleaning.boundary_threshold_pe,
        min_picture_neighbors=cleaning.min_picture_neighbors,
    )
    focal = telescope.optics.effective_focal_length_m
    chain = ReferenceChain(
        ctapipe_subarray({tel_id: (camera.geometry, camera.readout, focal)}), settings
    )
    coefficient_row = {
        "pedestal_offset": series.pedestal_offset[0],
        "factor": series.factor[0],
        "time_shift": series.time_shift_ns[0],
        "outlier_mask": series.outlier_mask[0],
    }
    expected = chain.process(
        tel_id, waveforms, coefficient_row, rng=np.random.default_rng([0, tel_id])
    )
    with open_product(summary.output) as h5:
        params = read_table(h5, layout.tel_path(PARAMS, tel_id))
        images = read_table(h5, layout.tel_path(IMAGES, tel_id))
    assert np.array_equal(images["image"], expected["image"])
    assert np.array_equal(images["peak_time"].value, expected["peak_time"])
    assert np.array_equal(images["image_mask"], expected["image_mask"])
    three = np.asarray(params["morphology_n_pixels"]) == 3  # see test_parameters
    for name in (
        "hillas_intensity",
        "hillas_fov_lon",
        "hillas_fov_lat",
        "hillas_length",
        "hillas_width",
        "hillas_psi",
        "leakage_intensity_width_2",
        "concentration_core",
        "timing_slope",
        "morphology_n_islands",
    ):
        ours = np.asarray(getattr(params[name], "value", params[name]), np.float64)
        keep = ~three if name.startswith("timing") else np.ones(len(ours), bool)
        assert np.allclose(ours[keep], expected[name][keep], rtol=1e-5, equal_nan=True), name


@pytest.mark.requirement("DPPS-DP-R-021", "DPPS-DP-R-044")
def test_product_registered_with_lineage(simulated_run, dl1):
    from datapipe_ops.catalog import Catalog

    dl0, coefficients = simulated_run
    summary, url = dl1
    with Catalog(url) as catalog:
        product = catalog.get_product(summary.output.absolute())
        assert product.id == summary.product_id
        assert product.level == "DL1" and product.n_events == summary.n_events
        assert product.particle == "gamma"
        parents = {node.product.path for node in catalog.lineage(product.id).inputs}
    assert parents == {str(dl0.absolute()), str(coefficients.absolute())}
