"""Charge and peak-time extraction from waveforms, fused with the camera calibration.

One compiled call handles a whole chunk of telescope events: it reads the raw ADC waveforms
(uint16, ``[n_events, n_pixels, n_samples]``), subtracts the per-sample pedestal, finds the
pulse, integrates it in a window, corrects the charge for the part of the pulse outside the
window, converts ADC to photo-electrons, corrects the peak time for the pixel's time offset and
replaces broken pixels by the average of their neighbours. The calibrated float waveform exists
only for one event at a time (a scratch buffer that stays in the CPU cache), never for the
chunk.

Definitions are those of ctapipe 0.32 (``ctapipe.image.extractor`` and
``ctapipe.calib.camera.CameraCalibrator``), including its float32 rounding steps, so that the
same waveforms give identical images:

``neighbor_peak_window_sum`` (default)
    the window is placed around the maximum of the sum of the neighbours' waveforms
    (plus ``local_weight`` times the pixel's own), broken neighbours left out;
``local_peak_window_sum``
    around the maximum of the pixel's own waveform;
``fixed_window_sum``
    at the fixed sample ``peak_index``.

The window starts ``window_shift`` samples before the peak and is ``window_width`` samples wide
(clipped to the readout). The peak time is the mean sample index of the window weighted by the
positive samples (the peak index if there are none), in ns.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import numpy as np
from numba import njit

from datapipe_ops.calib.buffers import output_array
from datapipe_ops.calib.intrinsics import (
    LANES,
    float32_bits,
    neighbor_peak,
    prefetch,
    window_moments,
)

Method = Literal["neighbor_peak_window_sum", "local_peak_window_sum", "fixed_window_sum"]
METHODS: dict[str, int] = {
    "neighbor_peak_window_sum": 0,
    "local_peak_window_sum": 1,
    "fixed_window_sum": 2,
}


def integration_correction(
    reference_pulse_shape: np.ndarray,
    reference_pulse_sample_width_ns: float,
    sample_width_ns: float,
    window_width: int,
    window_shift: int,
) -> np.ndarray:
    """Factor per gain channel that makes a noise-free unit pulse integrate to exactly 1.

    The reference pulse (sampled every ``reference_pulse_sample_width_ns``) is re-binned into
    readout samples of ``sample_width_ns`` and normalised to unit integral; the window of
    ``window_width`` samples starting ``window_shift`` samples before the re-binned maximum is
    integrated; the correction is the inverse of that integral (1 when the window is empty).

    Parameters
    ----------
    reference_pulse_shape
        ``(n_channels, n_ref)`` pulse shape per gain channel.
    reference_pulse_sample_width_ns, sample_width_ns
        Time step of the reference pulse and of the readout [ns].
    window_width, window_shift
        The integration window, in readout samples.

    Returns
    -------
    numpy.ndarray
        float64 ``(n_channels,)``.
    """
    shapes = np.atleast_2d(np.asarray(reference_pulse_shape, dtype=np.float64))
    correction = np.ones(shapes.shape[0], dtype=np.float64)
    for channel, shape in enumerate(shapes):
        duration = shape.size * reference_pulse_sample_width_ns
        # k * step, one time per sample (np.arange(0, duration, step) may round to one more)
        times = np.arange(shape.size) * reference_pulse_sample_width_ns
        edges = np.arange(0.0, duration, sample_width_ns)
        binned, _ = np.histogram(times, edges, weights=shape, density=True)
        start = max(int(binned.argmax()) - window_shift, 0)
        stop = min(start + window_width, binned.size)
        if start < stop:
            correction[channel] = 1.0 / np.sum(binned[start:stop] * sample_width_ns)
    return correction


#: low bits of an argmax key that hold the sample index (so at most 1024 samples)
INDEX_BITS = 10
INDEX_MASK = (1 << INDEX_BITS) - 1
MAX_SAMPLES = 1 << INDEX_BITS
#: uint16 samples per 64-byte cache line (the prefetch stride)
SAMPLES_PER_LINE = 32


@njit(cache=True)
def neighbor_table(offsets, indices, broken, dummy, table):
    """Padded neighbour lists: ``table[p]`` = the unbroken neighbours of p in CSR order.

    Unused slots point at ``dummy`` (the all-zero row of the calibrated waveforms).
    """
    for p in range(offsets.shape[0] - 1):
        m = 0
        for k in range(offsets[p], offsets[p + 1]):
            if not broken[indices[k]]:
                table[p, m] = indices[k]
                m += 1
        for j in range(m, table.shape[1]):
            table[p, j] = dummy


@njit(cache=True, inline="always")
def _prefetch_row(upcoming, p):
    """Ask for pixel p's waveform of the next event (``upcoming``, 2-D) to come into cache."""
    n_samples = upcoming.shape[1]
    for offset in range(0, n_samples, SAMPLES_PER_LINE):
        prefetch(upcoming, p * n_samples + offset)


