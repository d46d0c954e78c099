"""The ``local`` backend: the ``datapipe`` command as a subprocess of the Airflow worker."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from airflow.sdk import BaseOperator

from datapipe_airflow.operators.contract import STAGE_TEMPLATE_FIELDS, check_outputs
from datapipe_airflow.stage_failure import error_lines, raise_for_exit

EXECUTABLE_ENV = "DATAPIPE_EXECUTABLE"
_TAIL_LINES = 200


def datapipe_executable() -> str:
    """The ``datapipe`` command of this worker.

    ``$DATAPIPE_EXECUTABLE`` if set, else the console script next to the running interpreter
    (the worker's virtualenv), else ``datapipe`` on ``PATH``.
    """
    configured = os.environ.get(EXECUTABLE_ENV)
    if configured:
        return configured
    beside = Path(sys.executable).with_name("datapipe")
    if beside.exists():
        return str(beside)
    found = shutil.which("datapipe")
    if found is None:
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(
            "the datapipe command is not installed on this worker "
            f"(not beside {sys.executable}, not on PATH; set {EXECUTABLE_ENV})"
        )
    return found


class DataPipeLocalOperator(BaseOperator):
    """Run ``datapipe <command...>`` on the worker, streaming its output into the task log.

    Parameters
    ----------
    command
        The subcommand and its arguments (templated), e.g. ``["dl0-to-dl1", "in.h5", "-o", ...]``.
    outputs
        Paths the stage must have written (templated); checked after a zero exit and returned
        as the task's XCom value so that downstream tasks can consume them.
    env
        Extra environment for the stage (templated), on top of the worker's environment.
    kind
        The stage kind of ``include/airflow/stages.yaml`` (informational for this backend).
    """

    template_fields: Sequence[str] = STAGE_TEMPLATE_FIELDS
    template_fields_renderers: ClassVar[dict[str, str]] = {"command": "py", "env": "py"}
    ui_color = "#cfe8ff"

    def __init__(
        self,
        *,
        command: Sequence[str],
        outputs: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        kind: str = "light",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.command = list(command) if not isinstance(command, str) else command
        self.outputs = list(outputs) if not isinstance(outputs, str) else outputs
        self.env = dict(env or {})
        self.kind = kind
        self._process: subprocess.Popen[str] | None = None

    def execute(self, context: Any) -> list[str]:
        """Run the stage; fail with its ``datapipe: error:`` line on a non-zero exit."""
        command = [str(part) for part in self.command]
        argv = [datapipe_executable(), *command]
        environment = {**os.environ, **{k: str(v) for k, v in self.env.items()}}
        environment.setdefault("PYTHONUNBUFFERED", "1")
        self.log.info("running: %s", " ".join(argv))
        tail: deque[str] = deque(maxlen=_TAIL_LINES)
        errors: list[str] = []
        self._process = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            bufsize=1,
            env=environment,
            start_new_session=True,  # its own process group: on_kill stops the whole stage
        )
        assert self._process.stdout is not None
        for line in self._process.stdout:
            line = line.rstrip("\n")
            self.log.info("%s", line)
            tail.append(line)
            errors.extend(error_lines([line]))
        returncode = self._process.wait()
        self._process = None
        raise_for_exit(command, returncode, [*tail, *errors[-1:]])
        self.log.info("datapipe %s finished", command[0] if command else "")
        return check_outputs(self.outputs)

    def on_kill(self) -> None:
        """Stop the stage's whole process group (the task was cleared or timed out)."""
        process = self._process
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
