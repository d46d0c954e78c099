"""DL0→DL1 speed against ctapipe 0.32, waveform bandwidth, and memory for growing files.

Run: ``.venv/bin/python benchmarks/dl0_to_dl1_vs_ctapipe.py [--showers 6000] [--json out.json]``

One core for everything (NUMBA_NUM_THREADS = OMP_NUM_THREADS = 1, set below before any import).
Times are CPU times of this process (``time.process_time``), the best of a few repetitions, so
other work on a shared machine disturbs them less than wall-clock times.

1. **Compute, in memory** — the same simulated DL0 waveforms (LSTCam and NectarCam telescopes of
   the demo subarray) through this stage's per-chunk work exactly as the stage runs it
   (calibration + extraction, cleaning, all image parameters, the parameter rows it writes;
   output buffers reused per telescope) and through ctapipe's ``CameraCalibrator`` →
   ``ImageProcessor`` (the extractor → tailcuts → hillas / leakage / concentration / timing /
   morphology / statistics chain), event by event as ctapipe runs. Telescope events per second
   and the ratio.
2. **Bandwidth** — waveform bytes per second read by the extraction kernel and by the whole
   chain, against ``np.copyto`` of the same uint16 array into a preallocated one (the memory
   bound of anything that reads the waveforms once).
3. **Whole stage, from file** — ``dl0_to_dl1`` on the DL0 file (HDF5 reading and
   decompression, writing, provenance), against reading the same waveforms with h5py plus the
   ctapipe chain.
4. **Peak memory** — ``dl0_to_dl1`` in a fresh process (after a warm-up run on the small
   file) on a file and on one 3 times larger, with the same chunk size: the peak resident set
   (``VmHWM``) and the peak of numpy allocations (tracemalloc) must stay flat.
5. **Where an event's time goes** — the extraction's passes timed inside one compiled loop over
   the events of one telescope per camera, with the CPU's time-stamp counter (converted to µs
   with its rate measured against ``time.perf_counter``), then cleaning and the parameters of
   the same events (CPU time).

Set ``NUMBA_CPU_NAME=haswell`` (and a fresh ``NUMBA_CACHE_DIR``) to measure code compiled for
AVX2 only.
"""

from __future__ import annotations

import os

for _variable in (
    "NUMBA_NUM_THREADS",
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
):
    os.environ[_variable] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import h5py  # noqa: E402
import hdf5plugin  # noqa: E402
import numpy as np  # noqa: E402
from llvmlite import ir  # noqa: E402
from numba import njit  # noqa: E402
from numba.core import cgutils, types  # noqa: E402
from numba.extending import intrinsic  # noqa: E402

from datapipe_ops.calib import extraction  # noqa: E402
from datapipe_ops.calib.buffers import ChunkBuffers  # noqa: E402
from datapipe_ops.calib.config import DL0ToDL1Config  # noqa: E402
from datapipe_ops.calib.stage import (  # noqa: E402
    _plan,
    clean_chunk,
    dl0_to_dl1,
    extract_chunk,
    process_chunk_arrays,
)
from datapipe_ops.image.parameters import image_parameters, parameters_rows  # noqa: E402
from datapipe_ops.io import layout, open_product  # noqa: E402
from datapipe_ops.io.instrument import read_subarray  # noqa: E402

CHUNK = 250


def simulate(path: Path, n_showers: int, seed: int = 1) -> tuple[Path, Path]:
    """A gamma run of the demo production (LST + 3 MST) and its coefficients."""
    from testkit.simulated import demo_gamma_run

    return demo_gamma_run(path, n_showers, seed=seed, obs_id=1001)


def best_cpu_time(work, repeats: int = 3) -> float:
    """Smallest CPU time of ``work()`` over ``repeats`` runs."""
    best = np.inf
    for _ in range(repeats):
        start = time.process_time()
        work()
        best = min(best, time.process_time() - start)
    return best


def telescope_groups(dl0: Path) -> dict[str, list[int]]:
    """Telescope ids with waveforms, by camera name."""
    with open_product(dl0) as h5:
        subarray = read_subarray(h5)
        groups: dict[str, list[int]] = {}
        for tel_id in layout.tel_ids_in(h5, layout.WAVEFORMS):
            groups.setdefault(subarray.telescopes[tel_id].camera.name, []).append(tel_id)
    return groups