@njit(cache=True)
def _calibrated_waveforms(waveforms, pedestal, scratch):
    """scratch[:n_pixels, :n_samples] = waveform - pedestal in float32, as ctapipe's in-place
    subtraction.

    Both operands are float32 (ADC counts below 2**24 are exact), so the float32 difference is
    the correctly rounded one, bit for bit what numpy computes. (A hand-written 16-lane version
    of this loop saved at most 1–2 µs of a 40–50 µs event and was removed: LLVM vectorises this
    loop itself.)
    """
    n_pixels, n_samples = waveforms.shape
    for p in range(n_pixels):
        offset = pedestal[p]
        for s in range(n_samples):
            scratch[p, s] = np.float32(waveforms[p, s]) - offset


@njit(cache=True, inline="always")
def _key(value, s):
    """Argmax key of the float32 ``value`` of sample s.

    An order-preserving integer image of the float, with the sample index in the low bits
    (a smaller index gives a larger key), so that one vectorisable integer max finds the first
    maximum, as numpy's argmax does.
    """
    i = np.int64(float32_bits(value))
    ordered = i ^ ((i >> 31) & 0x7FFFFFFF)
    return (ordered << INDEX_BITS) | (INDEX_MASK - s)


@njit(cache=True, inline="always")
def _store_window(values, p, peak, shift, windows):
    """``windows[k, p]`` = ``values[peak - shift + k]``, 0 outside the readout (an added +0.0
    changes no sum, so a zero there is the same as ctapipe's clipping of the window)."""
    n_samples = values.shape[0]
    first = peak - shift
    for k in range(windows.shape[0]):
        s = first + k
        inside = 0 <= s < n_samples
        value = values[min(max(s, 0), n_samples - 1)]
        windows[k, p] = value if inside else np.float32(0.0)


@njit(cache=True)
def _neighbor_peaks(scratch, table, peaks, upcoming):
    """Peak sample of every pixel's neighbour sum, ``local_weight`` 0, 4 or 6 neighbours, by
    the vector search :func:`~datapipe_ops.calib.intrinsics.neighbor_peak` over the padded
    calibrated waveforms (see :func:`_scratch`).

    The sum is ctapipe's: float32, the unbroken neighbours in CSR order (missing ones add the
    zero row: +0.0 changes no sum), plus a final +0.0 that turns -0.0 into +0.0, which numpy's
    argmax treats as equal; for the same reason ctapipe's first term, the pixel's own waveform
    times 0 (+-0.0, which changes no non-zero sum), is left out. While it runs, the next
    event's waveforms (``upcoming``) are prefetched pixel by pixel.
    """
    for p in range(peaks.shape[0]):
        _prefetch_row(upcoming, p)
        if table.shape[1] == 6:
            rows6 = (table[p, 0], table[p, 1], table[p, 2], table[p, 3], table[p, 4], table[p, 5])
            peaks[p] = neighbor_peak(scratch, rows6)
        else:
            peaks[p] = neighbor_peak(scratch, (table[p, 0], table[p, 1], table[p, 2], table[p, 3]))


