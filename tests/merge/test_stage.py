"""`datapipe merge`: concatenation, summed histograms, provenance, refusals, bounded memory."""

from __future__ import annotations

import shutil
import tracemalloc

import h5py
import numpy as np
import pytest

from datapipe_ops.cli.main import main
from datapipe_ops.errors import InputFileError
from datapipe_ops.io import layout, read_provenance
from datapipe_ops.merge.stage import merge_products
from datapipe_ops.reco.events import EventReader
from testkit.simulated import renumbered_copy


def same_rows(a: np.ndarray, b: np.ndarray) -> bool:
    """Structured arrays equal field by field (NaN equal to NaN)."""
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    return all(
        np.array_equal(a[name], b[name], equal_nan=a[name].dtype.kind == "f")
        for name in a.dtype.names
    )


def _rows(path, table):
    with h5py.File(path) as h5:
        return h5[table][()]


@pytest.mark.requirement("DPPS-DP-R-006", "DPPS-DP-R-021", "DPPS-DP-R-110")
def test_merge_is_the_concatenation(dl1_runs, tmp_path):
    from datapipe_ops.catalog import Catalog

    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    inputs = [run["dl1"] for run in dl1_runs]
    output = tmp_path / "merged.dl1.h5"
    # given in reverse order: the merge orders runs by their first (obs_id, event_id)
    summary = merge_products(inputs[::-1], output, catalog_url=url)
    for table in (
        layout.TRIGGER,
        layout.SHOWER,
        layout.SIMULATION_RUN,
        layout.tel_path(layout.DL1_PARAMETERS, 1),
        layout.tel_path(layout.TRUE_IMAGES, 4),
    ):
        expected = np.concatenate([_rows(p, table) for p in inputs])
        assert same_rows(_rows(output, table), expected), table
    assert summary.n_events == sum(len(_rows(p, layout.TRIGGER)) for p in inputs)
    histograms = [_rows(p, layout.SHOWER_DISTRIBUTION) for p in inputs]
    merged = _rows(output, layout.SHOWER_DISTRIBUTION)
    assert len(merged) == 1 and merged["obs_id"][0] == -1
    assert merged["n_entries"][0] == sum(h["n_entries"].sum() for h in histograms)
    assert np.array_equal(merged["histogram"][0], sum(h["histogram"][0] for h in histograms))
    with h5py.File(output) as h5:
        assert h5.attrs["data_level"] == "DL1" and h5.attrs["merged"]
        assert h5.attrs["n_inputs"] == 2 and "obs_id" not in h5.attrs
        provenance = read_provenance(h5)
        assert provenance["stage"] == "merge"
        recorded = {r["path"]: r["sha256"] for r in provenance["inputs"]}
        assert set(recorded) == {str(p.absolute()) for p in inputs}
        assert all(len(h) == 64 for h in recorded.values())
        list(EventReader(h5, chunk_size=50))  # tables stay aligned with the trigger table
    with Catalog(url) as catalog:
        tree = catalog.lineage(summary.product_id, depth=1)
        assert {str(n.product.path) for n in tree.inputs} == {str(p.absolute()) for p in inputs}
        assert tree.product.kind == "merged"


@pytest.mark.requirement("DPPS-DP-R-110")
def test_merged_dl2_keeps_the_geometry(dl1_runs, tmp_path):
    from datapipe_ops.reco import names
    from datapipe_ops.reco.stage import dl1_to_dl2

    dl2 = []
    for run in dl1_runs:
        dl2.append(tmp_path / run["dl1"].name.replace("dl1", "dl2"))
        dl1_to_dl2(run["dl1"], dl2[-1], register=False)
    output = tmp_path / "merged.dl2.h5"
    merge_products(dl2, output, register=False)
    table = names.subarray_path(names.GEOMETRY, names.HILLAS_INTERSECTION)
    expected = np.concatenate([_rows(p, table) for p in dl2])
    assert same_rows(_rows(output, table), expected)


def _with_other_config(run, tmp_path):
    from datapipe_ops.calib.config import DL0ToDL1Config
    from datapipe_ops.calib.stage import dl0_to_dl1

    output = tmp_path / "other.dl1.h5"
    config = DL0ToDL1Config.model_validate({"extraction": {"window_width": 5}})
    dl0_to_dl1(run["dl0"], output, run["coefficients"], config, register=False)
    return output


