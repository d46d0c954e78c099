"""``datapipe merge`` throughput against a plain copy of the same bytes, and its peak memory.

A DL1 product (a simulated diffuse-gamma run of the demo subarray, or ``--dl1``) is copied into
N inputs; then, each in a fresh process:

* a plain copy of the N input files (``shutil.copyfile``, the reference);
* ``merge_products`` of the N inputs into one product (no catalog), copying stored chunks
  without decoding where the layouts allow (the default);
* the same merge decoding and re-encoding every row (``direct_chunks=False``);

for N = 5 and N = 50. Printed: MB/s of input (file) bytes, the ratio of each merge to the copy
(target ≥ 50 %), the share of the (uncompressed) bytes the merge copied as stored chunks, and
the peak resident memory of each merge process (target: flat from 5 to 50 inputs), plus the
uncompressed size of the tables: where a chunk cannot be copied as stored the merge decodes and
re-encodes it (gzip) while the copy moves compressed bytes.

``--whole-chunks`` first stores every dataset of the input as one chunk, so that all inputs
start on chunk boundaries of the merged product: the best case of copying stored chunks.

Usage::

    python benchmarks/merge_throughput.py [--n-showers 3000] [--dl1 FILE] [--counts 5 50]
        [--whole-chunks]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from testkit.simulated import demo_dl1_run, renumbered_copy

CHILD = r"""
import json, resource, shutil, sys, time
from pathlib import Path
mode, output, inputs = sys.argv[1], Path(sys.argv[2]), [Path(p) for p in sys.argv[3:]]
if mode != "copy":
    from datapipe_ops.merge.stage import merge_products
start = time.perf_counter()
direct = 0.0
if mode == "copy":
    output.mkdir()
    for path in inputs:
        shutil.copyfile(path, output / path.name)
else:
    summary = merge_products(inputs, output, register=False, direct_chunks=mode == "merge")
    direct = summary.n_bytes_direct / summary.n_bytes_read
seconds = time.perf_counter() - start
peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "peak_mib": peak_kib / 1024, "direct": direct}))
"""


def raw_bytes(path: Path) -> int:
    """Uncompressed bytes of every dataset of a product (what the merge decodes and encodes)."""
    import h5py

    total = 0

    def visit(_: str, node: object) -> None:
        nonlocal total
        if isinstance(node, h5py.Dataset):
            total += node.dtype.itemsize * node.size

    with h5py.File(path) as h5:
        h5.visititems(visit)
    return total


def whole_chunks(source: Path, target: Path) -> Path:
    """A copy (written afresh, no free space) whose row-wise datasets are stored as one chunk
    each (same filters): identical copies of it then all start on chunk boundaries of the
    merged product, the best case of copying stored chunks."""
    import h5py

    with h5py.File(source) as h5, h5py.File(target, "w", track_order=True) as out:
        out.attrs.update(dict(h5.attrs))
        written: dict[int, str] = {}

        def visit(name: str, link: object) -> None:
            node = h5[name]
            if hash(node.id) in written:  # a second name (hard link) of a written object
                out[name] = out[written[hash(node.id)]]
                return
            written[hash(node.id)] = name
            if isinstance(node, h5py.Group):
                out.require_group(name).attrs.update(dict(node.attrs))
                return
            parent = out.require_group(name.rpartition("/")[0] or "/")
            if not node.chunks or node.shape[0] <= node.chunks[0]:
                h5.copy(node, parent, name.rpartition("/")[2])
                return
            options = {"compression": node.compression, "compression_opts": node.compression_opts}
            new = parent.create_dataset(
                name.rpartition("/")[2],
                data=node[()],
                chunks=node.shape,
                maxshape=(None, *node.shape[1:]),
                shuffle=node.shuffle,
                **options,
            )
            new.attrs.update(dict(node.attrs))

        h5.visititems_links(visit)
    return target


def run_child(mode: str, output: Path, inputs: list[Path]) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", CHILD, mode, str(output), *map(str, inputs)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-showers", type=int, default=3000)
    parser.add_argument("--dl1", type=Path, help="use this DL1 product instead of simulating")
    parser.add_argument("--counts", type=int, nargs="+", default=[5, 50])
    parser.add_argument(
        "--whole-chunks",
        action="store_true",
        help="store each dataset of the input as one chunk (every input chunk-aligned)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        source = args.dl1 or demo_dl1_run(tmp, args.n_showers)["dl1"]
        if args.whole_chunks:
            source = whole_chunks(source, tmp / "whole_chunks.dl1.h5")
        size = source.stat().st_size
        raw = raw_bytes(source)
        print(
            f"input: {source.name}, {size / 1e6:.2f} MB per file, {raw / 1e6:.1f} MB uncompressed"
            f" (compression ratio {raw / size:.0f}: the merge decodes and re-encodes the tables,"
            " the copy moves compressed bytes)"
        )
        print(
            "\n n_inputs  input MB  copy MB/s  merge MB/s  merge/copy  as chunks"
            "  peak RSS [MiB]  | decoding: MB/s  merge/copy  peak RSS [MiB]"
        )
        for count in args.counts:
            inputs = [
                renumbered_copy(source, tmp / f"in_{count}_{i}.dl1.h5", i) for i in range(count)
            ]
            copy = run_child("copy", tmp / f"copy_{count}", inputs)
            merge = run_child("merge", tmp / f"merged_{count}.dl1.h5", inputs)
            decoding = run_child("decode", tmp / f"decoded_{count}.dl1.h5", inputs)
            total = size * count / 1e6
            copy_rate = total / copy["seconds"]
            merge_rate, decode_rate = total / merge["seconds"], total / decoding["seconds"]
            print(
                f" {count:8d}  {total:8.1f}  {copy_rate:9.1f}  {merge_rate:10.2f}"
                f"  {merge_rate / copy_rate:10.1%}  {merge['direct']:9.0%}"
                f"  {merge['peak_mib']:14.0f}  | {decode_rate:14.2f}"
                f"  {decode_rate / copy_rate:10.1%}  {decoding['peak_mib']:14.0f}",
                flush=True,
            )
            for path in inputs:
                path.unlink()
            shutil.rmtree(tmp / f"copy_{count}")
            (tmp / f"merged_{count}.dl1.h5").unlink()
            (tmp / f"decoded_{count}.dl1.h5").unlink()


if __name__ == "__main__":
    main()
