"""The cost of one stage task: ``datapipe dl0-to-dl1`` from process start to the registered file.

Run: ``.venv/bin/python benchmarks/stage_task_cost.py [--large-showers 60000] [--image TAG]``

For a realistic file (about 10,000 telescope events) and a small one (about 500), each in a fresh
``datapipe dl0-to-dl1`` process with a warm numba cache (one warm-up run first), registering the
product in a SQLite catalog:

- **start-up**: process start to the first chunk of events (interpreter, imports, cached-kernel
  loading, configuration, instrument and calibration set-up, input checks and checksums);
- **processing**: the compiled per-chunk work (calibration, extraction, cleaning, parameters);
- **writing**: appending the parameter tables, provenance, closing the file;
- **rest**: reading and decompressing the waveforms, pass-through tables, registration;
- **total**.

Against ctapipe 0.32, measured in the same run: ``ctapipe-process``'s start-up (importing the
tool and setting up its calibrator and image processor for the file's subarray, in a fresh
process) plus reading the same waveforms with h5py plus ctapipe's per-telescope-event time of
each camera (``benchmarks/dl0_to_dl1_vs_ctapipe.py``'s section 1). Target: a whole task ≥ 5×
faster than ctapipe's on the realistic file, start-up ≤ 2 s with a warm cache. Also prints the
from-file ratio (section 3 of that benchmark: the stage against h5py + ctapipe).

Then:

- **checksums**: the inputs' sha256 are computed in a background thread while the stage decodes
  the file; printed: the CPU the hashing costs (sha256 of the same bytes in this process) and the
  wall-clock time the stage waited for it before writing its provenance (≈ 0: off the critical
  path);
- **grouped small files**: ``--group`` copies of the small file as that many tasks (one
  process each) against one task with all of them (``--input`` repeated, ``--output-dir``):
  CPU per file each way and the ratio.

CPU times (user + system of the stage process), because on a shared machine wall-clock times
measure the neighbours; the wall-clock times are printed too, and the load average at the start
and the end. The stage processes run with Python's bytecode cache (``PYTHONDONTWRITEBYTECODE``
removed from their environment: the warm-up run writes it), as in the stage image, where
``pip`` and ``compileall`` write it at build time.

With ``--image TAG``: the stage in the built stage image, ``podman run --read-only`` (tmpfs
``/tmp``), ``NUMBA_DEBUG_CACHE=1``: the kernels loaded from the image's cache and the number
compiled (0: the pod's first event needs no compilation), and its total time.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable

#: Runs ``datapipe dl0-to-dl1`` in this process, timing its phases (CPU and wall clock since
#: the process started), then prints them as JSON.
PROBE = r"""
import json, os, sys, time
marks = {"first_cpu": None, "first_wall": None, "processing_cpu": 0.0, "writing_cpu": 0.0,
         "checksum_wait_s": 0.0}

def timed(function, key, first=False):
    def wrapper(*args, **kwargs):
        if first and marks["first_cpu"] is None:
            marks["first_cpu"] = time.process_time()
            marks["first_wall"] = time.monotonic() - float(os.environ["PROBE_T0"])
        begin = time.process_time()
        try:
            return function(*args, **kwargs)
        finally:
            marks[key] += time.process_time() - begin
    return wrapper

from datapipe_ops.calib import stage
from datapipe_ops.io import product
stage.process_chunk_arrays = timed(stage.process_chunk_arrays, "processing_cpu", first=True)
for name in ("append_rows", "append_table", "set_attrs", "__exit__"):
    setattr(product.ProductWriter, name,
            timed(getattr(product.ProductWriter, name), "writing_cpu"))
pending_input_records = product.pending_input_records

def waited_for_checksums(*args, **kwargs):
    records, complete = pending_input_records(*args, **kwargs)
    def complete_timed():
        begin = time.monotonic()
        complete()
        marks["checksum_wait_s"] += time.monotonic() - begin
    return records, complete_timed