@njit(cache=True)
def _neighbor_peaks_scalar(scratch, weight, table, peaks, upcoming):
    """As :func:`_neighbor_peaks` for any weight, neighbour count and readout length, in a
    scalar loop: the pixel's own waveform times ``weight`` first, then the neighbours."""
    n_samples = scratch.shape[1]
    zero = np.float32(0.0)
    width = table.shape[1]
    for p in range(peaks.shape[0]):
        _prefetch_row(upcoming, p)
        best = np.int64(-(2**62))
        for s in range(n_samples):
            value = scratch[p, s] * weight
            for j in range(width):
                value += scratch[table[p, j], s]
            best = max(best, _key(value + zero, s))
        peaks[p] = INDEX_MASK - (best & INDEX_MASK)


@njit(cache=True)
def _window_sums(scratch, peaks, shift, width, total, numerator, denominator):
    """Window sum, time numerator and time denominator of every pixel's calibrated waveform,
    sample by sample in float64 as ctapipe's ``extract_around_peak`` adds them (samples outside
    the readout are left out; the time moments take only the positive samples).

    The plain reference of :func:`_window_moments_all`, and the path for windows whose sums
    are not provably exact in any order (:func:`exact_window_sums`).
    """
    n_samples = scratch.shape[1]
    for p in range(peaks.shape[0]):
        first = peaks[p] - shift
        window_total = 0.0
        window_numerator = 0.0
        window_denominator = 0.0
        for s in range(max(first, 0), min(first + width, n_samples)):
            value = np.float64(scratch[p, s])
            positive = value if value > 0.0 else 0.0
            window_total += value
            window_numerator += positive * np.float64(s)
            window_denominator += positive
        total[p] = window_total
        numerator[p] = window_numerator
        denominator[p] = window_denominator


@njit(cache=True)
def _local_peaks(raw, peaks):
    """First maximum of each pixel's own waveform, on the raw counts.

    Subtracting a pixel's pedestal (rounded to float32) keeps distinct counts distinct and in
    order, so the argmax of the raw integers is the argmax of the calibrated waveform.
    """
    n_samples = raw.shape[1]
    for p in range(peaks.shape[0]):
        first = np.int32(-(2**31))
        for s in range(n_samples):
            first = max(first, (np.int32(raw[p, s]) << INDEX_BITS) | (INDEX_MASK - s))
        peaks[p] = INDEX_MASK - (first & INDEX_MASK)


@njit(cache=True)
def _windows_raw(raw, pedestal, peaks, shift, windows, upcoming):
    """As :func:`_store_window` for every pixel, calibrating only the window's samples of the
    raw counts (float32 ``raw - pedestal``); prefetches the next event's waveforms meanwhile."""
    n_samples = raw.shape[1]
    for p in range(peaks.shape[0]):
        _prefetch_row(upcoming, p)
        first = peaks[p] - shift
        offset = pedestal[p]
        for k in range(windows.shape[0]):
            s = first + k
            inside = 0 <= s < n_samples
            value = np.float32(raw[p, min(max(s, 0), n_samples - 1)]) - offset
            windows[k, p] = value if inside else np.float32(0.0)


@njit(cache=True)
def exact_window_sums(pedestal, width, n_samples):
    """True if every window sum of these waveforms is exact in float64, in any order.

    A calibrated sample is ``float32(count - pedestal)`` with an integer count below 2**16.
    If the pedestal is 0 it is an integer; if 4 <= |pedestal| < 2**16 it is a multiple of the
    pedestal's float32 spacing (at least 2**-21) and below 2**17 in size. A window of at most
    ``LANES`` samples at indices below 2**10 then has sums (and time numerators) below 2**31 in
    multiples of 2**-21: 52 bits, within float64's 53, so no addition rounds and the order of
    the additions cannot change the result. This lets the window be summed in vector lanes
    (:func:`~datapipe_ops.calib.intrinsics.window_moments`) and still give exactly ctapipe's
    sample-by-sample float64 sums.
    """
    if width > LANES or n_samples < LANES or n_samples > MAX_SAMPLES:
        return False
    for p in range(pedestal.shape[0]):
        size = abs(pedestal[p])
        if size != 0.0 and not 4.0 <= size < 65536.0:
            return False
    return True


