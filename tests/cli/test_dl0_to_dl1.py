"""`datapipe dl0-to-dl1` through the real entry point: success, and bad input failing cleanly."""

from __future__ import annotations

import gc
import shutil

import h5py
import pytest
from astropy.table import vstack
from astropy.time import Time

from datapipe_ops.cli.main import main
from datapipe_ops.io import layout


@pytest.fixture(scope="module")
def run_files(tmp_path_factory):
    """A small simulated DL0 run and its coefficients (read-only: copy before changing)."""
    from testkit.simulated import demo_gamma_run

    output = tmp_path_factory.mktemp("dl0") / "run.dl0.h5"
    return demo_gamma_run(output, n_showers=300, seed=1, obs_id=77)


@pytest.fixture
def work(run_files, tmp_path, monkeypatch):
    """Copies of the run in a fresh directory, with a private catalog."""
    monkeypatch.setenv("DATAPIPE_CATALOG_URL", f"sqlite:///{tmp_path / 'catalog.sqlite'}")
    dl0 = shutil.copy(run_files[0], tmp_path / "run.dl0.h5")
    coefficients = shutil.copy(run_files[1], tmp_path / "run.coefficients.h5")
    return tmp_path, dl0, coefficients


def run(capsys, *args):
    code = main(["dl0-to-dl1", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_failure(code, err, *words):
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("datapipe: error: "), err
    for word in words:
        assert word in lines[0], lines[0]


@pytest.mark.requirement("DPPS-DP-R-044")
def test_success_with_default_coefficients(work, capsys):
    directory, dl0, _ = work
    code, out, err = run(capsys, "--input", dl0, "--output", directory / "run.dl1.h5", "-q")
    assert code == 0, err
    assert "telescope events" in out and "catalog id" in out
    assert (directory / "run.dl1.h5").is_file()
    assert (directory / "catalog.sqlite").is_file()
    # the garbage collector, paused for the start-up, runs again with nothing frozen
    assert gc.isenabled() and gc.get_freeze_count() == 0


@pytest.mark.requirement("DPPS-DP-R-044")
def test_no_register_and_config_file(work, capsys):
    directory, dl0, coefficients = work
    config = directory / "c.yaml"
    config.write_text("write_images: true\nextraction: {window_width: 5}\n")
    code, out, err = run(
        capsys,
        "-i",
        dl0,
        "-o",
        directory / "out.h5",
        "--coefficients",
        coefficients,
        "--config",
        config,
        "--chunk-size",
        "3",
        "--no-register",
        "-q",
    )
    assert code == 0, err
    assert "catalog id" not in out
    assert not (directory / "catalog.sqlite").exists()
    with h5py.File(directory / "out.h5") as h5:
        assert layout.tel_path(layout.DL1_IMAGES, 1) in h5


@pytest.mark.requirement("DPPS-DP-R-001", "DPPS-DP-R-005")
def test_truncated_dl0(work, capsys):
    directory, dl0, coefficients = work
    data = dl0.read_bytes()
    dl0.write_bytes(data[: len(data) // 2])
    out = directory / "out.h5"
    code, _, err = run(capsys, "-i", dl0, "-o", out, "--coefficients", coefficients, "-q")
    assert_one_line_failure(code, err, str(dl0), "truncated")
    assert not out.exists()
    assert sorted(p.name for p in directory.iterdir()) == sorted(
        ["run.dl0.h5", "run.coefficients.h5"]
    )  # no temporary file left behind either


@pytest.mark.requirement("DPPS-DP-R-001")
def test_truncated_waveforms_inside_a_readable_file(work, capsys):
    """The HDF5 header is intact but a waveform chunk is garbage: still one line, no output."""
    directory, dl0, coefficients = work
    with h5py.File(dl0, "r") as h5:
        dset = h5[layout.tel_path(layout.WAVEFORMS, 1)]
        offset = dset.id.get_chunk_info(0).byte_offset
    with open(dl0, "r+b") as f:
        f.seek(offset)
        f.write(b"\x00" * 64)
    out = directory / "out.h5"
    code, _, err = run(capsys, "-i", dl0, "-o", out, "--coefficients", coefficients, "-q")
    assert_one_line_failure(code, err, str(dl0))
    assert not out.exists()


@pytest.mark.requirement("DPPS-DP-R-001", "DPPS-DP-R-005")
def test_wrong_schema_version(work, capsys):
    directory, dl0, coefficients = work
    with h5py.File(dl0, "r+") as h5:
        h5.attrs["schema_version"] = "9.0"
    out = directory / "out.h5"
    code, _, err = run(capsys, "-i", dl0, "-o", out, "--coefficients", coefficients, "-q")
    assert_one_line_failure(code, err, str(dl0), "schema version 9.0")
    assert not out.exists()


@pytest.mark.requirement("DPPS-DP-R-001", "DPPS-DP-R-005")
def test_wrong_level(work, capsys):
    directory, _, coefficients = work
    code, _, err = run(
        capsys, "-i", coefficients, "-o", directory / "o.h5", "--coefficients", coefficients, "-q"
    )
    assert_one_line_failure(code, err, "CALIBRATION product, expected DL0")


@pytest.mark.requirement("DPPS-DP-R-001", "DPPS-DP-R-032")
def test_missing_coefficients(work, capsys):
    directory, dl0, coefficients = work
    coefficients.unlink()
    out = directory / "out.h5"
    code, _, err = run(capsys, "-i", dl0, "-o", out, "-q")
    assert_one_line_failure(code, err, str(coefficients), "does not exist")
    assert not out.exists()


@pytest.mark.requirement("DPPS-DP-R-001", "DPPS-DP-R-004", "DPPS-DP-R-032")
def test_coefficients_missing_a_telescope(work, capsys):
    directory, dl0, coefficients = work
    with h5py.File(coefficients, "r+") as h5:
        del h5[layout.tel_path(layout.COEFFICIENTS, 2)]
    code, _, err = run(capsys, "-i", dl0, "-o", directory / "o.h5", "-q")
    assert_one_line_failure(code, err, "telescope 2")


@pytest.mark.requirement("DPPS-DP-R-001", "DPPS-DP-R-004", "DPPS-DP-R-032")
def test_coefficients_out_of_validity_keep_existing_output(work, capsys):
    from datapipe_ops.io import ProductWriter, open_product
    from datapipe_ops.io.coefficients import read_coefficients, write_coefficients

    directory, dl0, coefficients = work
    with open_product(coefficients) as h5:
        tables = {t: read_coefficients(h5, t) for t in layout.tel_ids_in(h5, layout.COEFFICIENTS)}
    late = directory / "late.coefficients.h5"
    with ProductWriter(late, "CALIBRATION", stage="test") as writer:
        for tel_id, (table, until) in tables.items():
            shifted = vstack([table])
            shifted["time"] = Time(table["time"].mjd + 1.0, format="mjd", scale="tai")
            write_coefficients(writer, tel_id, shifted, Time(until.mjd + 1.0, format="mjd"))
    out = directory / "out.h5"
    out.write_bytes(b"an earlier product")
    code, _, err = run(capsys, "-i", dl0, "-o", out, "--coefficients", late, "-q", "--overwrite")
    assert_one_line_failure(code, err, "obs_id 77", "no valid calibration coefficients", "2025-")
    assert out.read_bytes() == b"an earlier product"


@pytest.mark.requirement("DPPS-DP-R-001", "DPPS-DP-R-009")
def test_bad_config(work, capsys):
    directory, dl0, _ = work
    config = directory / "c.yaml"
    config.write_text("cleaning: {picture_threshold_pe: -1}\n")
    code, _, err = run(capsys, "-i", dl0, "-o", directory / "o.h5", "-c", config, "-q")
    assert_one_line_failure(code, err, str(config), "boundary")


@pytest.mark.requirement("DPPS-DP-R-007")
def test_rerun_gives_byte_identical_parameters(work, capsys):
    directory, dl0, _ = work
    outputs = [directory / "a.h5", directory / "b.h5"]
    for out in outputs:
        assert run(capsys, "-i", dl0, "-o", out, "--no-register", "-q")[0] == 0
    with h5py.File(outputs[0]) as a, h5py.File(outputs[1]) as b:
        for tel_id in layout.tel_ids_in(a, layout.DL1_PARAMETERS):
            path = layout.tel_path(layout.DL1_PARAMETERS, tel_id)
            assert a[path][()].tobytes() == b[path][()].tobytes()


def datasets(path):
    """Every dataset of a product (its bytes) and every attribute, provenance left out."""
    found = {}
    with h5py.File(path) as h5:

        def add(name, node):
            if name.startswith(layout.PROVENANCE.strip("/")):
                return
            attrs = {k: str(v) for k, v in node.attrs.items()}
            data = node[()].tobytes() if isinstance(node, h5py.Dataset) else None
            found[name] = (data, attrs)

        h5.visititems(add)
        found["/"] = (None, {k: str(v) for k, v in h5.attrs.items()})
    return found


def test_several_inputs_one_product_each_identical_to_alone(work, capsys):
    from datapipe_ops.catalog import Catalog
    from datapipe_ops.io import open_product, read_provenance

    directory, dl0, coefficients = work
    second = shutil.copy(dl0, directory / "second.dl0.h5")
    alone = directory / "alone.dl1.h5"
    assert run(capsys, "-i", dl0, "-o", alone, "--no-register", "-q")[0] == 0
    outputs = directory / "grouped"
    code, out, err = run(
        capsys, "-i", dl0, "-i", second, "--output-dir", outputs,
        "--coefficients", coefficients, "-q",
    )  # fmt: skip
    assert code == 0, err
    assert out.count("catalog id") == 2
    products = [outputs / "run.dl1.h5", outputs / "second.dl1.h5"]
    for product in products:
        assert datasets(product) == datasets(alone)  # byte-identical to the file done alone
    with open_product(products[1]) as h5:
        inputs = read_provenance(h5)["inputs"]
    from datapipe_ops.checksum import sha256_file

    assert inputs == [
        {"path": str(second), "sha256": sha256_file(second)},
        {"path": str(coefficients), "sha256": sha256_file(coefficients)},
    ]
    with Catalog() as catalog:
        for product, source in zip(products, (dl0, second), strict=True):
            ancestors = {p.path for p in catalog.lineage(str(product)).products().values()}
            assert {str(source), str(coefficients)} <= ancestors
            assert str({dl0: second, second: dl0}[source]) not in ancestors


def test_a_bad_file_of_a_group_fails_before_any_output(work, capsys):
    directory, dl0, coefficients = work
    bad = directory / "bad.dl0.h5"
    with h5py.File(dl0) as source, h5py.File(bad, "w") as h5:
        for key, value in source.attrs.items():
            h5.attrs[key] = value
        for name in source:
            source.copy(source[name], h5, name=name)
        del h5[layout.tel_path(layout.DL0_TEL_INDEX, 2)]  # readable, but inconsistent
    outputs = [directory / "a.dl1.h5", directory / "b.dl1.h5"]
    code, _, err = run(
        capsys, "-i", dl0, "-o", outputs[0], "-i", bad, "-o", outputs[1],
        "--coefficients", coefficients, "-q",
    )  # fmt: skip
    assert_one_line_failure(code, err, str(bad), "no event index")
    assert not any(p.exists() for p in outputs)  # the good first file was not written either
    assert not list(directory.glob(".*"))  # no temporary file


def test_inputs_and_outputs_must_pair(work, capsys):
    directory, dl0, coefficients = work
    code, _, err = run(capsys, "-i", dl0, "-i", dl0, "-o", directory / "a.h5", "-q")
    assert_one_line_failure(code, err, "2 --input but 1 --output")
    code, _, err = run(
        capsys, "-i", dl0, "-o", directory / "a.h5", "-o", directory / "a.h5",
        "-i", directory / "run.dl0.h5", "-q",
    )  # fmt: skip
    assert_one_line_failure(code, err, "two different outputs")
    code, _, err = run(
        capsys, "-i", dl0, "-i", dl0, "--output-dir", directory, "--coefficients", coefficients,
        "--coefficients", coefficients, "--coefficients", coefficients, "-q",
    )  # fmt: skip
    assert_one_line_failure(code, err, "3 --coefficients")
    assert sorted(p.name for p in directory.iterdir()) == ["run.coefficients.h5", "run.dl0.h5"]
