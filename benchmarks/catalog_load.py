"""Catalog load: concurrent writer processes registering products, on PostgreSQL and on SQLite.

Each writer is a separate process (as the stage tasks of a campaign are) with its own
:class:`~datapipe_ops.catalog.Catalog`; it registers ``--per-writer`` DL1 products, each with
the same DL0 product as its input (a lineage link), and times every ``register_product`` call.
The writers start together (a barrier). Afterwards the catalog is checked: one row per path,
one lineage link per product, nothing lost, nothing duplicated.

Printed per backend: the aggregate throughput (registrations / s), the p50 / p95 / max latency
of one registration, and — the reference measured in the same run — one writer alone doing the
same number of registrations per process: the ratio of the concurrent throughput to the single
writer's, and how much longer a registration takes under contention (p95 / single p50).

Usage::

    .venv/bin/python benchmarks/catalog_load.py [--writers 8] [--per-writer 2000]
        [--postgres postgresql+psycopg2://postgres@127.0.0.1:5432/test] [--plot latency.png]

PostgreSQL runs in a throw-away schema of the given server (dropped afterwards); SQLite in a
temporary file. Target (docs/operations.md): no lost or duplicated row; p95 latency ≤ 1 s.
"""

from __future__ import annotations

import argparse
import multiprocessing
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from datapipe_ops.catalog import Catalog, ProductRecord
from testkit.postgres import postgres_test_url, temporary_postgres_schema

PARENT = "/load/parent.dl0.h5"
TARGET_P95_S = 1.0


def writer(url: str, writer_id: int, n: int, start: Any) -> np.ndarray:
    """Register ``n`` DL1 products with the parent as input; return each call's seconds."""
    latencies = np.empty(n)
    with Catalog(url) as catalog:
        catalog.list_campaigns()  # connect and check the schema before the clock starts
        start.wait()
        for i in range(n):
            record = ProductRecord(path=f"/load/w{writer_id:02d}/p{i:05d}.dl1.h5", level="DL1")
            begin = time.perf_counter()
            catalog.register_product(record, [PARENT])
            latencies[i] = time.perf_counter() - begin
    return latencies


@dataclass
class Result:
    backend: str
    writers: int
    per_writer: int
    wall_s: float
    latencies: np.ndarray
    problems: list[str]

    @property
    def throughput(self) -> float:
        return self.writers * self.per_writer / self.wall_s

    def quantile(self, q: float) -> float:
        return float(np.quantile(self.latencies, q))


def run(url: str, backend: str, writers: int, per_writer: int) -> Result:
    """``writers`` processes × ``per_writer`` registrations into the empty catalog at ``url``."""
    with Catalog(url) as catalog:
        catalog.register_product(ProductRecord(path=PARENT, level="DL0"))
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        start = manager.Barrier(writers + 1)
        with ProcessPoolExecutor(writers, mp_context=context) as pool:
            futures = [pool.submit(writer, url, w, per_writer, start) for w in range(writers)]
            start.wait()
            begin = time.perf_counter()
            latencies = [f.result() for f in futures]
            wall = time.perf_counter() - begin
    return Result(backend, writers, per_writer, wall, np.concatenate(latencies),
                  check(url, writers * per_writer))  # fmt: skip


def check(url: str, expected: int) -> list[str]:
    """What is wrong with the catalog after ``expected`` registrations (empty: nothing)."""
    queries = {
        "products": ("SELECT count(*) FROM products WHERE level = 'DL1'", expected),
        "distinct paths": ("SELECT count(DISTINCT path) FROM products", expected + 1),
        "lineage links": ("SELECT count(*) FROM lineage", expected),
    }
    engine = sa.create_engine(url)
    problems = []
    with engine.connect() as connection:
        for name, (sql, wanted) in queries.items():
            found = connection.execute(sa.text(sql)).scalar()
            if found != wanted:
                problems.append(f"{name}: {found}, expected {wanted}")
    engine.dispose()
    return problems


@contextmanager
def sqlite_url() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="catalog-load-") as directory:
        yield f"sqlite:///{Path(directory) / 'catalog.sqlite'}"


def measure(backend: str, fresh: Callable[[], Any], writers: int, per_writer: int) -> list[Result]:
    """The single-writer reference, then the concurrent run, each in a fresh catalog."""
    results = []
    for n_writers in (1, writers):
        with fresh() as url:
            results.append(run(url, backend, n_writers, per_writer))
    return results


def print_table(results: list[Result]) -> None:
    print(f"{'backend':<11}{'writers':>8}{'registrations':>15}{'per s':>9}"
          f"{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}  check")  # fmt: skip
    for r in results:
        print(
            f"{r.backend:<11}{r.writers:>8}{r.writers * r.per_writer:>15}{r.throughput:>9.0f}"
            f"{r.quantile(0.5) * 1e3:>9.1f}{r.quantile(0.95) * 1e3:>9.1f}"
            f"{r.latencies.max() * 1e3:>9.1f}  {'; '.join(r.problems) or 'ok'}"
        )
    for single, many in zip(results[::2], results[1::2], strict=True):
        print(
            f"{many.backend}: {many.writers} writers give {many.throughput / single.throughput:.2f}"
            f"× the throughput of one; p95 latency = "
            f"{many.quantile(0.95) / single.quantile(0.5):.1f}× a lone writer's p50"
        )


def plot(results: list[Result], path: Path) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for r in results:
        ordered = np.sort(r.latencies) * 1e3
        ax.plot(
            ordered, np.linspace(0, 1, ordered.size), label=f"{r.backend}, {r.writers} writer(s)"
        )
    ax.set_xscale("log")
    ax.set_xlabel("registration latency [ms]")
    ax.set_ylabel("fraction of registrations")
    ax.axhline(0.95, color="grey", lw=0.5)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"plot: {path}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--per-writer", type=int, default=2000)
    parser.add_argument("--postgres", default=postgres_test_url(), help="PostgreSQL server URL")
    parser.add_argument("--plot", type=Path, help="write a latency CDF plot here")
    args = parser.parse_args()
    results = measure(
        "postgresql",
        lambda: temporary_postgres_schema(args.postgres, prefix="dp_load_"),
        args.writers,
        args.per_writer,
    )
    results += measure("sqlite", sqlite_url, args.writers, args.per_writer)
    print_table(results)
    if args.plot:
        plot(results, args.plot)
    failed = [r for r in results if r.problems or r.quantile(0.95) > TARGET_P95_S]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