@njit(cache=True)
def _window_moments_all(scratch, peaks, shift, width, total, numerator, denominator):
    """:func:`_window_sums` with :func:`~datapipe_ops.calib.intrinsics.window_moments`: one
    vector load and three tree sums per pixel (only when :func:`exact_window_sums` holds, so
    that the results are identical). About 10 µs faster per LSTCam or NectarCam event than
    the sample-by-sample loop, a fifth of the stage's compute."""
    for p in range(peaks.shape[0]):
        if width <= 8:  # one AVX-512 register of doubles
            moments = window_moments(scratch, p, peaks[p] - shift, width, 8)
        else:
            moments = window_moments(scratch, p, peaks[p] - shift, width, 16)
        total[p] = moments[0]
        numerator[p] = moments[1]
        denominator[p] = moments[2]


@njit(cache=True)
def _integrate_windows(windows, peaks, shift, total, numerator, denominator):
    """Window sums and time moments, every pixel at once (vectorised over pixels).

    ctapipe's ``extract_around_peak`` arithmetic: float64 sums of the float32 samples in
    sample order; the time numerator and denominator take only the positive samples.
    """
    n_pixels = peaks.shape[0]
    for p in range(n_pixels):
        total[p] = 0.0
        numerator[p] = 0.0
        denominator[p] = 0.0
    for k in range(windows.shape[0]):
        for p in range(n_pixels):
            value = np.float64(windows[k, p])
            positive = value if value > 0.0 else 0.0  # adding +0.0 changes no sum
            total[p] += value
            numerator[p] += positive * np.float64(peaks[p] - shift + k)
            denominator[p] += positive


@njit(cache=True, inline="always")
def _pixel_result(
    total, numerator, denominator, peak, sampling_rate_ghz, correction, factor, shift
):
    """Charge and time of one pixel, with ctapipe's float32 rounding steps: window sum →
    integration correction (none if ``correction`` is None) → ADC to p.e.; weighted mean
    sample (the peak sample if no sample is positive) → ns → time offset."""
    time = np.float32(numerator / denominator) if denominator > 0.0 else np.float32(peak)
    time = np.float32(np.float64(time) / sampling_rate_ghz)
    charge = np.float32(total)
    if correction is not None:
        charge = np.float32(np.float64(charge) * correction)
    image = np.float32(np.float64(charge) * np.float64(factor))
    return image, np.float32(np.float64(time) - np.float64(shift))


@njit(cache=True)
def _finish_pixels(
    total, numerator, denominator, peaks, sampling_rate_ghz, channel, calibration, row, out, e
):
    """:func:`_pixel_result` of every pixel of event ``e`` into ``out``, with the gain channel
    ``channel[p]`` of each pixel and the coefficients of ``calibration`` row ``row``."""
    correction = calibration.correction
    factor = calibration.factor[row]
    time_shift = calibration.time_shift[row]
    image = out.image[e]
    peak_time = out.peak_time[e]
    for p in range(peaks.shape[0]):
        ch = channel[p]
        image[p], peak_time[p] = _pixel_result(
            total[p],
            numerator[p],
            denominator[p],
            peaks[p],
            sampling_rate_ghz,
            correction[ch] if calibration.apply_correction else None,
            factor[ch, p],
            time_shift[ch, p],
        )


@njit(cache=True)
def _interpolate_broken(values, broken, offsets, indices, replaced):
    """Replace broken pixels by the float32 mean of their unbroken neighbours (0 if none)."""
    n_pixels = values.shape[0]
    for p in range(n_pixels):
        if not broken[p]:
            continue
        total = np.float32(0.0)
        count = 0
        for k in range(offsets[p], offsets[p + 1]):
            neighbor = indices[k]
            if not broken[neighbor]:
                total += values[neighbor]
                count += 1
        replaced[p] = np.float32(np.float64(total) / count) if count > 0 else np.float32(0.0)
    for p in range(n_pixels):
        if broken[p]:
            values[p] = replaced[p]


