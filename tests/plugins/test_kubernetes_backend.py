"""The kubernetes backend keeps the stage contract of the local backend.

No cluster: the Kubernetes API is faked at the client level (:mod:`fake_kubernetes`). Everything
between the API and the task — the provider's pod manager, log streaming, deferral and
clean-up — is the real code, on both the synchronous and the deferrable path.
"""

from __future__ import annotations

import pytest
from airflow.sdk.exceptions import AirflowException, AirflowFailException
from datapipe_airflow.operators.kubernetes import (
    TERMINATION_LOG_ENV,
    TERMINATION_MESSAGE_PATH,
    DataPipePodOperator,
)
from fake_kubernetes import install, run_pod_task

pytestmark = pytest.mark.requirement("DPPS-DP-R-150")


@pytest.fixture
def cluster(monkeypatch):
    """A fake cluster; ``cluster(exit_code, message, log)`` configures its pods."""
    return install(monkeypatch)


def pod_task(task_id: str, command: list[str], outputs=(), deferrable: bool = True):
    return DataPipePodOperator(
        task_id=task_id,
        command=command,
        outputs=list(outputs),
        kind="dl0_to_dl1",
        campaign="nightly-2026",
        deferrable=deferrable,
    )


BOTH_PATHS = pytest.mark.parametrize("deferrable", [True, False], ids=["deferrable", "sync"])


@BOTH_PATHS
def test_pod_stage_returns_its_outputs_and_the_pod_is_deleted(cluster, tmp_path, deferrable):
    out = tmp_path / "run.dl1.h5"
    out.write_bytes(b"")
    api = cluster(0, log=("processing 466 events", f"wrote {out}"))
    op = pod_task("calibrate", ["dl0-to-dl1", "/data/in.h5", "-o", str(out)], [out], deferrable)
    assert run_pod_task(op) == [str(out)]
    (created,) = api.created
    assert api.deleted == [created["metadata"]["name"]]
    (container,) = created["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env[TERMINATION_LOG_ENV] == TERMINATION_MESSAGE_PATH
    assert container["terminationMessagePolicy"] == "FallbackToLogsOnError"


@BOTH_PATHS
def test_pod_stage_error_fails_without_retry_with_the_error_line(cluster, deferrable):
    line = "datapipe: error: /data/in.h5: no such file"
    api = cluster(2, message=line, log=(line,))
    op = pod_task("calibrate", ["dl0-to-dl1", "/data/in.h5", "-o", "/data/o.h5"], (), deferrable)
    with pytest.raises(AirflowFailException) as failure:
        run_pod_task(op)
    assert str(failure.value) == "datapipe dl0-to-dl1: /data/in.h5: no such file"
    assert api.deleted == []  # kept for kubectl describe / logs


@BOTH_PATHS
def test_pod_stage_crash_keeps_retries(cluster, deferrable):
    # FallbackToLogsOnError: the termination message is the tail of the log (a traceback)
    tail = "Traceback (most recent call last):\n  ...\nMemoryError"
    cluster(1, message=tail, log=("working on it", *tail.splitlines()))
    op = pod_task("calibrate", ["dl0-to-dl1", "/data/in.h5"], (), deferrable)
    with pytest.raises(AirflowException) as failure:
        run_pod_task(op)
    assert not isinstance(failure.value, AirflowFailException)
    assert str(failure.value) == (
        "datapipe dl0-to-dl1 failed with exit code 1; last output: MemoryError"
    )


@BOTH_PATHS
def test_pod_stage_killed_keeps_retries(cluster, deferrable):
    cluster(137)  # the OOM killer: SIGKILL, nothing written
    op = pod_task("calibrate", ["dl0-to-dl1", "/data/in.h5"], (), deferrable)
    with pytest.raises(AirflowException) as failure:
        run_pod_task(op)
    assert not isinstance(failure.value, AirflowFailException)
    assert "failed with exit code 137 (SIGKILL); no output" in str(failure.value)


def test_exit_2_without_an_error_line_keeps_retries(cluster):
    # a usage error of the command line parser, not a stage's verdict on its input
    cluster(2, message="Usage: datapipe [OPTIONS]\nError: No such option: --bogus")
    op = pod_task("calibrate", ["dl0-to-dl1", "--bogus"])
    with pytest.raises(AirflowException) as failure:
        run_pod_task(op)
    assert not isinstance(failure.value, AirflowFailException)
    assert "exit code 2; last output: Error: No such option: --bogus" in str(failure.value)


@BOTH_PATHS
def test_pod_stage_that_writes_nothing_fails(cluster, tmp_path, deferrable):
    promised = tmp_path / "never-written.h5"
    cluster(0, log=("nothing to do",))
    op = pod_task("calibrate", ["info"], [promised], deferrable)
    with pytest.raises(AirflowException, match="exited 0 but did not write it"):
        run_pod_task(op)