product.pending_input_records = waited_for_checksums
from datapipe_ops.cli.main import main
code = main(sys.argv[1:])
marks["total_cpu"] = time.process_time()
marks["total_wall"] = time.monotonic() - float(os.environ["PROBE_T0"])
marks["exit_code"] = code
print("PROBE " + json.dumps(marks), flush=True)
import gc
gc.freeze()  # as the console script does before the process exits (datapipe_ops.cli.main.run)
"""

#: ctapipe-process's fixed cost: import the tool, set up calibrator and image processor.
CTAPIPE_STARTUP = r"""
import sys, time
from ctapipe.tools.process import ProcessorTool
from ctapipe.calib import CameraCalibrator
from ctapipe.image import ImageProcessor
sys.path.insert(0, sys.argv[2])
from datapipe_ops.io import open_product
from datapipe_ops.io.instrument import read_subarray
from testkit.ctapipe_reference import ctapipe_subarray
tool = ProcessorTool()
with open_product(sys.argv[1]) as h5:
    ours = read_subarray(h5)
subarray = ctapipe_subarray({
    t: (tel.camera.geometry, tel.camera.readout, tel.optics.effective_focal_length_m)
    for t, tel in ours.telescopes.items()
})
CameraCalibrator(subarray=subarray, parent=tool)
ImageProcessor(subarray=subarray, parent=tool)
print("CPU", time.process_time())
"""


def _sibling(name: str):
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_child(argv: list[str], env: dict[str, str]) -> tuple[subprocess.CompletedProcess, float]:
    """Run ``argv``; return the result and the child's CPU time (user + system)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=3600)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return result, cpu


def task_cost(dl0: Path, coefficients: Path, work: Path, env: dict[str, str]) -> dict:
    """One ``datapipe dl0-to-dl1`` task in a fresh process, its phases timed."""
    out = work / f"{dl0.name}.{time.monotonic_ns()}.dl1.h5"
    argv = ["dl0-to-dl1", "--input", str(dl0), "--output", str(out),
            "--coefficients", str(coefficients), "--quiet"]  # fmt: skip
    marks, cpu, wall = run_probe(argv, env)
    out.unlink()
    startup = marks["first_cpu"]
    return {
        "startup_s": startup,
        "processing_s": marks["processing_cpu"],
        "writing_s": marks["writing_cpu"],
        "rest_s": cpu - startup - marks["processing_cpu"] - marks["writing_cpu"],
        "total_s": cpu,
        "startup_wall_s": marks["first_wall"],
        "total_wall_s": wall,
        "checksum_wait_s": marks["checksum_wait_s"],
    }


def run_probe(args: list[str], env: dict[str, str]) -> tuple[dict, float, float]:
    """Run ``datapipe <args>`` under the probe: its marks, CPU time and wall-clock time."""
    start = time.monotonic()
    result, cpu = run_child([PYTHON, "-c", PROBE, *args], {**env, "PROBE_T0": repr(start)})
    wall = time.monotonic() - start
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(x for x in result.stdout.splitlines() if x.startswith("PROBE "))
    return json.loads(line.removeprefix("PROBE ")), cpu, wall


def grouped_cost(
    dl0: Path, coefficients: Path, n_files: int, work: Path, env: dict[str, str]
) -> dict:
    """``n_files`` copies of a small file: one task each against one task for all of them."""
    directory = work / "group"
    directory.mkdir(exist_ok=True)
    copies = []
    for i in range(n_files):
        copy = directory / f"small{i:02d}.dl0.h5"
        if not copy.exists():
            shutil.copyfile(dl0, copy)
        copies.append(copy)
    separate = 0.0
    for copy in copies:
        separate += task_cost(copy, coefficients, work, env)["total_s"]
    outputs = work / f"grouped-{time.monotonic_ns()}"
    args = ["dl0-to-dl1", "--output-dir", str(outputs), "--coefficients", str(coefficients)]
    for copy in copies:
        args += ["--input", str(copy)]
    marks, grouped, wall = run_probe([*args, "--quiet"], env)
    assert len(list(outputs.glob("*.dl1.h5"))) == n_files
    shutil.rmtree(outputs)
    return {
        "n_files": n_files,
        "separate_total_s": separate,
        "grouped_total_s": grouped,
        "grouped_startup_s": marks["first_cpu"],
        "grouped_wall_s": wall,
        "ratio": separate / grouped,
    }


