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


def test_a_product_waits_only_for_its_own_inputs(tmp_path):
    from datapipe_ops.checksum import BackgroundChecksums

    paths = [tmp_path / f"f{i}.bin" for i in range(3)]
    for i, path in enumerate(paths):
        path.write_bytes(bytes([i]) * (1 << 20))
    hashing = BackgroundChecksums([paths[0], paths[1], paths[0], paths[2]])  # repeats hashed once
    assert hashing.wait_for([paths[1]]) == {paths[1]: sha256_file(paths[1])}
    assert hashing() == {p: sha256_file(p) for p in paths}
    with pytest.raises(KeyError, match="not hashed"):
        hashing.wait_for([tmp_path / "other.bin"])


def test_an_error_reaches_whoever_waits_for_that_file_or_later_ones(tmp_path):
    from datapipe_ops.checksum import BackgroundChecksums

    good = tmp_path / "good.bin"
    good.write_bytes(b"x")
    hashing = BackgroundChecksums([good, tmp_path / "gone.bin"])
    assert hashing.wait_for([good]) == {good: sha256_file(good)}
    with pytest.raises(FileNotFoundError):
        hashing.wait_for([tmp_path / "gone.bin"])