def _reference_chain(subarray, tel_id: int, plan):
    """ctapipe's chain for one telescope, with the stage's cleaning settings."""
    from testkit.ctapipe_reference import ReferenceChain, ReferenceSettings, ctapipe_subarray

    telescope = subarray.telescopes[tel_id]
    cleaning = plan.cleaning
    settings = ReferenceSettings(
        picture_threshold=cleaning.picture_threshold_pe,
        boundary_threshold=cleaning.boundary_threshold_pe,
        min_picture_neighbors=cleaning.min_picture_neighbors,
    )
    camera = telescope.camera
    focal = telescope.optics.effective_focal_length_m
    return ReferenceChain(
        ctapipe_subarray({tel_id: (camera.geometry, camera.readout, focal)}), settings
    )


def compute_benchmark(dl0: Path, coefficients: Path, n_reference: int) -> dict[str, dict]:
    """Sections 1 and 2: ours vs ctapipe on in-memory waveforms, bandwidth vs a copy."""

    config = DL0ToDL1Config()
    results = {}
    with open_product(dl0) as h5, open_product(coefficients) as cal:
        subarray = read_subarray(h5)
        for camera, tel_ids in telescope_groups(dl0).items():
            plans = {t: _plan(t, subarray, cal, config) for t in tel_ids}
            data = {t: h5[layout.tel_path(layout.WAVEFORMS, t)][()] for t in tel_ids}

            def ours(plans=plans, data=data) -> None:
                for tel_id, waveforms in data.items():
                    rng = np.random.default_rng(0)
                    rows = np.zeros(len(waveforms), np.int64)
                    # as the stage: outputs allocated once per telescope, reused by every chunk
                    buffers = ChunkBuffers.allocate(CHUNK, waveforms.shape[1])
                    for start in range(0, len(waveforms), CHUNK):
                        stop = start + CHUNK
                        *_, parameters = process_chunk_arrays(
                            waveforms[start:stop], rows[start:stop], plans[tel_id], rng, buffers
                        )
                        parameters_rows(*parameters)  # the rows the stage appends to its file

            def extraction_only(plans=plans, data=data) -> None:
                for tel_id, waveforms in data.items():
                    buffers = ChunkBuffers.allocate(CHUNK, waveforms.shape[1])
                    for start in range(0, len(waveforms), CHUNK):
                        chunk = waveforms[start : start + CHUNK]
                        image, peak_time, _ = buffers.first(len(chunk))
                        extract_chunk(plans[tel_id], chunk, out=(image, peak_time))

            copies = {t: np.empty_like(w) for t, w in data.items()}

            def copy(data=data, copies=copies) -> None:
                for tel_id, waveforms in data.items():
                    np.copyto(copies[tel_id], waveforms)

            ours()  # compile / warm up
            t_ours = best_cpu_time(ours)
            t_extract = best_cpu_time(extraction_only)
            t_copy = best_cpu_time(copy, 5)

            # ctapipe on the first n_reference events, spread over the camera's telescopes
            t_ref, n_ref = 0.0, 0
            share = max(1, n_reference // len(tel_ids))
            for tel_id, waveforms in data.items():
                series = plans[tel_id].coefficients
                row = {
                    "pedestal_offset": series.pedestal_offset[0],
                    "factor": series.factor[0],
                    "time_shift": series.time_shift_ns[0],
                    "outlier_mask": series.outlier_mask[0],
                }
                chain = _reference_chain(subarray, tel_id, plans[tel_id])
                chain.run(tel_id, waveforms[:2], row)  # warm up ctapipe's numba functions
                subset = waveforms[:share]
                t_ref += best_cpu_time(lambda c=chain, s=subset, r=row, t=tel_id: c.run(t, s, r), 2)
                n_ref += len(subset)

            n = sum(len(w) for w in data.values())
            nbytes = sum(w.nbytes for w in data.values())
            first = next(iter(data.values()))
            results[camera] = {
                "n_telescope_events": n,
                "n_pixels": int(first.shape[1]),
                "n_samples": int(first.shape[2]),
                "ours_events_per_s": n / t_ours,
                "ctapipe_events_per_s": n_ref / t_ref,
                "ctapipe_events_timed": n_ref,
                "ratio": (n / t_ours) / (n_ref / t_ref),
                "ours_us_per_event": 1e6 * t_ours / n,
                "extraction_us_per_event": 1e6 * t_extract / n,
                "ctapipe_ms_per_event": 1e3 * t_ref / n_ref,
                "copy_gb_per_s": nbytes / t_copy / 1e9,
                "extraction_gb_per_s": nbytes / t_extract / 1e9,
                "chain_gb_per_s": nbytes / t_ours / 1e9,
                "extraction_share_of_copy": t_copy / t_extract,
                "chain_share_of_copy": t_copy / t_ours,
            }
    return results


@intrinsic
def _cycle_counter(typingctx):
    """The CPU's time-stamp counter (``llvm.readcyclecounter``)."""

    def codegen(context, builder, signature, args):
        function = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.IntType(64), []), "llvm.readcyclecounter"
        )
        return builder.call(function, [])

    return types.int64(), codegen


