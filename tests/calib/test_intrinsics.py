"""The LLVM-level operations behind the extraction kernels, against plain numpy."""

from __future__ import annotations

import llvmlite
import numba
import numpy as np
import pytest
from numba import njit

from datapipe_ops.calib.extraction import (
    _calibrated_waveforms,
    _neighbor_peaks,
    _neighbor_peaks_scalar,
    _scratch,
    _window_moments_all,
    _window_sums,
    exact_window_sums,
)
from datapipe_ops.calib.intrinsics import (
    LANES,
    LLVMLITE_VERSIONS,
    NUMBA_VERSIONS,
    float32_bits,
    neighbor_peak,
    prefetch,
    window_moments,
)


def _release(version: str) -> tuple[int, int]:
    major, minor = version.split(".")[:2]
    return int(major), int(minor)


def test_installed_numba_and_llvmlite_are_the_ones_the_ir_is_written_for():
    assert _release(numba.__version__) in NUMBA_VERSIONS
    assert _release(llvmlite.__version__) in LLVMLITE_VERSIONS


@njit(cache=True)
def _bits(values, out):
    for i in range(values.shape[0]):
        out[i] = float32_bits(values[i])


@njit(cache=True)
def _prefetched_sum(values):
    total = 0
    for i in range(0, values.shape[0] + 64, 32):  # also past the end: a hint never faults
        prefetch(values, i)
    for i in range(values.shape[0]):
        total += values[i]
    return total


@njit(cache=True)
def _peaks6(scratch, table, peaks):
    for p in range(table.shape[0]):
        rows = (table[p, 0], table[p, 1], table[p, 2], table[p, 3], table[p, 4], table[p, 5])
        peaks[p] = neighbor_peak(scratch, rows)


def _reference_peaks(scratch: np.ndarray, table: np.ndarray) -> np.ndarray:
    """numpy: the float32 sum of the rows in order, +0.0, first argmax."""
    total = scratch[table[:, 0]].copy()
    for j in range(1, table.shape[1]):
        total += scratch[table[:, j]]
    return np.argmax(total + np.float32(0.0), axis=1)


def test_float32_bits_is_the_bit_pattern():
    values = np.array([0.0, -0.0, 1.0, -2.5, np.inf, 3.4e38, 1e-45], np.float32)
    out = np.empty(values.size, np.int32)
    _bits(values, out)
    assert np.array_equal(out, values.view(np.int32))


def test_prefetch_changes_nothing():
    values = np.arange(1000, dtype=np.uint16)
    assert _prefetched_sum(values) == values.sum()


@pytest.mark.parametrize("n_samples", [LANES, LANES + 1, 25, 40, 60, 128])
def test_neighbor_peak_is_numpys_first_argmax(n_samples):
    rng = np.random.default_rng(n_samples)
    n_rows = 200
    # small integers minus a half: many exact ties, negative sums and -0.0 / +0.0 sums
    scratch = (rng.integers(0, 4, (n_rows, n_samples)) - 1.5).astype(np.float32)
    scratch[:20] = 0.0
    scratch[20:40] = -0.0
    scratch[40:60] = rng.normal(0, 1e3, (20, n_samples)).astype(np.float32)
    table = rng.integers(0, n_rows, (500, 6)).astype(np.int32)
    table[:50] = rng.integers(0, 40, (50, 6))  # sums of zeros of both signs: all ties
    peaks = np.empty(len(table), np.int64)
    _peaks6(scratch, table, peaks)
    assert np.array_equal(peaks, _reference_peaks(scratch, table))


@pytest.mark.parametrize("n_samples", [LANES - 4, LANES, 40, 60])
@pytest.mark.parametrize("weight", [0, 1])
def test_vector_and_scalar_neighbour_search_agree(n_samples, weight):
    """The vector search on the padded buffer and the scalar loop give numpy's answers."""
    rng = np.random.default_rng(7)
    n_pixels = 300
    values = (rng.integers(0, 6, (n_pixels, n_samples)) - 2.25).astype(np.float32)
    values[:20] = 0.0  # all ties
    vector = weight == 0 and n_samples >= LANES
    full, scratch = _scratch(n_pixels + 1, n_samples, vector)
    assert np.array_equal(scratch[-1], np.zeros(n_samples))  # the missing neighbour
    scratch[:-1] = values
    if vector:
        assert full.ctypes.data % 64 == 0 and full.shape[1] % LANES == 0
        assert np.all(full[:, n_samples:] == -np.inf)
    table = rng.integers(0, n_pixels + 1, (n_pixels, 6)).astype(np.int32)
    peaks = np.empty(n_pixels, np.int64)
    upcoming = np.zeros((1, 1), np.uint16)
    if vector:
        _neighbor_peaks(full, table, peaks, upcoming)
    else:
        _neighbor_peaks_scalar(scratch, np.float32(weight), table, peaks, upcoming)
    padded = np.vstack([values, np.zeros((1, n_samples), np.float32)])
    total = values * np.float32(weight)
    for j in range(6):
        total = total + padded[table[:, j]]
    assert np.array_equal(peaks, np.argmax(total + np.float32(0.0), axis=1))


