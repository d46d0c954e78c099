"""Turn a finished ``datapipe`` process into a task outcome with the stage's own error line.

A stage reports an expected failure (bad input, missing coefficients, bad config) as one line,
``datapipe: error: <file>: <problem>``, and exit code 2 (``datapipe_ops.cli.main``). Such a
failure does not heal by itself, so the task fails without retries
(:class:`~airflow.sdk.exceptions.AirflowFailException`) and that line is the failure reason. Any
other non-zero exit (a crash, the kernel's OOM killer, a lost node) may be transient and keeps the
task's retries (:class:`~airflow.sdk.exceptions.AirflowException`).
"""

from __future__ import annotations

import signal
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

ERROR_PREFIX = "datapipe: error:"
EXPECTED_FAILURE_EXIT_CODE = 2


def error_lines(lines: Iterable[str]) -> list[str]:
    """The ``datapipe: error: ...`` lines of a stage's output, in order."""
    return [line.strip() for line in lines if line.lstrip().startswith(ERROR_PREFIX)]


def describe_exit(returncode: int) -> str:
    """``exit code 3`` or ``killed by SIGKILL`` (a negative code is a signal, as in subprocess)."""
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    if returncode > 128 and returncode - 128 in {s.value for s in signal.Signals}:
        return f"exit code {returncode} ({signal.Signals(returncode - 128).name})"
    return f"exit code {returncode}"


def failure_reason(command: Sequence[str], returncode: int, output: Sequence[str]) -> str:
    """One line for the UI: the stage's last error line, else its exit status and last output."""
    stage = " ".join(str(part) for part in command[:1]) or "datapipe"
    errors = error_lines(output)
    if errors:
        return f"datapipe {stage}: {errors[-1].removeprefix(ERROR_PREFIX).strip()}"
    tail = next((line.strip() for line in reversed(output) if line.strip()), "")
    last = f"; last output: {tail[:300]}" if tail else "; no output"
    return f"datapipe {stage} failed with {describe_exit(returncode)}{last}"


def raise_for_exit(command: Sequence[str], returncode: int, output: Sequence[str]) -> None:
    """Raise the Airflow exception matching a stage's exit; return if it succeeded."""
    if returncode == 0:
        return
    from airflow.sdk.exceptions import AirflowException, AirflowFailException

    reason = failure_reason(command, returncode, output)
    if returncode == EXPECTED_FAILURE_EXIT_CODE and error_lines(output):
        raise AirflowFailException(reason)
    raise AirflowException(reason)


@contextmanager
def fail_without_retry(*errors: type[BaseException]) -> Iterator[None]:
    """Turn ``errors`` (deterministic: a bad param, a taken version) raised inside into a task
    failure without retries, with their message as the reason."""
    from airflow.sdk.exceptions import AirflowFailException

    try:
        yield
    except errors as exc:
        raise AirflowFailException(str(exc)) from None