def _cycles_per_us() -> float:
    """Rate of the time-stamp counter, against ``time.perf_counter`` over 0.2 s."""
    counter = njit(lambda: _cycle_counter())
    counter()
    start_cycles, start = counter(), time.perf_counter()
    time.sleep(0.2)
    return (counter() - start_cycles) / (time.perf_counter() - start) / 1e6


@njit  # benchmark-only loop, compiled per run
def _timed_passes(waveforms, pedestal, table, calibration, shift, width, plain_sums, cycles):
    """The neighbour-peak extraction of every event, each pass's cycles added to ``cycles``;
    ``plain_sums``: the window sums by the plain loop instead of the vector operation."""
    n_events, n_pixels, n_samples = waveforms.shape
    full, scratch = extraction._scratch(n_pixels + 1, n_samples, True)
    peaks = np.empty(n_pixels, np.int64)
    total = np.empty(n_pixels)
    numerator = np.empty(n_pixels)
    denominator = np.empty(n_pixels)
    out = extraction.Images(
        np.empty((n_events, n_pixels), np.float32), np.empty((n_events, n_pixels), np.float32)
    )
    channel = np.zeros(n_pixels, np.int64)
    for e in range(n_events):
        upcoming = waveforms[min(e + 1, n_events - 1)]
        t0 = _cycle_counter()
        extraction._calibrated_waveforms(waveforms[e], pedestal, full)
        t1 = _cycle_counter()
        extraction._neighbor_peaks(full, table, peaks, upcoming)
        t2 = _cycle_counter()
        if plain_sums:
            extraction._window_sums(scratch, peaks, shift, width, total, numerator, denominator)
        else:
            extraction._window_moments_all(
                scratch, peaks, shift, width, total, numerator, denominator
            )
        t3 = _cycle_counter()
        extraction._finish_pixels(
            total, numerator, denominator, peaks, 1.0, channel, calibration, 0, out, e
        )
        t4 = _cycle_counter()
        cycles[0] += t1 - t0
        cycles[1] += t2 - t1
        cycles[2] += t3 - t2
        cycles[3] += t4 - t3


STEPS = ("calibration", "neighbour search", "window sums", "coefficients", "cleaning", "parameters")
#: CPU time of the extraction passes per event with the vector window sums and with the plain
#: loop they replace (same events), the measure of what the hand-written vector code saves
VECTOR_CPU, PLAIN_CPU = "extraction, vector window sums", "extraction, plain window sums"


