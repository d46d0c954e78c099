"""File checksums: in the foreground and in a background thread."""

import hashlib

import pytest

from datapipe_ops.checksum import sha256_file, sha256_files_in_background


def test_background_checksums_match_the_file_contents(tmp_path):
    paths = []
    for i, size in enumerate((0, 1000, 3 << 20)):
        path = tmp_path / f"f{i}.bin"
        path.write_bytes(bytes(range(256)) * (size // 256) + b"x" * (size % 256))
        paths.append(path)
    wait = sha256_files_in_background(paths)
    hashes = wait()
    assert hashes == {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}
    assert hashes[paths[2]] == sha256_file(paths[2])


def test_background_checksum_errors_reach_the_caller(tmp_path):
    wait = sha256_files_in_background([tmp_path / "gone.h5"])
    with pytest.raises(FileNotFoundError):
        wait()