@pytest.mark.requirement("DPPS-DP-R-001", "DPPS-DP-R-110")
def test_refuses_mixed_inputs(dl1_runs, tmp_path, capsys):
    first = dl1_runs[0]["dl1"]
    other = _with_other_config(dl1_runs[1], tmp_path)
    output = tmp_path / "merged.h5"
    code = main(["merge", str(first), str(other), "-o", str(output), "--no-register", "-q"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert "other.dl1.h5" in err[0] and "processing configuration" in err[0]
    assert not output.exists()
    # another instrument: one telescope moved
    moved = shutil.copy(dl1_runs[1]["dl1"], tmp_path / "moved.dl1.h5")
    with h5py.File(moved, "r+") as h5:
        dset = h5[layout.SUBARRAY_LAYOUT]
        rows = dset[()]
        rows["pos_x"][1] += 1.0
        dset[...] = rows
    with pytest.raises(InputFileError, match="instrument") as error:
        merge_products([first, moved], output, register=False)
    assert error.value.path == str(moved)
    # the same run twice
    twice = shutil.copy(first, tmp_path / "twice.dl1.h5")
    with pytest.raises(InputFileError, match="obs_id 1001 that") as error:
        merge_products([first, twice], output, register=False)
    assert error.value.path == str(twice)
    # another level
    with pytest.raises(InputFileError, match="DL0"):
        merge_products([first, dl1_runs[1]["dl0"]], output, register=False)
    assert not output.exists()


def _peak_memory(inputs, output) -> int:
    tracemalloc.start()
    try:
        merge_products(inputs, output, register=False, overwrite=True)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.requirement("DPPS-DP-R-008", "DPPS-DP-R-111")
def test_memory_does_not_grow_with_the_number_of_inputs(dl1_runs, tmp_path):
    source = dl1_runs[0]["dl1"]
    copies = [renumbered_copy(source, tmp_path / f"copy_{i}.dl1.h5", i) for i in range(12)]
    _peak_memory(copies[:2], tmp_path / "warm.h5")
    few = _peak_memory(copies[:3], tmp_path / "few.h5")
    many = _peak_memory(copies, tmp_path / "many.h5")
    assert many < 1.3 * few + (1 << 20), (few, many)
    assert len(_rows(tmp_path / "many.h5", layout.TRIGGER)) == 12 * len(
        _rows(source, layout.TRIGGER)
    )


def _rechunked(path, table, rows_per_chunk):
    """Rewrite one dataset of a product with another chunk length (same rows and filters)."""
    with h5py.File(path, "r+") as h5:
        old = h5[table]
        rows, attrs = old[()], dict(old.attrs)
        options = {"compression": old.compression, "compression_opts": old.compression_opts}
        options["shuffle"] = old.shuffle
        del h5[table]
        new = h5.create_dataset(
            table, data=rows, chunks=(rows_per_chunk,), maxshape=(None,), **options
        )
        new.attrs.update(attrs)
    return path


def _datasets(path):
    found = {}
    with h5py.File(path) as h5:

        def visit(name, node):
            if isinstance(node, h5py.Dataset) and not name.startswith("provenance"):
                found[name] = (node.dtype, node.chunks, node.compression, node[()])

        h5.visititems(visit)
    return found


def test_copying_stored_chunks_gives_the_decoded_content(dl1_runs, tmp_path):
    inputs = [run["dl1"] for run in dl1_runs]
    # a third run whose LST true images are chunked otherwise: those rows must be decoded
    third = renumbered_copy(inputs[1], tmp_path / "third.dl1.h5", 2)
    _rechunked(third, layout.tel_path(layout.TRUE_IMAGES, 1), 7)
    inputs.append(third)
    direct = merge_products(inputs, tmp_path / "direct.dl1.h5", register=False)
    decoded = merge_products(
        inputs, tmp_path / "decoded.dl1.h5", register=False, direct_chunks=False
    )
    assert decoded.n_bytes_direct == 0 and direct.n_bytes_read == decoded.n_bytes_read
    assert 0 < direct.n_bytes_direct < direct.n_bytes_read
    a, b = _datasets(tmp_path / "direct.dl1.h5"), _datasets(tmp_path / "decoded.dl1.h5")
    assert set(a) == set(b)
    for name, (dtype, chunks, compression, rows) in a.items():
        assert (dtype, chunks, compression) == b[name][:3], name
        assert rows.tobytes() == b[name][3].tobytes(), name
    images = layout.tel_path(layout.TRUE_IMAGES, 1)
    expected = np.concatenate([_rows(p, images) for p in inputs])
    assert same_rows(_rows(tmp_path / "direct.dl1.h5", images), expected)
