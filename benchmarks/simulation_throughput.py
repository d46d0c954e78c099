"""Throughput of ``datapipe simulate``: triggered LSTCam telescope-events per second per core.

Measured in this run, on this machine (CPU time of this single-threaded process, so the number
is per core even when other processes share the machine):

1. **simulation** — showers → images → trigger → full uint16 waveforms (1855 pixels × 40
   samples) for every triggered LST event, in memory;
2. **simulation + DL0 file** — the same through ``simulate_run``, writing the HDF5 product
   (true images, tables and the waveforms, compressed with blosc-lz4 — the data model's default —
   lzf, szip, or not at all: compression is what the file costs);
3. **waveform kernel** vs **numpy reference** — the numba waveform synthesis against a plain
   numpy implementation of the same arithmetic on the same events (and a check that both give
   the same signal), the reference the issue asks ratios against.

Usage::

    .venv/bin/python benchmarks/simulation_throughput.py [--showers 20000]

Target (issue 3): ≥ 2,000 triggered telescope-events / s / core with full waveforms.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from datapipe_ops.instrument import load_site, load_subarray
from datapipe_ops.simulation.config import SimulationConfig
from datapipe_ops.simulation.pipeline import build_array, simulate_batch
from datapipe_ops.simulation.production import file_seed, simulate_run
from datapipe_ops.simulation.showers import pointing_basis, sample_showers

TARGET = 2000.0


def lst_config(n_showers: int) -> SimulationConfig:
    """One LST (tel 1 of the demo subarray), mono trigger, photons 0.4 deg off-axis."""
    return SimulationConfig.model_validate(
        {
            "name": "benchmark",
            "subarray": "demo",
            "telescopes": [1],
            "trigger": {"min_telescopes": 1},
            "chunk_size": 2000,
            "pointing": {"zenith_deg": 20.0},
            "particles": [
                {
                    "name": "gamma",
                    "particle": "gamma",
                    "n_showers": n_showers,
                    "energy": {"min_tev": 0.03, "max_tev": 30.0, "index": -2.0},
                    "max_scatter_range_m": 200.0,
                    "offset_deg": 0.4,
                }
            ],
        }
    )


def numpy_waveforms(tel, start: int, stop: int, seed: int) -> np.ndarray:
    """The reference: the same waveform model as the numba kernel, in vectorised numpy."""
    model = tel.model
    truth = model.truths[tel.tel_id]
    settings = model.settings
    pulse = model.pulse
    rng = np.random.default_rng(seed)
    n_pix, n_samples, dt = model.n_pixels, model.n_samples, model.sample_ns
    block = n_pix * n_samples
    grid = pulse.start_ns + np.arange(pulse.cdf.size) * pulse.step_ns
    edges = np.arange(n_samples + 1) * dt
    out = np.empty((stop - start, n_pix, n_samples), np.uint16)
    for row, event in enumerate(range(start, stop)):
        o_nsb = rng.integers(0, model.nsb_stream.size - block)
        o_noise = rng.integers(0, model.noise_stream.size - block)
        nsb = model.nsb_stream[o_nsb : o_nsb + block].reshape(n_pix, n_samples)
        noise = model.noise_stream[o_noise : o_noise + block].reshape(n_pix, n_samples)
        gain = np.where(truth.dead, 0.0, truth.gain_adc_per_pe)
        trace = truth.pedestal_adc[:, None] + gain[:, None] * nsb + noise
        pe = tel.true_image[event]
        lit = np.flatnonzero((pe > 0) & ~truth.dead)
        n = pe[lit]
        charge = np.maximum(
            n + settings.spe_resolution * np.sqrt(n) * rng.standard_normal(n.size), 0
        )
        t_peak = (
            settings.window_offset_ns
            + rng.random() * dt
            + tel.peak_time[event, lit]
            + truth.time_offset_ns[lit]
        )
        cdf = np.interp(edges[None, :] - t_peak[:, None], grid, pulse.cdf, left=0.0, right=1.0)
        trace[lit] += (truth.gain_adc_per_pe[lit] * charge)[:, None] * np.diff(cdf, axis=1)
        out[row] = np.clip(np.floor(trace + 0.5), 0, settings.adc_max).astype(np.uint16)
    return out


def measure_simulation(config: SimulationConfig, n_showers: int) -> tuple[float, float, int]:
    """(CPU s, wall s, triggered LST events) of showers → waveforms in memory."""
    subarray = load_subarray("demo").select([1])
    array = build_array(
        subarray, config, load_site(subarray.site).height_m, np.random.SeedSequence(1)
    )
    basis = pointing_basis(np.deg2rad(70.0), 0.0)
    component = config.particles[0]
    energy = (component.energy.min_tev, component.energy.max_tev, component.energy.index)

    def one_batch(rng: np.random.Generator, n: int):
        showers = sample_showers(
            rng,
            n,
            "gamma",
            energy,
            component.max_scatter_range_m,
            basis,
            config.physics,
            offset_deg=component.offset_deg,
        )
        events = simulate_batch(rng, showers, array, config, basis)
        tel = events.telescopes[1]
        for _ in tel.waveform_blocks():
            pass
        return tel

    one_batch(np.random.default_rng(0), 200)  # compile / load the numba caches
    cpu, wall = time.process_time(), time.perf_counter()
    n_events = 0
    last = None
    for batch, first in enumerate(range(0, n_showers, config.chunk_size)):
        last = one_batch(
            np.random.default_rng(batch + 1), min(config.chunk_size, n_showers - first)
        )
        n_events += len(last)
    return time.process_time() - cpu, time.perf_counter() - wall, n_events, last


def measure_file(config: SimulationConfig, compression: str, n_showers: int) -> tuple:
    """(tel-events, CPU s, wall s, KiB per tel-event) of ``simulate_run`` writing a DL0 file."""
    config = config.model_copy(update={"waveform_compression": compression})
    component = config.particles[0]
    with tempfile.TemporaryDirectory() as tmp:
        output = Path(tmp) / "bench.dl0.h5"
        simulate_run(
            config,
            component,
            output,
            file_seed(1, "gamma", 0),
            1,
            n_showers=300,
            show_progress=False,
        )  # warm up
        cpu, wall = time.process_time(), time.perf_counter()
        summary = simulate_run(
            config,
            component,
            output,
            file_seed(2, "gamma", 0),
            1,
            n_showers=n_showers,
            show_progress=False,
        )
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        size = output.stat().st_size / max(summary.n_tel_events, 1) / 1024
    return summary.n_tel_events, cpu, wall, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--showers", type=int, default=20000, help="showers, in memory")
    parser.add_argument("--file-showers", type=int, default=6000, help="showers, per file test")
    args = parser.parse_args()
    config = lst_config(args.showers)

    cpu, wall, n_events, tel = measure_simulation(config, args.showers)
    rate_sim = n_events / cpu
    compressions = ("blosc-lz4", "lzf", "szip", "none")
    files = {c: measure_file(config, c, args.file_showers) for c in compressions}

    # kernel vs numpy reference on the last batch's events, both in blocks of 64 events that
    # are consumed and dropped (as when writing a file); the closure check is not timed
    truth = tel.model.truths[1]
    n_ref = len(tel)
    unsaturated = (tel.true_image > 50) & (tel.true_image < 500)
    expected = (tel.true_image * truth.gain_adc_per_pe[None, :])[unsaturated].sum()

    def timed(blocks) -> tuple[float, float]:
        cpu_s, total, first = 0.0, 0.0, 0
        start = time.process_time()
        for block in blocks:
            cpu_s += time.process_time() - start
            pixels = (block - truth.pedestal_adc[None, :, None]).sum(axis=2)
            total += float(pixels[unsaturated[first : first + len(block)]].sum())
            first += len(block)
            start = time.process_time()
        return cpu_s, total / expected

    cpu_kernel, kernel_closure = timed(tel.waveform_blocks())
    cpu_reference, reference_closure = timed(
        numpy_waveforms(tel, a, min(a + 64, n_ref), seed=a) for a in range(0, n_ref, 64)
    )

    print("LSTCam, 1855 pixels x 40 samples, photons 0.03-30 TeV off-axis 0.4 deg")
    print(
        f"{'':38s}{'tel-events':>11s}{'CPU s':>9s}{'wall s':>9s}{'events/s/core':>15s}"
        f"{'vs target':>11s}"
    )
    rows = [("simulation (waveforms in memory)", n_events, cpu, wall)]
    rows += [(f"simulation + DL0 file ({c})", n, c_s, w_s) for c, (n, c_s, w_s, _) in files.items()]
    for label, n, cpu_s, wall_s in rows:
        rate = n / cpu_s
        print(f"{label:38s}{n:11d}{cpu_s:9.2f}{wall_s:9.2f}{rate:15.0f}{rate / TARGET:10.2f}x")
    for label, seconds in (
        ("waveform kernel (numba)", cpu_kernel),
        ("waveform reference (numpy)", cpu_reference),
    ):
        print(f"{label:38s}{n_ref:11d}{seconds:9.3f}{'':9s}{n_ref / seconds:15.0f}")
    print(
        f"kernel / numpy reference speed: {cpu_reference / cpu_kernel:.1f}x; "
        f"signal / (true p.e. x gain) in pixels of 50-500 p.e.: kernel {kernel_closure:.3f}, "
        f"reference {reference_closure:.3f}"
    )
    sizes = ", ".join(f"{c} {v[3]:.0f}" for c, v in files.items())
    print(f"DL0 file size, KiB per telescope-event: {sizes}")
    with_file = ", ".join(
        f"{c} {'met' if v[0] / v[1] >= TARGET else 'NOT met'}" for c, v in files.items()
    )
    print(
        f"target {TARGET:.0f} triggered telescope-events/s/core: "
        f"{'met' if rate_sim >= TARGET else 'NOT met'} by the simulation; "
        f"with the DL0 file written: {with_file}"
    )


if __name__ == "__main__":
    main()
