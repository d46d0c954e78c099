"""The ``datapipe`` command: one entry point, one subcommand per stage.

Every subcommand is registered here, in :data:`SUBCOMMANDS`, and nowhere else. A subcommand
module holds thin wrappers only: it parses options, calls the stage's library function and
prints where the output went. Heavy imports (numba, h5py, lightgbm) happen inside the command
functions so that ``datapipe --help`` stays fast.
"""

from __future__ import annotations

import gc
import importlib
import os
import sys

import typer

from datapipe_ops.errors import DataPipeError
from datapipe_ops.settings import seed_numba_cache

#: Where to write the stage's outcome line for the orchestrator (a Kubernetes pod sets it to its
#: container's ``terminationMessagePath``, ``/dev/termination-log``): the pod's termination
#: message then carries the ``datapipe: error: ...`` line next to the exit code.
TERMINATION_LOG_ENV = "DATAPIPE_TERMINATION_LOG"
#: Kubernetes keeps at most 4096 bytes of a termination message.
_TERMINATION_MESSAGE_LIMIT = 4000

#: (name, module, attribute, help): each module attribute is a typer.Typer app (a command group)
#: or a plain function (a single command).
SUBCOMMANDS: list[tuple[str, str, str]] = [
    ("info", "datapipe_ops.cli.info", "app"),
    ("instrument", "datapipe_ops.cli.instrument", "app"),
    ("catalog", "datapipe_ops.cli.catalog", "app"),
    ("dataset", "datapipe_ops.cli.dataset", "app"),
    ("simulate", "datapipe_ops.cli.simulate", "app"),
    ("dl0-to-dl1", "datapipe_ops.cli.dl0_to_dl1", "dl0_to_dl1"),
    ("dl1-to-dl2", "datapipe_ops.cli.dl1_to_dl2", "dl1_to_dl2"),
    ("merge", "datapipe_ops.cli.merge", "merge"),
    ("train", "datapipe_ops.cli.train", "train"),
    ("model-set", "datapipe_ops.cli.model_set", "app"),
    ("optimize-cuts", "datapipe_ops.cli.irf", "optimize_cuts"),
    ("compute-irf", "datapipe_ops.cli.irf", "compute_irf"),
    ("sensitivity", "datapipe_ops.cli.irf", "sensitivity"),
    ("interpolate-irf", "datapipe_ops.cli.irf", "interpolate_irf"),
    ("tailored-irf", "datapipe_ops.cli.irf", "tailored_irf"),
    ("irf-set", "datapipe_ops.cli.irf_set", "app"),
    ("dl2-to-dl3", "datapipe_ops.cli.dl3", "dl2_to_dl3"),
    ("benchmark", "datapipe_ops.cli.benchmark", "app"),
    ("report", "datapipe_ops.cli.report", "report"),
    ("quality", "datapipe_ops.cli.quality", "app"),
    ("deliver", "datapipe_ops.cli.dl3", "deliver"),
]

app = typer.Typer(
    name="datapipe",
    help="CTAO DataPipe stages: DL0 → DL1 → DL2 → DL3, models, IRFs, benchmarks, catalog.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for _name, _module, _attribute in SUBCOMMANDS:
    _target = getattr(importlib.import_module(_module), _attribute)
    if isinstance(_target, typer.Typer):
        app.add_typer(_target, name=_name)
    else:
        app.command(_name)(_target)


def main(argv: list[str] | None = None) -> int:
    """Run the ``datapipe`` command; expected errors become one line on stderr and exit 2.

    Usage errors are reported by the command-line parser itself (exit 2); a
    :class:`~datapipe_ops.errors.DataPipeError` raised by a stage is printed as
    ``datapipe: error: <file>: <problem>`` without a traceback.
    """
    seed_numba_cache()  # before any stage imports numba (image: precompiled kernels)
    command = typer.main.get_command(app)
    try:
        command.main(args=argv, prog_name="datapipe", standalone_mode=True)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except DataPipeError as exc:
        from rich.console import Console

        line = f"datapipe: error: {exc}"
        Console(stderr=True, highlight=False, soft_wrap=True).print(line, markup=False)
        write_termination_message(line)
        return exc.exit_code
    return 0


def write_termination_message(message: str) -> None:
    """Write ``message`` to ``$DATAPIPE_TERMINATION_LOG`` if set (best effort, never fails).

    Nothing is written after a success or a crash: with the pod's
    ``terminationMessagePolicy: FallbackToLogsOnError`` a crash's message is then the tail of
    its log (the traceback).
    """
    path = os.environ.get(TERMINATION_LOG_ENV)
    if not path:
        return
    try:
        with open(path, "w", encoding="utf-8") as sink:
            sink.write(message.encode()[:_TERMINATION_MESSAGE_LIMIT].decode(errors="ignore"))
    except OSError:
        pass


def run() -> None:
    """Console-script entry point."""
    code = main()
    # what the process holds now lives until it exits: the interpreter's final garbage
    # collection need not walk it (half a second of CPU after a stage that loaded numba)
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    run()
