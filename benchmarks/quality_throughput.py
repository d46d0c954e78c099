"""Quality metrics throughput: ``datapipe quality dl0`` and ``dl1`` on one simulated run.

Simulates one gamma-diffuse run of the demo subarray (``--showers``), calibrates it to DL1,
then times the metrics (best of ``--repeat``, after the kernels are compiled). The reference,
measured in the same run: reading every waveform chunk of the DL0 file and nothing else (the
I/O and decompression floor of any DL0 pass). Printed: telescope events per second, MB of
waveforms per second, and the ratio of the DL0 metrics' time to the bare read (1.0 would mean
the metrics cost nothing beyond reading).

Usage::

    .venv/bin/python benchmarks/quality_throughput.py [--showers 40000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import h5py


def best_of(repeat: int, work) -> float:
    """The shortest of ``repeat`` timings of ``work()``."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return best


def read_waveforms(path: Path, chunk_size: int) -> None:
    """Read every waveform chunk of every telescope (the reference)."""
    from datapipe_ops.io import layout, open_product

    with open_product(path, level="DL0") as h5file:
        for tel in layout.tel_ids_in(h5file, layout.WAVEFORMS):
            dset = h5file[layout.tel_path(layout.WAVEFORMS, tel)]
            for start in range(0, dset.shape[0], chunk_size):
                dset[start : start + chunk_size]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--showers", type=int, default=40000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from datapipe_ops.calib.stage import dl0_to_dl1
    from datapipe_ops.io import layout
    from datapipe_ops.quality.compute import measure
    from datapipe_ops.quality.config import QualityConfig
    from testkit.simulated import demo_gamma_run

    config = QualityConfig()
    with tempfile.TemporaryDirectory() as tmp:
        dl0, coefficients = demo_gamma_run(Path(tmp) / "run.dl0.h5", args.showers)
        dl1 = Path(tmp) / "run.dl1.h5"
        dl0_to_dl1(dl0, dl1, coefficients, register=False)
        with h5py.File(dl0) as h5file:
            sets = [h5file[layout.tel_path(layout.WAVEFORMS, t)]
                    for t in layout.tel_ids_in(h5file, layout.WAVEFORMS)]  # fmt: skip
            n_events = sum(d.shape[0] for d in sets)
            megabytes = sum(d.size * d.dtype.itemsize for d in sets) / 1e6
        measure(dl0, "DL0", config)  # compile the kernels
        reference = best_of(args.repeat, lambda: read_waveforms(dl0, config.chunk_size))
        dl0_time = best_of(args.repeat, lambda: measure(dl0, "DL0", config))
        dl1_time = best_of(args.repeat, lambda: measure(dl1, "DL1", config))
    print(f"{n_events} telescope events, {megabytes:.0f} MB of waveforms")
    print(f"reference (read the waveforms): {reference:.2f} s, {megabytes / reference:.0f} MB/s")
    print(
        f"quality dl0: {dl0_time:.2f} s, {n_events / dl0_time:.0f} telescope events/s, "
        f"{megabytes / dl0_time:.0f} MB/s, ratio to the bare read {dl0_time / reference:.2f}"
    )
    print(f"quality dl1: {dl1_time:.3f} s, {n_events / dl1_time:.0f} telescope events/s")


if __name__ == "__main__":
    main()