def step_breakdown(dl0: Path, coefficients: Path) -> dict[str, dict[str, float]]:
    """Section 5: µs per telescope event of each step, first telescope of each camera."""
    config = DL0ToDL1Config()
    rate = _cycles_per_us()
    results = {}
    with open_product(dl0) as h5, open_product(coefficients) as cal:
        subarray = read_subarray(h5)
        for camera, tel_ids in telescope_groups(dl0).items():
            plan = _plan(tel_ids[0], subarray, cal, config)
            ext, series, geometry = plan.extraction, plan.coefficients, plan.geometry
            waveforms = h5[layout.tel_path(layout.WAVEFORMS, tel_ids[0])][()][:CHUNK]
            n_events, n_pixels, _ = waveforms.shape
            pedestal = np.ascontiguousarray(series.pedestal_offset[0, 0], np.float32)
            if not extraction.exact_window_sums(pedestal, ext.window_width, waveforms.shape[2]):
                raise RuntimeError("the benchmark data should take the vector window sums")
            table = np.empty((n_pixels, 6), np.int32)
            extraction.neighbor_table(
                geometry.neighbor_offsets.astype(np.int32),
                geometry.neighbor_indices.astype(np.int32),
                np.zeros(n_pixels, np.bool_),
                n_pixels,
                table,
            )
            calibration = extraction.Calibration(
                pedestal[np.newaxis, np.newaxis],
                np.ascontiguousarray(series.factor[:1, :1], np.float32),
                np.ascontiguousarray(series.time_shift_ns[:1, :1], np.float32),
                np.zeros((1, 1, n_pixels), np.bool_),
                np.zeros(n_events, np.int64),
                np.zeros((0, 0), np.int64),
                np.ones(1),
                False,
            )
            args = (waveforms, pedestal, table, calibration, ext.window_shift, ext.window_width)
            cycles = np.zeros(4, np.int64)
            _timed_passes(*args, True, cycles)  # compile, warm up
            best = None
            for _ in range(5):
                cycles[:] = 0
                _timed_passes(*args, False, cycles)
                best = cycles.copy() if best is None or cycles.sum() < best.sum() else best
            passes = best / n_events / rate
            extraction_cpu = {}
            for name, plain in ((VECTOR_CPU, False), (PLAIN_CPU, True)):

                def passes_only(plain=plain, args=args, cycles=cycles) -> None:
                    _timed_passes(*args, plain, cycles)

                extraction_cpu[name] = 1e6 / n_events * best_cpu_time(passes_only, 7)
            rows = np.zeros(n_events, np.int64)
            buffers = ChunkBuffers.allocate(n_events, n_pixels)
            image, peak_time, masks = process_chunk_arrays(
                waveforms, rows, plan, np.random.default_rng(0), buffers
            )[:3]

            def clean(image=image, peak_time=peak_time, masks=masks, plan=plan):
                clean_chunk(plan, image, peak_time, out=masks)

            def parameterise(image=image, peak_time=peak_time, masks=masks, geometry=geometry):
                image_parameters(image, peak_time, masks, geometry, np.random.default_rng(0))

            seconds = [best_cpu_time(clean, 5), best_cpu_time(parameterise, 5)]
            values = [*passes[:4], *(1e6 * t / n_events for t in seconds)]
            results[camera] = dict(zip(STEPS, (float(v) for v in values), strict=True))
            results[camera].update(extraction_cpu)
    return results


def filter_name(dset: h5py.Dataset) -> str:
    """The dataset's HDF5 filters by name (plugin filters such as Blosc included)."""
    names = {
        str(hdf5plugin.BLOSC_ID): "blosc",
        str(hdf5plugin.BLOSC2_ID): "blosc2",
        str(hdf5plugin.LZ4_ID): "lz4",
        str(hdf5plugin.ZSTD_ID): "zstd",
    }
    filters = [names.get(str(key), str(key)) for key in dset._filters]
    return "+".join(filters) or "none"


def _stage_time(dl0: Path, coefficients: Path) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.dl1.h5"
        dl0_to_dl1(dl0, out, coefficients, register=False, overwrite=True)  # warm up
        return best_cpu_time(
            lambda: dl0_to_dl1(dl0, out, coefficients, register=False, overwrite=True), 2
        )


def _n_telescope_events(dl0: Path) -> int:
    with h5py.File(dl0) as h5:
        return sum(
            h5[layout.tel_path(layout.WAVEFORMS, t)].shape[0]
            for t in layout.tel_ids_in(h5, layout.WAVEFORMS)
        )


