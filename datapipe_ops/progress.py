"""Progress reporting for long stage work.

On a terminal a rich progress bar is drawn on stderr; elsewhere (an Airflow task log, a pod log)
a plain line is printed at every 10 % so the log shows progress without flooding.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

Advance = Callable[[int], None]


@contextmanager
def progress_bar(description: str, total: int | None, enabled: bool = True) -> Iterator[Advance]:
    """Show progress of ``total`` work units; yields ``advance(n)`` to call as work is done."""
    if not enabled:
        yield lambda n=1: None
        return
    from rich.console import Console  # only when progress is shown: a stage starts faster
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    console = Console(stderr=True)
    if console.is_terminal:
        columns = (
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=console, transient=False) as progress:
            task = progress.add_task(description, total=total)
            yield lambda n=1: progress.advance(task, n)
        return
    yield _log_progress(description, total)
    print(f"{description}: done", file=sys.stderr, flush=True)


def _log_progress(description: str, total: int | None) -> Advance:
    state = {"done": 0, "decile": 1, "start": time.monotonic()}

    def advance(n: int = 1) -> None:
        state["done"] += n
        if not total:
            return
        fraction = state["done"] / total
        if state["done"] * 10 >= state["decile"] * total:
            elapsed = time.monotonic() - state["start"]
            print(
                f"{description}: {state['done']}/{total} ({fraction:.0%}, {elapsed:.1f} s)",
                file=sys.stderr,
                flush=True,
            )
            state["decile"] = state["done"] * 10 // total + 1

    return advance
