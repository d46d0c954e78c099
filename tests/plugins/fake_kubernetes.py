"""A Kubernetes API faked at the client level, for the pod backend's tests (no cluster).

:class:`FakeCoreV1Api` stands for ``kubernetes.client.CoreV1Api``; :func:`install` hands it to
the provider through ``KubernetesHook`` (the connection and the client, nothing above them), so
the provider's pod manager, log streaming, deferral and clean-up run for real. Its pods end the
way a stage container ends: a phase, the container's ``terminated.exit_code`` and the
termination message that the ``datapipe`` entry point wrote (or, with
``FallbackToLogsOnError``, the tail of the log). Every call is recorded as the RBAC
``(verb, resource)`` it needs.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.providers.cncf.kubernetes.hooks.kubernetes import KubernetesHook
from airflow.sdk.exceptions import TaskDeferred
from airflow_env import RUN_ID
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
        #: Every call as the RBAC (verb, resource) it needs.
        self.calls: list[tuple[str, str]] = []

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
        self.calls.append(("create", "pods"))
        self.created.append(body)
        pod = self.api_client.deserialize(SimpleNamespace(data=json.dumps(body)), "V1Pod")
        pod.status = self._status()
        self.pods[pod.metadata.name] = pod
        return pod

    def read_namespaced_pod(self, name: str, namespace: str, **kwargs) -> k8s.V1Pod:
        self.calls.append(("get", "pods"))
        return self.pods[name]

    def list_namespaced_pod(self, namespace: str, label_selector: str = "", **kwargs):
        self.calls.append(("list", "pods"))
        checked = "already_checked!=True" in label_selector
        items = [
            pod
            for name, pod in self.pods.items()
            if name not in self.deleted
            and not (checked and pod.metadata.labels.get("already_checked") == "True")
        ]
        return k8s.V1PodList(items=items)

    def read_namespaced_pod_log(self, name: str, namespace: str, **kwargs) -> _LogResponse:
        self.calls.append(("get", "pods/log"))
        return _LogResponse(self.log, timestamps=bool(kwargs.get("timestamps")))

    def patch_namespaced_pod(self, name: str, namespace: str, body: dict, **kwargs) -> k8s.V1Pod:
        self.calls.append(("patch", "pods"))
        labels = body.get("metadata", {}).get("labels", {})
        self.pods[name].metadata.labels.update(labels)
        return self.pods[name]

    def delete_namespaced_pod(self, name: str, namespace: str, **kwargs) -> None:
        self.calls.append(("delete", "pods"))
        self.deleted.append(name)

    def list_namespaced_event(self, namespace: str, **kwargs) -> k8s.CoreV1EventList:
        self.calls.append(("list", "events"))
        return k8s.CoreV1EventList(items=[])


def install(monkeypatch: pytest.MonkeyPatch) -> Callable[..., FakeCoreV1Api]:
    """Fake the cluster; the returned ``configure(exit_code, message, log)`` sets how its pods
    end and returns the fake API."""
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


def run_pod_task(op: Any) -> list[str]:
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
