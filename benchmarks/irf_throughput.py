"""Throughput of the IRF stages and of DL3 writing on synthetic DL2 events.

Measured in this run, on this machine:

1. **cuts + IRFs + sensitivity** — ``optimize-cuts``, ``compute-irf`` and ``sensitivity`` (the
   library calls behind the commands, catalog registration off) on about 1 M gamma and 1 M
   proton DL2 events (and 0.1 M electrons) of the toy instrument of ``tests/irf/toy_dl2.py``.
   Every public pyirf function and method is wrapped in a timer (nested pyirf calls count
   once), so each stage's wall time splits into *time inside pyirf* and *our code* (reading
   the DL2 files, joining truth, quality cuts, event-type groups, FITS writing). Target: our
   share ≤ 20 %.
One-time costs (imports, matplotlib's mathtext parser, numba compilation, astropy's first
transform) are paid before the clock starts (:func:`warm_up`).

2. **DL3 writing** — 1 M selected events: our EVENTS HDU (RA/Dec from alt/az and time with
   astropy, GADF columns and header) written gzip-compressed and uncompressed, against astropy
   writing the same final columns with ``QTable.write`` (the reference, no conversion).

Usage::

    .venv/bin/python benchmarks/irf_throughput.py [--gammas 1000000] [--protons 1000000]
"""

from __future__ import annotations

import argparse
import functools
import inspect
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.table import QTable
from astropy.time import Time

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "irf"))

import toy_dl2

TARGET_SHARE = 0.20


class PyirfClock:
    """Wall time spent inside pyirf (outermost pyirf call only)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._depth = 0

    def _wrap(self, function):
        @functools.wraps(function)
        def timed(*args, **kwargs):
            if self._depth:
                return function(*args, **kwargs)
            self._depth += 1
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start
                self._depth -= 1

        return timed

    def install(self) -> None:
        """Wrap every public function and method of pyirf's modules."""
        import pyirf.benchmarks
        import pyirf.binning
        import pyirf.coordinates
        import pyirf.cut_optimization
        import pyirf.cuts
        import pyirf.interpolation
        import pyirf.io.gadf
        import pyirf.irf
        import pyirf.sensitivity
        import pyirf.simulations
        import pyirf.spectral
        import pyirf.utils

        modules = (
            pyirf.benchmarks,
            pyirf.binning,
            pyirf.coordinates,
            pyirf.cut_optimization,
            pyirf.cuts,
            pyirf.interpolation,
            pyirf.io.gadf,
            pyirf.irf,
            pyirf.sensitivity,
            pyirf.simulations,
            pyirf.spectral,
            pyirf.utils,
        )
        done = set()
        for module in modules:
            for name in dir(module):
                value = getattr(module, name)
                owner = getattr(value, "__module__", "") or ""
                if not owner.startswith("pyirf") or name.startswith("_"):
                    continue
                if inspect.isfunction(value):
                    setattr(module, name, self._wrap(value))
                elif inspect.isclass(value) and value not in done:
                    done.add(value)
                    for attr, member in list(vars(value).items()):
                        if attr in ("__call__",) or (
                            not attr.startswith("_")
                            and (inspect.isfunction(member) or isinstance(member, classmethod))
                        ):
                            if isinstance(member, classmethod):
                                setattr(value, attr, classmethod(self._wrap(member.__func__)))
                            else:
                                setattr(value, attr, self._wrap(member))


