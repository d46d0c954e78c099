"""The kubernetes backend keeps the stage contract of the local backend.

No cluster: the Kubernetes API is faked at the client level (:class:`FakeCoreV1Api` stands for
``kubernetes.client.CoreV1Api``, handed to the provider through ``KubernetesHook``). Its pods end
the way a stage container ends: a phase, the container's ``terminated.exit_code`` and the
termination message that the ``datapipe`` entry point wrote (or, with
``FallbackToLogsOnError``, the tail of the log). Everything between the API and the task — the
provider's pod manager, log streaming, deferral and clean-up — is the real code, on both the
synchronous and the deferrable path.
"""

from __future__ import annotations

import datetime
import json
from types import SimpleNamespace

import pytest
from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook
from airflow.sdk.exceptions import AirflowException, AirflowFailException, TaskDeferred
from airflow_env import RUN_ID
from datapipe_airflow.operators.kubernetes import (
    TERMINATION_LOG_ENV,
    TERMINATION_MESSAGE_PATH,
    DataPipePodOperator,
)
from kubernetes.client import ApiClient
from kubernetes.client import models as k8s


class _LogResponse:
    """A streamed ``read_namespaced_pod_log`` response (``_preload_content=False``)."""

    def __init__(self, lines: list[str], timestamps: bool) -> None:
        stamp = "2026-11-24T12:00:00.000000000Z " if timestamps else ""
        self._data = "".join(f"{stamp}{line}\n" for line in lines).encode()

    def stream(self, amt=None, decode_content=True):
        yield self._data

    def __iter__(self):
        yield from self._data.splitlines(keepends=True)

    def release_conn(self) -> None:
        pass

    def close(self) -> None:
        pass


class FakeCoreV1Api:
    """The CoreV1Api calls the pod operator makes, answered as a cluster would for a stage
    container that ran ``log`` and ended with ``exit_code`` and termination ``message``."""

    def __init__(self, exit_code: int, message: str = "", log: tuple[str, ...] = ()) -> None:
        self.api_client = ApiClient()
        self.exit_code = exit_code
        self.message = message
        self.log = list(log)
        self.created: list[dict] = []
        self.pods: dict[str, k8s.V1Pod] = {}
        self.deleted: list[str] = []

    def _status(self) -> k8s.V1PodStatus:
        now = datetime.datetime.now(tz=datetime.UTC)
        failed = self.exit_code != 0
        terminated = k8s.V1ContainerStateTerminated(
            exit_code=self.exit_code,
            message=self.message or None,
            reason="Error" if failed else "Completed",
            started_at=now,
            finished_at=now,
        )
        container = k8s.V1ContainerStatus(
            name="base",
            image="stage",
            image_id="",
            ready=False,
            restart_count=0,
            state=k8s.V1ContainerState(terminated=terminated),
        )
        return k8s.V1PodStatus(
            phase="Failed" if failed else "Succeeded", container_statuses=[container]
        )

    def create_namespaced_pod(self, body: dict, namespace: str, **kwargs) -> k8s.V1Pod:
        self.created.append(body)
        pod = self.api_client.deserialize(SimpleNamespace(data=json.dumps(body)), "V1Pod")
        pod.status = self._status()
        self.pods[pod.metadata.name] = pod
        return pod

    def read_namespaced_pod(self, name: str, namespace: str, **kwargs) -> k8s.V1Pod:
        return self.pods[name]

    def list_namespaced_pod(self, namespace: str, label_selector: str = "", **kwargs):
        checked = "already_checked!=True" in label_selector
        items = [
            pod
            for name, pod in self.pods.items()
            if name not in self.deleted
            and not (checked and pod.metadata.labels.get("already_checked") == "True")
        ]
        return k8s.V1PodList(items=items)

    def read_namespaced_pod_log(self, name: str, namespace: str, **kwargs) -> _LogResponse:
        return _LogResponse(self.log, timestamps=bool(kwargs.get("timestamps")))

    def patch_namespaced_pod(self, name: str, namespace: str, body: dict, **kwargs) -> k8s.V1Pod:
        labels = body.get("metadata", {}).get("labels", {})
        self.pods[name].metadata.labels.update(labels)
        return self.pods[name]

    def delete_namespaced_pod(self, name: str, namespace: str, **kwargs) -> None:
        self.deleted.append(name)

    def list_namespaced_event(self, namespace: str, **kwargs) -> k8s.CoreV1EventList:
        return k8s.CoreV1EventList(items=[])


@pytest.fixture
def cluster(monkeypatch):
    """Install a fake cluster; ``cluster(exit_code, message, log)`` configures its pods."""
    holder: dict[str, FakeCoreV1Api] = {}

    def connect(hook: KubernetesHook) -> ApiClient:  # what loading a kubeconfig would give
        hook._is_in_cluster = False
        return holder["api"].api_client

    monkeypatch.setattr(KubernetesHook, "get_conn", connect)
    monkeypatch.setattr(KubernetesHook, "core_v1_client", property(lambda hook: holder["api"]))
    monkeypatch.setenv("AIRFLOW_CONN_KUBERNETES_DEFAULT", '{"conn_type": "kubernetes"}')

    def configure(exit_code: int, message: str = "", log: tuple[str, ...] = ()) -> FakeCoreV1Api:
        holder["api"] = FakeCoreV1Api(exit_code, message, log)
        return holder["api"]

    return configure


def _context(task_id: str) -> dict:
    pushed: dict[str, object] = {}
    ti = SimpleNamespace(
        dag_id="observation_processing",
        task_id=task_id,
        map_index=-1,
        try_number=1,
        start_date=datetime.datetime.now(tz=datetime.UTC),
        xcom_push=lambda key, value: pushed.__setitem__(key, value),
    )
    return {
        "ti": ti,
        "task_instance": ti,
        "run_id": RUN_ID,
        "dag": SimpleNamespace(dag_id="observation_processing", parent_dag=None),
        "params": {"campaign": "nightly-2026"},
        "ds": "2026-11-24",
    }


def run_pod_task(op: DataPipePodOperator) -> list[str]:
    """Run the task as Airflow would: execute; when it defers, resume with the trigger's event
    (the trigger reports ``success`` or ``failed`` from the pod's phase)."""
    context = _context(op.task_id)
    op.render_template_fields(context)
    try:
        return op.execute(context)
    except TaskDeferred as deferred:
        api = KubernetesHook(conn_id="kubernetes_default").core_v1_client
        pod = api.pods[deferred.trigger.pod_name]
        event = {
            "status": "success" if pod.status.phase == "Succeeded" else "failed",
            "name": pod.metadata.name,
            "namespace": pod.metadata.namespace,
            "message": "Container failed" if pod.status.phase == "Failed" else "ok",
            "last_log_time": None,
        }
        return op.trigger_reentry(context, event)


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
    env = {e["name"]: e["value"] for e in container["env"]}
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