@njit(cache=True)
def _scratch(n_rows, n_samples, padded):
    """The calibrated-waveform buffer: rows of ``n_samples`` float32, the last row all zero
    (the "missing neighbour"). ``padded``: rows padded to a multiple of ``LANES`` with -inf
    (never a maximum) and the buffer aligned to 64 bytes, so that every vector load of
    :func:`~datapipe_ops.calib.intrinsics.neighbor_peak` is one aligned cache line.

    Returns the whole buffer and the view of its first ``n_samples`` columns.
    """
    stride = (n_samples + LANES - 1) // LANES * LANES if padded else n_samples
    buffer = np.full(n_rows * stride + LANES, -np.inf, dtype=np.float32)
    start = (-(buffer.ctypes.data // 4)) % LANES if padded else 0
    full = buffer[start : start + n_rows * stride].reshape(n_rows, stride)
    if n_rows:
        full[n_rows - 1, :n_samples] = 0.0
    return full, full[:, :n_samples]


class Calibration(NamedTuple):
    """CalibPipe coefficients of a chunk, as the compiled extraction takes them: arrays
    ``(n_rows, n_channels, n_pixels)``, the row of each event, the gain channel of each pixel
    of each event (``(0, 0)``: channel 0 everywhere) and the integration correction."""

    pedestal: np.ndarray
    factor: np.ndarray
    time_shift: np.ndarray
    outlier: np.ndarray
    rows: np.ndarray
    gain_channel: np.ndarray
    correction: np.ndarray
    apply_correction: bool


class Window(NamedTuple):
    """The extractor (a :data:`METHODS` code) and its integration window, in samples."""

    method: int
    width: int
    shift: int
    fixed_peak: int
    local_weight: int


class Neighbors(NamedTuple):
    """The camera's neighbour relation as sorted CSR arrays (int32)."""

    offsets: np.ndarray
    indices: np.ndarray


class Images(NamedTuple):
    """The outputs: float32 ``(n_events, n_pixels)`` charge and peak time."""

    image: np.ndarray
    peak_time: np.ndarray


@njit(cache=True)
def _extract_chunk(waveforms, calibration, window, neighbors, sampling_rate_ghz, out):
    n_events, n_pixels, n_samples = waveforms.shape
    offsets, indices = neighbors.offsets, neighbors.indices
    width, shift = window.width, window.shift
    by_neighbors = window.method == 0
    table_width = 0
    for p in range(n_pixels):
        table_width = max(table_width, offsets[p + 1] - offsets[p])
    vector = (
        window.local_weight == 0 and n_samples >= LANES and (table_width == 4 or table_width == 6)
    )
    full, scratch = _scratch(n_pixels + 1 if by_neighbors else 0, n_samples, vector)
    table = np.empty((n_pixels, table_width), dtype=np.int32)
    peaks = np.empty(n_pixels, dtype=np.int64)
    windows = np.empty((max(width, 0), n_pixels), dtype=np.float32)
    total = np.empty(n_pixels, dtype=np.float64)
    numerator = np.empty(n_pixels, dtype=np.float64)
    denominator = np.empty(n_pixels, dtype=np.float64)
    replaced = np.empty(n_pixels, dtype=np.float32)
    channel = np.zeros(n_pixels, dtype=np.int64)
    event_pedestal = np.empty(n_pixels, dtype=np.float32)
    broken = np.zeros(n_pixels, dtype=np.bool_)
    table_broken = np.zeros(n_pixels, dtype=np.bool_)
    neighbor_table(offsets, indices, table_broken, n_pixels, table)
    gain_channel = calibration.gain_channel
    has_gain = gain_channel.shape[0] > 0
    weight = np.float32(window.local_weight)
    previous_row = -1
    row = 0
    any_broken = False
    exact = False
    for e in range(n_events):
        row = calibration.rows[e]
        if has_gain or row != previous_row:  # per-pixel coefficients of this event
            previous_row = row
            any_broken = False
            changed = False
            for p in range(n_pixels):
                channel[p] = gain_channel[e, p] if has_gain else 0
                event_pedestal[p] = calibration.pedestal[row, channel[p], p]
                broken[p] = calibration.outlier[row, channel[p], p]
                any_broken = any_broken or broken[p]
                changed = changed or broken[p] != table_broken[p]
            if changed:
                table_broken[:] = broken
                neighbor_table(offsets, indices, table_broken, n_pixels, table)
            exact = exact_window_sums(event_pedestal, width, n_samples)
        raw = waveforms[e]
        upcoming = waveforms[min(e + 1, n_events - 1)]
        if by_neighbors:
            _calibrated_waveforms(raw, event_pedestal, full)
            if vector:
                _neighbor_peaks(full, table, peaks, upcoming)
            else:
                _neighbor_peaks_scalar(scratch, weight, table, peaks, upcoming)
            if exact:
                _window_moments_all(scratch, peaks, shift, width, total, numerator, denominator)
            else:
                _window_sums(scratch, peaks, shift, width, total, numerator, denominator)
        else:
            if window.method == 1:
                _local_peaks(raw, peaks)
            else:
                peaks[:] = window.fixed_peak
            _windows_raw(raw, event_pedestal, peaks, shift, windows, upcoming)
            _integrate_windows(windows, peaks, shift, total, numerator, denominator)
        _finish_pixels(
            total, numerator, denominator, peaks, sampling_rate_ghz, channel, calibration, row,
            out, e,
        )  # fmt: skip
        if any_broken:
            _interpolate_broken(out.image[e], broken, offsets, indices, replaced)
            _interpolate_broken(out.peak_time[e], broken, offsets, indices, replaced)


def _coefficient(array: np.ndarray | None, n_pixels: int, fill: float, dtype: type) -> np.ndarray:
    """A coefficient as ``(n_rows, n_channels, n_pixels)``; None becomes one neutral row."""
    if array is None:
        return np.full((1, 1, n_pixels), fill, dtype=dtype)
    array = np.asarray(array, dtype=dtype)
    if array.ndim == 1:
        array = array[np.newaxis, np.newaxis]
    elif array.ndim == 2:
        array = array[np.newaxis]
    if array.ndim != 3 or array.shape[-1] != n_pixels:
        raise ValueError(f"coefficients of shape {array.shape} do not fit {n_pixels} pixels")
    return np.ascontiguousarray(array)


def _same_shape(coefficients: list[np.ndarray]) -> list[np.ndarray]:
    """The coefficients with a single row or gain channel repeated to match the others."""
    shape = tuple(max(c.shape[axis] for c in coefficients) for axis in range(3))
    try:
        return [np.ascontiguousarray(np.broadcast_to(c, shape)) for c in coefficients]
    except ValueError:
        shapes = sorted({c.shape[:2] for c in coefficients})
        raise ValueError(f"coefficients of (rows, channels) {shapes} do not match") from None


def extract_images(
    waveforms: np.ndarray,
    neighbor_offsets: np.ndarray,
    neighbor_indices: np.ndarray,
    sampling_rate_ghz: float,
    *,
    method: Method = "neighbor_peak_window_sum",
    window_width: int = 7,
    window_shift: int = 3,
    peak_index: int = 0,
    local_weight: int = 0,
    correction: np.ndarray | None = None,
    pedestal_offset: np.ndarray | None = None,
    factor: np.ndarray | None = None,
    time_shift_ns: np.ndarray | None = None,
    outlier_mask: np.ndarray | None = None,
    rows: np.ndarray | None = None,
    gain_channel: np.ndarray | None = None,
    out: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Calibrated images and peak times of a chunk of events of one telescope.

    Parameters
    ----------
    waveforms
        ``(n_events, n_pixels, n_samples)`` raw ADC counts (integers of at most 16 bits, as
        DL0 stores them).
    neighbor_offsets, neighbor_indices
        The camera's neighbour relation as sorted CSR arrays.
    sampling_rate_ghz
        Readout sampling rate [GHz].
    method, window_width, window_shift, peak_index, local_weight
        The extractor and its window (see the module docstring).
    correction
        Integration correction per gain channel (:func:`integration_correction`); None: none.
    pedestal_offset, factor, time_shift_ns, outlier_mask
        CalibPipe coefficients ``(n_rows, n_channels, n_pixels)`` (or one row as
        ``(n_channels, n_pixels)``): pedestal per sample [ADC], p.e. per ADC count, peak-time
        offset [ns], broken pixels. None: 0, 1, 0 and no broken pixel.
    rows
        int64 ``(n_events,)``: the coefficient row valid for each event (default: row 0).
    gain_channel
        ``(n_events, n_pixels)`` selected gain channel per pixel (default: channel 0).
    out
        Two C-contiguous float32 ``(n_events, n_pixels)`` arrays to write image and peak time
        into (reused from chunk to chunk, they spare the page faults of fresh arrays, several
        microseconds per event); default: new ones.

    Returns
    -------
    image, peak_time
        float32 ``(n_events, n_pixels)``: charge [p.e. if a factor is given] and peak time [ns].
    """
    waveforms = np.ascontiguousarray(waveforms)
    if waveforms.ndim != 3:
        raise ValueError(
            f"waveforms must be (n_events, n_pixels, n_samples), got {waveforms.shape}"
        )
    if waveforms.dtype.kind not in "ui" or waveforms.dtype.itemsize > 2:
        raise ValueError(f"waveforms must be ADC counts of at most 16 bits, not {waveforms.dtype}")
    if waveforms.shape[2] > MAX_SAMPLES:
        raise ValueError(f"at most {MAX_SAMPLES} samples per waveform, got {waveforms.shape[2]}")
    if method not in METHODS:
        raise ValueError(f"unknown extraction method {method!r}, use one of {sorted(METHODS)}")
    n_events, n_pixels, _ = waveforms.shape
    pedestal, gain, shift, broken = _same_shape(
        [
            _coefficient(pedestal_offset, n_pixels, 0.0, np.float32),
            _coefficient(factor, n_pixels, 1.0, np.float32),
            _coefficient(time_shift_ns, n_pixels, 0.0, np.float32),
            _coefficient(outlier_mask, n_pixels, False, np.bool_),
        ]
    )
    rows = np.zeros(n_events, np.int64) if rows is None else np.asarray(rows, np.int64)
    if rows.shape != (n_events,) or (n_events and not 0 <= rows.min() <= rows.max() < len(gain)):
        raise ValueError("rows must give a valid coefficient row for every event")
    channels = (
        np.zeros((0, 0), np.int64) if gain_channel is None else np.asarray(gain_channel, np.int64)
    )
    n_channels = gain.shape[1]
    if gain_channel is not None and (
        channels.shape != (n_events, n_pixels)
        or (channels.size and not 0 <= channels.min() <= channels.max() < n_channels)
    ):
        raise ValueError(f"gain_channel must be (n_events, n_pixels) channels below {n_channels}")
    corr = np.ones(n_channels) if correction is None else np.asarray(correction, np.float64)
    if corr.shape != (n_channels,) and corr.shape != (1,) * corr.ndim:
        raise ValueError(f"correction must give one factor per gain channel ({n_channels})")
    corr = np.broadcast_to(corr.ravel(), (n_channels,)).copy()
    image, peak_time = (
        output_array(array, (n_events, n_pixels), np.float32) for array in (out or (None, None))
    )
    calibration = Calibration(
        pedestal, gain, shift, broken, rows, channels, corr, correction is not None
    )
    window = Window(
        METHODS[method], int(window_width), int(window_shift), int(peak_index), int(local_weight)
    )
    neighbors = Neighbors(
        np.asarray(neighbor_offsets, np.int32), np.asarray(neighbor_indices, np.int32)
    )
    out = Images(image, peak_time)
    _extract_chunk(waveforms, calibration, window, neighbors, float(sampling_rate_ghz), out)
    return image, peak_time
