"""The BDMS stand-in manifest: atomic updates, completion, verification."""

from __future__ import annotations

import json

import pytest

from datapipe_ops.bdms.manifest import (
    MANIFEST_NAME,
    add_to_manifest,
    read_manifest,
    start_manifest,
    verify_dataset,
)
from datapipe_ops.checksum import sha256_file
from datapipe_ops.errors import InputFileError

pytestmark = pytest.mark.requirement("DPPS-DP-R-030")


def _file(directory, name, content):
    path = directory / name
    path.write_bytes(content)
    return path


def test_manifest_grows_and_completes_with_the_last_file(tmp_path):
    start_manifest(tmp_path, "demo", "simulation", n_files_expected=2)
    first = _file(tmp_path, "a.dl0.h5", b"first file")
    manifest = add_to_manifest(tmp_path, first, level="DL0", n_events=3, meta={"obs_id": 1})
    assert not manifest.complete
    assert verify_dataset(tmp_path) == [
        "dataset 'demo' is not complete",
        "manifest lists 1 file(s), expects 2",
    ]
    second = _file(tmp_path, "b.dl0.h5", b"second")
    manifest = add_to_manifest(tmp_path, "b.dl0.h5", level="DL0", n_events=5)
    assert manifest.complete
    on_disk = json.loads((tmp_path / MANIFEST_NAME).read_text())
    assert on_disk["files"][0] == {
        "name": "a.dl0.h5",
        "sha256": sha256_file(first),
        "size": first.stat().st_size,
        "n_events": 3,
        "level": "DL0",
        "meta": {"obs_id": 1},
    }
    assert read_manifest(tmp_path).file("b.dl0.h5").size == second.stat().st_size
    assert verify_dataset(tmp_path) == []


def test_adding_a_file_twice_replaces_its_entry(tmp_path):
    start_manifest(tmp_path, "d", "simulation", n_files_expected=1)
    path = _file(tmp_path, "a.h5", b"v1")
    add_to_manifest(tmp_path, path, level="DL0", complete=False)
    path.write_bytes(b"version two")
    manifest = add_to_manifest(tmp_path, path, level="DL0")
    assert len(manifest.files) == 1
    assert manifest.files[0].sha256 == sha256_file(path)
    assert manifest.complete


def test_verify_reports_a_corrupted_and_a_missing_file(tmp_path):
    start_manifest(tmp_path, "d", "observation", n_files_expected=2)
    a = _file(tmp_path, "a.h5", b"aaaa")
    b = _file(tmp_path, "b.h5", b"bbbb")
    add_to_manifest(tmp_path, a, level="DL0")
    add_to_manifest(tmp_path, b, level="DL0")
    a.write_bytes(b"aaab")
    b.unlink()
    problems = verify_dataset(tmp_path)
    assert len(problems) == 2
    assert problems[0].startswith("a.h5: sha256 mismatch (manifest ")
    assert problems[1] == "b.h5: listed in the manifest but missing"


def test_a_broken_manifest_is_one_clear_error(tmp_path):
    with pytest.raises(InputFileError, match="dataset has no manifest"):
        read_manifest(tmp_path)
    (tmp_path / MANIFEST_NAME).write_text("{not json")
    with pytest.raises(InputFileError, match="not valid JSON") as info:
        read_manifest(tmp_path)
    assert str(info.value).startswith(str(tmp_path / MANIFEST_NAME))
    (tmp_path / MANIFEST_NAME).write_text(json.dumps({"dataset": "d", "kind": "nonsense"}))
    with pytest.raises(InputFileError, match="key 'kind'"):
        read_manifest(tmp_path)
    assert verify_dataset(tmp_path)[0].endswith(
        "key 'kind': Input should be 'simulation', 'observation', 'calibration' or 'processed'"
    )


def test_no_temporary_file_is_left_behind(tmp_path):
    start_manifest(tmp_path, "d", "simulation", n_files_expected=1)
    add_to_manifest(tmp_path, _file(tmp_path, "x.h5", b"x"), level="DL0")
    assert sorted(p.name for p in tmp_path.iterdir()) == [MANIFEST_NAME, "x.h5"]