def checksum_cpu(paths: list[Path]) -> tuple[float, float]:
    """CPU seconds of the sha256 of ``paths`` in this process, and their size in MB."""
    from datapipe_ops.checksum import sha256_file

    begin = time.process_time()
    for path in paths:
        sha256_file(path)
    return time.process_time() - begin, sum(p.stat().st_size for p in paths) / 1e6


def load_average() -> str:
    """The 1, 5 and 15 minute load averages."""
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def ctapipe_startup(dl0: Path, env: dict[str, str]) -> float:
    """CPU time of ctapipe-process's start-up in a fresh process (best of two)."""
    best = float("inf")
    for _ in range(2):
        result, cpu = run_child([PYTHON, "-c", CTAPIPE_STARTUP, str(dl0), str(ROOT)], env)
        assert result.returncode == 0, result.stderr[-3000:]
        best = min(best, cpu)
    return best


def image_check(tag: str, dl0: Path, coefficients: Path) -> dict:
    """The stage in the image, read-only root filesystem: kernels loaded vs compiled."""
    data = dl0.parent
    out = data / "image-run"  # written by the image's non-root user
    out.mkdir(exist_ok=True)
    out.chmod(0o777)
    argv = [
        "podman", "run", "--rm", "--read-only", "--network=none", "-v", f"{data}:{data}",
        "-e", "NUMBA_DEBUG_CACHE=1", "-e", f"DATAPIPE_DATA_ROOT={out}",
        "-e", f"DATAPIPE_CATALOG_URL=sqlite:///{out}/catalog.sqlite", tag,
        "dl0-to-dl1", "--input", str(dl0), "--output", str(out / f"{time.time_ns()}.dl1.h5"),
        "--coefficients", str(coefficients), "--quiet",
    ]  # fmt: skip
    start = time.monotonic()
    result, _ = run_child(argv, dict(os.environ))
    wall = time.monotonic() - start
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    log = result.stdout + result.stderr
    return {
        "kernels_loaded": len(re.findall(r"\[cache\] data loaded from", log)),
        "kernels_compiled": len(re.findall(r"\[cache\] data saved to", log)),
        "total_wall_s": wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--large-showers", type=int, default=60000, help="~10,000 tel. events")
    parser.add_argument("--small-showers", type=int, default=3000, help="~500 tel. events")
    parser.add_argument("--reference-events", type=int, default=100, help="per camera, ctapipe")
    parser.add_argument("--workdir", type=Path, default=None, help="keep the files here")
    parser.add_argument("--image", default=None, help="also run in this stage image (podman)")
    parser.add_argument("--group", type=int, default=8, help="small files in one task")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = parser.parse_args()
    reference = _sibling("dl0_to_dl1_vs_ctapipe")

    with tempfile.TemporaryDirectory() as tmp:
        work = args.workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        files = {}
        for name, showers, seed in (
            ("large", args.large_showers, 1),
            ("small", args.small_showers, 2),
        ):
            path = work / f"{name}.dl0.h5"
            coefficients = path.with_name(f"{name}.coefficients.h5")
            if not path.exists():
                reference.simulate(path, showers, seed=seed)
            files[name] = (path, coefficients)
        print(f"load average at the start: {load_average()} ({os.cpu_count()} CPUs)")
        env = {
            **os.environ,
            "DATAPIPE_DATA_ROOT": str(work),
            "DATAPIPE_CATALOG_URL": f"sqlite:///{work / 'catalog.sqlite'}",
            "NUMBA_NUM_THREADS": "1",
            "OMP_NUM_THREADS": "1",
        }
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # bytecode cached, as in the stage image
        task_cost(*files["small"], work, env)  # warm the numba cache and the OS file cache

        compute = reference.compute_benchmark(*files["large"], args.reference_events)
        ref_ms = {camera: r["ctapipe_ms_per_event"] for camera, r in compute.items()}
        t_ctapipe_startup = ctapipe_startup(files["small"][0], env)
        results = {"ctapipe_startup_s": t_ctapipe_startup, "files": {}}
        print("dl0-to-dl1 task, fresh process, warm numba cache, CPU seconds (wall in brackets)")
        print(
            f"{'file':6s} {'tel.ev':>7s} {'start-up':>14s} {'processing':>10s} {'writing':>8s} "
            f"{'rest':>6s} {'total':>14s} {'ctapipe':>8s} {'ratio':>6s}"
        )
        results["load_average_start"] = load_average()
        for name, (dl0, coefficients) in files.items():
            cost = task_cost(dl0, coefficients, work, env)
            groups = reference.telescope_groups(dl0)
            with h5py.File(dl0) as h5:
                layout = reference.layout
                n_by_camera = {
                    camera: sum(h5[layout.tel_path(layout.WAVEFORMS, t)].shape[0] for t in ids)
                    for camera, ids in groups.items()
                }
                tel_ids = [t for ids in groups.values() for t in ids]
                waves = [h5[layout.tel_path(layout.WAVEFORMS, t)] for t in tel_ids]
                t_read = reference.best_cpu_time(lambda w=waves: [x[()] for x in w], 2)
            n = sum(n_by_camera.values())
            t_ref = (
                t_ctapipe_startup
                + t_read
                + sum(1e-3 * ref_ms[c] * k for c, k in n_by_camera.items())
            )
            cost.update(n_telescope_events=n, ctapipe_s=t_ref, ratio=t_ref / cost["total_s"])
            results["files"][name] = cost
            print(
                f"{name:6s} {n:7d} {cost['startup_s']:6.2f} ({cost['startup_wall_s']:5.1f}) "
                f"{cost['processing_s']:10.2f} {cost['writing_s']:8.2f} {cost['rest_s']:6.2f} "
                f"{cost['total_s']:6.2f} ({cost['total_wall_s']:5.1f}) {t_ref:8.2f} "
                f"{cost['ratio']:6.1f}"
            )
        print(
            f"ctapipe-process start-up {t_ctapipe_startup:.2f} s; per telescope event "
            + ", ".join(f"{c} {ms:.2f} ms" for c, ms in ref_ms.items())
        )
        large = results["files"]["large"]
        print(
            f"targets: whole task ≥ 5× ctapipe on the large file: {large['ratio']:.1f}× "
            f"({'met' if large['ratio'] >= 5 else 'NOT met'}); start-up ≤ 2 s warm: "
            f"{large['startup_s']:.2f} s ({'met' if large['startup_s'] <= 2 else 'NOT met'})"
        )
        stage = reference.stage_benchmark(*files["large"], args.reference_events, ref_ms)
        results["from_file"] = stage
        print(
            f"from file (in-process stage vs h5py read + ctapipe chain): {stage['ratio']:.1f}×; "
            f"reading {stage['waveform_compression']} waveforms is "
            f"{stage['read_share_of_stage']:.0%} of the stage"
        )
        hash_cpu, hash_mb = checksum_cpu(list(files["large"]))
        results["checksum"] = {
            "cpu_s": hash_cpu,
            "mb": hash_mb,
            "stage_waited_s": large["checksum_wait_s"],
        }
        print(
            f"inputs' sha256 (large file + coefficients, {hash_mb:.0f} MB): {hash_cpu:.2f} s CPU "
            f"in a background thread; the stage waited {large['checksum_wait_s']:.3f} s for it"
        )
        group = grouped_cost(*files["small"], args.group, work, env)
        results["grouped"] = group
        n = group["n_files"]
        print(
            f"{n} small files: {n} tasks {group['separate_total_s']:.2f} s CPU "
            f"({group['separate_total_s'] / n:.2f} s per file), one grouped task "
            f"{group['grouped_total_s']:.2f} s ({group['grouped_total_s'] / n:.2f} s per file, "
            f"start-up {group['grouped_startup_s']:.2f} s, {group['grouped_wall_s']:.1f} s wall): "
            f"{group['ratio']:.1f}× less"
        )
        results["load_average_end"] = load_average()
        print(f"load average at the end: {results['load_average_end']}")
        if args.image:
            check = image_check(args.image, *files["small"])
            results["image"] = check
            print(
                f"image {args.image}, read-only root filesystem: {check['kernels_loaded']} "
                f"kernels loaded from the image's cache, {check['kernels_compiled']} compiled; "
                f"task {check['total_wall_s']:.1f} s wall"
            )
        if args.json:
            args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