def warm_up() -> None:
    """Pay the one-time costs before timing: imports (compiled from source when the
    environment sets PYTHONDONTWRITEBYTECODE), matplotlib's mathtext parser (log-axis tick
    labels), the numba kernels and astropy's first AltAz transform."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from astropy.coordinates import EarthLocation

    from datapipe_ops.dl3.eventlist import radec
    from datapipe_ops.irf.events import angular_separation_deg

    fig, ax = plt.subplots()
    ax.loglog([1, 10], [1, 10])
    fig.savefig(io.BytesIO(), format="png")
    plt.close(fig)
    from datapipe_ops.irf.stage import plot_sensitivity

    energy = np.array([0.1, 1.0, 10.0]) * u.TeV
    flux = np.array([1e-11, 1e-12, 1e-12]) * u.erg / (u.cm**2 * u.s)
    table = QTable(
        {
            "reco_energy_low": energy * 0.8,
            "reco_energy_high": energy * 1.2,
            "reco_energy_center": energy,
            "e2_flux_sensitivity": flux,
            "crab_e2_flux": flux * 10,
        }
    )
    with tempfile.TemporaryDirectory() as tmp:
        plot_sensitivity(table, Path(tmp) / "warm.png", "warm-up")
    zeros = np.zeros(3)
    angular_separation_deg(zeros, zeros, zeros, zeros)
    location = EarthLocation(lon=-17.892 * u.deg, lat=28.7615 * u.deg, height=2200 * u.m)
    radec(np.full(3, 70.0), np.full(3, 180.0), Time(["2026-01-15T23:00:00"] * 3), location)


def make_production(directory: Path, n_gamma: int, n_proton: int) -> dict[str, list[Path]]:
    """Toy DL2 runs with about ``n_gamma`` gamma and ``n_proton`` proton events."""
    # detected fractions of the toy at 20 deg zenith: ~0.36 (gammas), ~0.51 (protons)
    gammas = toy_dl2.write_run(
        directory / "gamma.dl2.h5", toy_dl2.Run("gamma", int(n_gamma / 0.36), obs_id=1)
    )
    protons = toy_dl2.write_run(
        directory / "proton.dl2.h5",
        toy_dl2.Run(
            "proton", int(n_proton / 0.51), obs_id=3, energy_min_tev=0.03, viewcone_deg=6.0
        ),
    )
    electrons = toy_dl2.write_run(
        directory / "electron.dl2.h5",
        toy_dl2.Run("electron", int(n_proton / 8), obs_id=4, energy_max_tev=20.0, viewcone_deg=6.0),
    )
    return {"gamma": [gammas], "proton": [protons], "electron": [electrons]}


def run_stages(files, directory: Path, clock: PyirfClock) -> list[tuple[str, float, float]]:
    """(stage, wall seconds, seconds inside pyirf) of the three IRF stages."""
    from datapipe_ops.irf import stage
    from datapipe_ops.irf.config import IRFConfig

    config = IRFConfig()
    cuts = directory / "cuts.fits"
    results = []
    calls = (
        ("optimize-cuts", lambda: stage.optimize_cuts(files, cuts, config, register=False)),
        (
            "compute-irf",
            lambda: stage.compute_irf(
                files, cuts, directory / "irf.fits.gz", config, register=False
            ),
        ),
        (
            "sensitivity",
            lambda: stage.sensitivity(files, cuts, directory / "sens.fits", config, register=False),
        ),
    )
    for name, call in calls:
        before = clock.seconds
        start = time.perf_counter()
        call()
        wall = time.perf_counter() - start
        results.append((name, wall, clock.seconds - before))
        print(
            f"  {name:14s} {wall:7.1f} s, inside pyirf {clock.seconds - before:7.1f} s, "
            f"our code {1 - (clock.seconds - before) / wall:5.1%}",
            flush=True,
        )
    return results


def selected_events(n: int, rng: np.random.Generator) -> QTable:
    """``n`` events as dl2-to-dl3 holds them after the cuts (20 min of a wobble run)."""
    start = Time("2026-01-15T23:00:00", scale="utc").tai.mjd
    return QTable(
        {
            "event_id": np.arange(1, n + 1, dtype=np.int64),
            "time": start + np.sort(rng.uniform(0, 1200, n)) / 86400.0,
            "reco_alt": rng.uniform(80.0, 84.0, n) * u.deg,
            "reco_az": rng.uniform(150.0, 210.0, n) * u.deg,
            "reco_energy": rng.uniform(0.05, 50.0, n) * u.TeV,
            "gh_score": rng.uniform(0.5, 1.0, n),
            "event_type": rng.integers(0, 3, n).astype(np.int16),
            "multiplicity": rng.integers(2, 5, n).astype(np.int16),
        }
    )


def dl3_writing(n: int, directory: Path) -> None:
    """Our EVENTS HDU written (gzip and plain) against astropy writing the same columns."""
    from astropy.coordinates import EarthLocation

    from datapipe_ops.dl3.config import DL3Config
    from datapipe_ops.dl3.eventlist import ObservationInfo, common_cards, events_hdu, radec
    from datapipe_ops.io.fits import write_fits

    rng = np.random.default_rng(5)
    events = selected_events(n, rng)
    start = Time(events["time"].min(), format="mjd", scale="tai")
    location = EarthLocation(lon=-17.892 * u.deg, lat=28.7615 * u.deg, height=2200 * u.m)
    info = ObservationInfo(
        5001,
        "Crab",
        83.633,
        22.0145,
        83.633,
        22.5145,
        location,
        Time([start.mjd], format="mjd", scale="tai"),
        Time([start.mjd + 1200 / 86400], format="mjd", scale="tai"),
    )
    config = DL3Config()
    t0 = time.perf_counter()
    times = Time(np.asarray(events["time"]), format="mjd", scale="tai")
    radec(events["reco_alt"].to_value(u.deg), events["reco_az"].to_value(u.deg), times, location)
    convert = time.perf_counter() - t0
    t0 = time.perf_counter()
    hdu = events_hdu(events, info, common_cards(info, config), config)
    build = time.perf_counter() - t0
    from astropy.io import fits

    timings = {}
    for name in ("events.fits", "events.fits.gz"):
        t0 = time.perf_counter()
        write_fits([fits.PrimaryHDU(), hdu], directory / name)
        timings[name] = time.perf_counter() - t0
    reference = QTable(hdu.data)
    for column in hdu.columns:
        if column.unit:
            reference[column.name].unit = column.unit
    for name in ("reference.fits", "reference.fits.gz"):
        t0 = time.perf_counter()
        reference.write(directory / name, format="fits", overwrite=True)
        timings[name] = time.perf_counter() - t0
    print(
        f"  RA/Dec conversion of {n} events: {convert:.2f} s "
        f"({n / convert / 1e6:.2f} M events/s); whole EVENTS HDU (conversion, columns, "
        f"header): {build:.2f} s"
    )
    for ours, ref in (("events.fits", "reference.fits"), ("events.fits.gz", "reference.fits.gz")):
        print(
            f"  write {ours:15s} {timings[ours]:6.2f} s  vs astropy QTable.write "
            f"{timings[ref]:6.2f} s  → ratio {timings[ours] / timings[ref]:.2f}"
        )
    total = build + timings["events.fits.gz"]
    print(f"  DL3 events end to end (HDU + gzip file): {n / total / 1e3:.0f} k events/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gammas", type=int, default=1_000_000)
    parser.add_argument("--protons", type=int, default=1_000_000)
    parser.add_argument("--dl3-events", type=int, default=1_000_000)
    args = parser.parse_args()
    clock = PyirfClock()
    clock.install()
    warm_up()
    with tempfile.TemporaryDirectory(prefix="irf-bench-") as tmp:
        directory = Path(tmp)
        t0 = time.perf_counter()
        files = make_production(directory, args.gammas, args.protons)
        import h5py

        from datapipe_ops.io import layout

        counts = {}
        for particle, paths in files.items():
            with h5py.File(paths[0]) as h5:
                counts[particle] = h5[layout.dl2_path("geometry", toy_dl2.GEOMETRY)].shape[0]
        print(f"synthetic DL2: {counts} events ({time.perf_counter() - t0:.0f} s to make)")
        print("1. cuts + IRFs + sensitivity (default configuration)")
        results = run_stages(files, directory, clock)
        wall = sum(r[1] for r in results)
        inside = sum(r[2] for r in results)
        share = 1 - inside / wall
        verdict = "meets" if share <= TARGET_SHARE else "MISSES"
        print(
            f"  total {wall:.1f} s, inside pyirf {inside:.1f} s, our code {share:.1%} "
            f"({verdict} the target ≤ {TARGET_SHARE:.0%})"
        )
        print("2. DL3 writing")
        dl3_writing(args.dl3_events, directory)


if __name__ == "__main__":
    main()