def stage_benchmark(
    dl0: Path,
    coefficients: Path,
    n_reference: int,
    ref_ms: dict,
    small: tuple[Path, Path] | None = None,
) -> dict:
    """Section 3: the whole stage from the file, vs h5py reading + ctapipe's chain.

    With ``small`` (a second, smaller file of the same production), the stage time is also
    split into a fixed cost per file (opening, instrument, hashing the inputs for the
    provenance, table headers) and a marginal cost per telescope event:
    ``t = fixed + n * marginal``, from the two files.
    """
    groups = telescope_groups(dl0)
    t_stage = _stage_time(dl0, coefficients)
    with h5py.File(dl0) as h5:
        waves = [h5[layout.tel_path(layout.WAVEFORMS, t)] for ids in groups.values() for t in ids]
        t_read = best_cpu_time(lambda: [w[()] for w in waves], 2)
        n_by_camera = {
            camera: sum(h5[layout.tel_path(layout.WAVEFORMS, t)].shape[0] for t in ids)
            for camera, ids in groups.items()
        }
        compression = filter_name(waves[0])
    n_total = sum(n_by_camera.values())
    t_ctapipe = t_read + sum(1e-3 * ref_ms[c] * n for c, n in n_by_camera.items())
    result = {
        "n_telescope_events": n_total,
        "stage_events_per_s": n_total / t_stage,
        "ctapipe_from_file_events_per_s": n_total / t_ctapipe,
        "ratio": t_ctapipe / t_stage,
        "hdf5_read_us_per_event": 1e6 * t_read / n_total,
        "stage_us_per_event": 1e6 * t_stage / n_total,
        "read_share_of_stage": t_read / t_stage,
        "waveform_compression": compression,
    }
    if small is not None:
        n_small = _n_telescope_events(small[0])
        t_small = _stage_time(*small)
        if n_total > n_small:
            marginal = (t_stage - t_small) / (n_total - n_small)
            result["marginal_us_per_event"] = 1e6 * marginal
            result["fixed_ms_per_file"] = 1e3 * (t_stage - marginal * n_total)
            result["marginal_ratio"] = (t_ctapipe / n_total) / marginal
    return result


MEMORY_PROBE = """
import os, sys, tracemalloc
os.environ["NUMBA_NUM_THREADS"] = "1"
from datapipe_ops.calib.config import DL0ToDL1Config
from datapipe_ops.calib.stage import dl0_to_dl1

def peak_rss_kib():  # VmHWM: this process's own peak (ru_maxrss would include the forked parent)
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM"))

warm_dl0, warm_coefficients, dl0, coefficients, out, chunk = sys.argv[1:]
config = DL0ToDL1Config(chunk_size=int(chunk))
dl0_to_dl1(warm_dl0, out, warm_coefficients, config, register=False)  # imports, numba cache
before = peak_rss_kib()
tracemalloc.start()
dl0_to_dl1(dl0, out, coefficients, config, register=False, overwrite=True)
traced = tracemalloc.get_traced_memory()[1]
print(before, peak_rss_kib(), traced)
"""