@njit(cache=True)
def _moments(scratch, pixel, first, width):
    if width <= 8:
        return window_moments(scratch, pixel, first, width, 8)
    return window_moments(scratch, pixel, first, width, 16)


def _sequential_moments(row: np.ndarray, first: int, width: int) -> tuple[float, float, float]:
    """ctapipe's order: sample by sample in float64, the window clipped to the row."""
    total = numerator = denominator = 0.0
    for s in range(max(first, 0), min(first + width, row.size)):
        value = float(row[s])
        total += value
        if value > 0:
            numerator += value * s
            denominator += value
    return total, numerator, denominator


@pytest.mark.parametrize("n_samples", [LANES, LANES + 1, 40, 128])
def test_window_moments_are_the_sequential_sums_when_exact(n_samples):
    rng = np.random.default_rng(n_samples)
    pedestal = rng.uniform(100, 500, 8).astype(np.float32)
    counts = rng.integers(0, 4096, (8, n_samples))
    scratch = (counts.astype(np.float32) - pedestal[:, None]).astype(np.float32)
    assert exact_window_sums(pedestal, LANES, n_samples)
    for pixel in range(8):
        for width in (1, 3, 7, 8, 9, LANES):
            for first in (-width, -1, 0, 5, n_samples - width, n_samples - 2, n_samples):
                expected = _sequential_moments(scratch[pixel], first, width)
                assert _moments(scratch, pixel, first, width) == expected


def test_exact_window_sums_needs_usual_pedestals_and_short_windows():
    usual = np.array([0.0, 4.0, 400.25, -300.5, 65535.0], np.float32)
    assert exact_window_sums(usual, 7, 40)
    assert not exact_window_sums(np.array([400.0, 1.5], np.float32), 7, 40)
    assert not exact_window_sums(np.array([400.0, 7e4], np.float32), 7, 40)
    assert not exact_window_sums(usual, LANES + 1, 40)  # window wider than a vector
    assert not exact_window_sums(usual, 7, LANES - 1)  # readout shorter than a vector


@pytest.mark.parametrize("dtype", [np.uint16, np.int16, np.uint8, np.int8])
@pytest.mark.parametrize("n_samples", [LANES - 3, LANES, LANES + 1, 40, 60])
def test_calibration_is_numpys_float32_subtraction(dtype, n_samples):
    rng = np.random.default_rng(n_samples)
    info = np.iinfo(dtype)
    waveforms = rng.integers(info.min, info.max, (30, n_samples), endpoint=True).astype(dtype)
    pedestal = rng.uniform(-500, 500, 30).astype(np.float32)
    full, scratch = _scratch(31, n_samples, True)  # padded rows and the zero row, as the stage's
    _calibrated_waveforms(waveforms, pedestal, full)
    expected = waveforms.astype(np.float32) - pedestal[:, np.newaxis]
    assert np.array_equal(scratch[:30], expected)
    assert np.all(scratch[30] == 0.0)
    assert np.all(full[:, n_samples:] == -np.inf)  # the padding is never written


@pytest.mark.parametrize("n_samples", [LANES, 40, 60])
@pytest.mark.parametrize("width", [3, 7, 8, 12, LANES])
def test_vector_window_sums_equal_the_plain_loop(n_samples, width):
    """The vector path and its plain oracle agree bit for bit on every pixel (padded rows)."""
    rng = np.random.default_rng(width * n_samples)
    n_pixels = 400
    pedestal = rng.uniform(200, 400, n_pixels).astype(np.float32)
    counts = rng.integers(0, 4096, (n_pixels, n_samples)).astype(np.uint16)
    full, scratch = _scratch(n_pixels + 1, n_samples, True)
    _calibrated_waveforms(counts, pedestal, full)
    assert exact_window_sums(pedestal, width, n_samples)
    peaks = rng.integers(0, n_samples, n_pixels).astype(np.int64)
    shift = 3
    vector = [np.empty(n_pixels) for _ in range(3)]
    plain = [np.empty(n_pixels) for _ in range(3)]
    _window_moments_all(scratch, peaks, shift, width, *vector)
    _window_sums(scratch, peaks, shift, width, *plain)
    for got, expected in zip(vector, plain, strict=True):
        assert np.array_equal(got.view(np.int64), expected.view(np.int64))
    for p in range(0, n_pixels, 37):
        assert (plain[0][p], plain[1][p], plain[2][p]) == _sequential_moments(
            scratch[p], int(peaks[p]) - shift, width
        )
