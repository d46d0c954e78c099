"""Stereo geometry: DataPipe's HillasIntersection against ctapipe 0.32's HillasReconstructor.

Both run on the same DL1 events (a simulated production of diffuse gammas of the demo subarray,
or ``--dl1``), one core each (NUMBA_NUM_THREADS = OMP_NUM_THREADS = 1, set before any import).
Printed:

1. geometry events/s: DataPipe's compiled kernel on a chunk in memory (the stage's compute),
   the whole ``dl1-to-dl2`` stage from file to file (on the DL1 and on ``--copies`` copies of
   it merged into one product), and ctapipe event by event, with the ratios (target: kernel
   ≥ 1000× ctapipe);
2. per true-energy bin: the events, valid fractions and the angular resolution (68 %
   containment of the angle to the true direction) of both — equal by construction, since the
   definitions are ctapipe's (the per-event agreement is tested in tests/reco);
3. with ``--plot FILE``: the angular resolution curves as a PNG.

Usage::

    python benchmarks/dl1_to_dl2_vs_ctapipe.py [--n-showers 20000] [--dl1 FILE]
        [--ctapipe-events 600] [--plot resolution.png]
"""

from __future__ import annotations

import os

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import importlib.util
import itertools
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from datapipe_ops.instrument.frames import horizontal_to_telescope
from datapipe_ops.io import open_product
from datapipe_ops.merge.stage import merge_products
from datapipe_ops.reco.config import DL1ToDL2Config
from datapipe_ops.reco.events import EventReader
from datapipe_ops.reco.geometry import ArrayGeometry, reconstruct_chunk
from datapipe_ops.reco.stage import dl1_to_dl2
from testkit.simulated import demo_dl1_run, renumbered_copy

ROOT = Path(__file__).resolve().parents[1]
ENERGY_EDGES_TEV = np.array([0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 100.0])


def reference_module():
    """tests/reco/ctapipe_reference.py: ctapipe's HillasReconstructor on a DL1 product."""
    path = ROOT / "tests" / "reco" / "ctapipe_reference.py"
    spec = importlib.util.spec_from_file_location("ctapipe_reference", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def angular_error(alt, az, true_alt, true_az) -> np.ndarray:
    lon, lat = horizontal_to_telescope(alt, az, true_alt, true_az)
    return np.hypot(lon, lat)


def containment_68(errors: np.ndarray) -> float:
    return float(np.percentile(errors, 68)) if errors.size >= 5 else float("nan")


def datapipe_kernel(dl1: Path, repeats: int) -> tuple[dict, float, object]:
    """Geometry of every event (one chunk in memory); best events/s over ``repeats``."""
    config = DL1ToDL2Config()
    with open_product(dl1) as h5:
        reader = EventReader(h5, chunk_size=10**7)
        (chunk,) = list(reader)
        array = ArrayGeometry.from_subarray(reader.subarray)
    reconstruct_chunk(chunk, array, config.geometry)  # compile outside the timing
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        result = reconstruct_chunk(chunk, array, config.geometry)
        best = min(best, time.perf_counter() - start)
    return result, chunk.n_events / best, chunk


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-showers", type=int, default=20000)
    parser.add_argument("--dl1", type=Path, help="use this DL1 product instead of simulating")
    parser.add_argument(
        "--ctapipe-events", type=int, default=None, help="events for ctapipe (default: all)"
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--copies", type=int, default=20, help="copies merged for the large-file stage timing"
    )
    parser.add_argument("--plot", type=Path, help="write the resolution curves to this PNG")
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        dl1 = args.dl1 or demo_dl1_run(tmp, args.n_showers)["dl1"]
        result, kernel_rate, chunk = datapipe_kernel(dl1, args.repeats)
        n_events = chunk.n_events
        start = time.perf_counter()
        dl1_to_dl2(dl1, tmp / "bench.dl2.h5", register=False)
        stage_rate = n_events / (time.perf_counter() - start)
        # the stage on a bigger product: the DL1 merged with itself --copies times
        copies = [renumbered_copy(dl1, tmp / f"copy_{i}.dl1.h5", i) for i in range(args.copies)]
        merge_products(copies, tmp / "big.dl1.h5", register=False)
        start = time.perf_counter()
        dl1_to_dl2(tmp / "big.dl1.h5", tmp / "big.dl2.h5", register=False)
        big_rate = n_events * args.copies / (time.perf_counter() - start)
        reference = reference_module().reference_geometry(dl1, limit=args.ctapipe_events)
        ctapipe_rate = len(reference.alt) / reference.seconds

    print(f"DL1: {dl1.name}, {n_events} subarray events, {result.is_valid.sum()} valid geometry")
    print("\n1. geometry events/s (one core)")
    print(f"   DataPipe kernel (chunk in memory)  {kernel_rate:12.0f}")
    print(f"   DataPipe dl1-to-dl2, file to file  {stage_rate:12.0f}")
    print(
        f"   same, {args.copies} copies merged          {big_rate:12.0f}"
        f"  ({n_events * args.copies} ev; the first figure is dominated by a fixed ~1-2 s)"
    )
    print(f"   ctapipe HillasReconstructor        {ctapipe_rate:12.1f}  ({len(reference.alt)} ev)")
    print(
        f"   ratio kernel / ctapipe             {kernel_rate / ctapipe_rate:12.0f}x (target 1000x)"
    )
    print(f"   ratio stage / ctapipe              {stage_rate / ctapipe_rate:12.0f}x")
    print(f"   ratio stage (merged) / ctapipe     {big_rate / ctapipe_rate:12.0f}x")

    n_ref = len(reference.alt)
    truth = chunk.truth
    energy = truth["true_energy"]
    ours_err = angular_error(
        result.columns["alt"], result.columns["az"], truth["true_alt"], truth["true_az"]
    )
    ref_err = angular_error(
        reference.alt, reference.az, truth["true_alt"][:n_ref], truth["true_az"][:n_ref]
    )
    print("\n2. angular resolution, 68 % containment [deg] per true energy bin")
    print("   E_min-E_max [TeV]   n_events  valid(DP)  valid(ctapipe)  R68 DataPipe  R68 ctapipe")
    rows = []
    for low, high in itertools.pairwise(ENERGY_EDGES_TEV):
        in_bin = (energy >= low) & (energy < high)
        ours = ours_err[in_bin & result.is_valid]
        ref_bin = in_bin[:n_ref] & reference.is_valid
        theirs = ref_err[ref_bin]
        rows.append((np.sqrt(low * high), containment_68(ours), containment_68(theirs)))
        print(
            f"   {low:7.2f}-{high:<7.2f}  {in_bin.sum():10d}  {ours.size:9d}  {theirs.size:14d}"
            f"  {rows[-1][1]:12.3f}  {rows[-1][2]:11.3f}"
        )
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        centre, ours, theirs = np.array(rows).T
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(centre, ours, "o-", label="DataPipe HillasIntersection")
        ax.plot(centre, theirs, "x--", label="ctapipe HillasReconstructor")
        ax.set(xscale="log", xlabel="true energy [TeV]", ylabel="R68 [deg]")
        ax.legend()
        fig.tight_layout()
        fig.savefig(args.plot, dpi=120)
        print(f"\nplot: {args.plot}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
