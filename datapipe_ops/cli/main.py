"""The ``datapipe`` command: one entry point, one subcommand per stage.

Every subcommand is registered here, in :data:`SUBCOMMANDS`, and nowhere else. A subcommand
module holds thin wrappers only: it parses options, calls the stage's library function and
prints where the output went. Heavy imports (numba, h5py, lightgbm) happen inside the command
functions so that ``datapipe --help`` stays fast.
"""

from __future__ import annotations

import importlib
import sys

import typer
from rich.console import Console

from datapipe_ops.errors import DataPipeError

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
    command = typer.main.get_command(app)
    try:
        command.main(args=argv, prog_name="datapipe", standalone_mode=True)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except DataPipeError as exc:
        Console(stderr=True, highlight=False, soft_wrap=True).print(
            f"datapipe: error: {exc}", markup=False
        )
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