def peak_memory_mib(
    warm: tuple[Path, Path], dl0: Path, coefficients: Path, chunk: int
) -> dict[str, float]:
    """Peak memory [MiB] of the stage on ``dl0`` in a fresh process, after a warm-up run.

    ``rss_before`` / ``rss_after``: peak resident set (VmHWM) after the warm-up run and after the
    run on ``dl0`` (imports, numba's cache and HDF5 buffers are in both); ``traced``: the peak of
    the Python / numpy allocations during the run on ``dl0`` (tracemalloc).
    """
    with tempfile.TemporaryDirectory() as tmp:
        result = subprocess.run(
            [
                sys.executable,
                "-c",
                MEMORY_PROBE,
                str(warm[0]),
                str(warm[1]),
                str(dl0),
                str(coefficients),
                str(Path(tmp) / "o.h5"),
                str(chunk),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
    before, after, traced = (int(v) for v in result.stdout.split()[-3:])
    return {"rss_before": before / 1024, "rss_after": after / 1024, "traced": traced / 2**20}


def waveform_mib(dl0: Path) -> float:
    with h5py.File(dl0) as h5:
        return (
            sum(
                h5[layout.tel_path(layout.WAVEFORMS, t)].nbytes
                for t in layout.tel_ids_in(h5, layout.WAVEFORMS)
            )
            / 2**20
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--showers", type=int, default=6000, help="showers of the main run")
    parser.add_argument(
        "--reference-events",
        type=int,
        default=150,
        help="telescope events per camera run through ctapipe (it is slow)",
    )
    parser.add_argument("--memory-chunk", type=int, default=16, help="chunk size, memory test")
    parser.add_argument("--workdir", type=Path, default=None, help="keep the files here")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        work = args.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        dl0, coefficients = simulate(work / "bench.dl0.h5", args.showers)
        small, small_coefficients = simulate(work / "small.dl0.h5", args.showers // 3, seed=2)

        compute = compute_benchmark(dl0, coefficients, args.reference_events)
        print("1-2. compute on in-memory waveforms, one core (CPU time)")
        header = (
            f"{'camera':10s} {'tel.ev':>7s} {'ours ev/s':>10s} {'ctapipe ev/s':>12s} "
            f"{'ratio':>6s} {'extract GB/s':>12s} {'chain GB/s':>10s} {'copy GB/s':>9s}"
        )
        print(header)
        for camera, r in compute.items():
            print(
                f"{camera:10s} {r['n_telescope_events']:7d} {r['ours_events_per_s']:10.0f} "
                f"{r['ctapipe_events_per_s']:12.1f} {r['ratio']:6.1f} "
                f"{r['extraction_gb_per_s']:12.2f} {r['chain_gb_per_s']:10.2f} "
                f"{r['copy_gb_per_s']:9.2f}"
            )
            print(
                f"{'':10s} extraction reads waveforms at {r['extraction_share_of_copy']:.0%} "
                f"of the copy bandwidth, the whole chain at {r['chain_share_of_copy']:.0%}"
            )

        ref_ms = {c: r["ctapipe_ms_per_event"] for c, r in compute.items()}
        stage = stage_benchmark(
            dl0, coefficients, args.reference_events, ref_ms, (small, small_coefficients)
        )
        print("\n3. whole stage from the DL0 file (HDF5 read + decompression included)")
        print(
            f"stage {stage['stage_events_per_s']:.0f} tel.ev/s, h5py read + ctapipe "
            f"{stage['ctapipe_from_file_events_per_s']:.0f} tel.ev/s, ratio "
            f"{stage['ratio']:.1f}; reading {stage['waveform_compression']} waveforms costs "
            f"{stage['hdf5_read_us_per_event']:.0f} us/tel.ev = "
            f"{stage['read_share_of_stage']:.0%} of the stage"
        )
        if "marginal_us_per_event" in stage:
            print(
                f"stage = {stage['fixed_ms_per_file']:.0f} ms per file + "
                f"{stage['marginal_us_per_event']:.0f} us per tel.ev (from the two files); "
                f"per-event ratio to h5py read + ctapipe {stage['marginal_ratio']:.1f}"
            )

        memory = {}
        for name, (path, coeff) in {
            "small": (small, small_coefficients),
            "large": (dl0, coefficients),
        }.items():
            memory[name] = {
                "waveform_mib": waveform_mib(path),
                **peak_memory_mib((small, small_coefficients), path, coeff, args.memory_chunk),
            }
        print(f"\n4. peak memory, chunk size {args.memory_chunk} (after a warm-up run)")
        for name, m in memory.items():
            print(
                f"{name:6s} waveforms {m['waveform_mib']:7.1f} MiB  peak RSS "
                f"{m['rss_after']:7.1f} MiB (warm-up {m['rss_before']:.1f})  peak numpy/Python "
                f"allocations {m['traced']:6.1f} MiB"
            )
        growth = memory["large"]["rss_after"] - memory["small"]["rss_after"]
        data_growth = memory["large"]["waveform_mib"] - memory["small"]["waveform_mib"]
        print(
            f"peak RSS grew by {growth:.1f} MiB while the waveforms grew by {data_growth:.1f} MiB"
        )

        steps = step_breakdown(dl0, coefficients)
        print("\n5. where a telescope event's time goes [us]")
        print(f"{'camera':10s} " + " ".join(f"{name:>16s}" for name in STEPS))
        for camera, values in steps.items():
            print(f"{camera:10s} " + " ".join(f"{values[name]:16.1f}" for name in STEPS))
        print("hand-written vector window sums against their plain loop (extraction CPU time):")
        for camera, values in steps.items():
            saved = values[PLAIN_CPU] - values[VECTOR_CPU]
            stage_us = compute[camera]["ours_us_per_event"]
            print(
                f"{camera:10s} extraction {values[VECTOR_CPU]:.1f} us/ev (plain loop "
                f"{values[PLAIN_CPU]:.1f}): saves {saved:.1f} us = {100 * saved / stage_us:.0f} % "
                f"of the stage's compute ({stage_us:.1f} us/ev, section 1)"
            )

        if args.json:
            args.json.write_text(
                json.dumps(
                    {"compute": compute, "stage": stage, "memory": memory, "steps": steps},
                    indent=2,
                )
            )


if __name__ == "__main__":
    main()
