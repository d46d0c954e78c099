"""The ``kubernetes`` backend: one pod per stage task, built from ``include/airflow/stages.yaml``.

Every pod runs the stage image's ``datapipe`` entrypoint as a non-root user with a read-only root
filesystem, no privilege escalation, all capabilities dropped and the runtime's default seccomp
profile; it mounts the data volume (a PVC) at the image's data root and an ``emptyDir`` at
``/tmp``; it carries the requests/limits of its stage kind, the node selector and tolerations of
the DataPipe nodes, and labels naming its campaign, DAG run and stage. Its log is streamed into
the task log, it is deleted after success (kept after a failure for ``kubectl describe``) and,
when deferrable, the waiting happens in the triggerer.

The stage contract is the same as on the other backends (:mod:`datapipe_airflow.stage_failure`):
the stage writes its ``datapipe: error: ...`` line to the container's termination-message file
(``DATAPIPE_TERMINATION_LOG``), and the pod's status brings back the container's exit code and
that message. Exit code 2 with an error line fails the task without retries, with that line as
the reason; any other failure keeps the retries; a zero exit that left a declared output missing
fails the task.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.providers.cncf.kubernetes.pod_generator import make_safe_label_value
from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSkipException
from kubernetes.client import models as k8s

from datapipe_airflow.operators.contract import STAGE_TEMPLATE_FIELDS, check_outputs
from datapipe_airflow.stage_config import StageSettings, load_stage_settings
from datapipe_airflow.stage_failure import raise_for_exit

DATA_VOLUME = "datapipe-data"
SCRATCH_VOLUME = "scratch"
LABEL_PREFIX = "datapipe.ctao.org"
#: The container's termination-message file (Kubernetes' default ``terminationMessagePath``);
#: the stage's ``datapipe`` entry point writes its error line there (``DATAPIPE_TERMINATION_LOG``).
TERMINATION_MESSAGE_PATH = "/dev/termination-log"
TERMINATION_LOG_ENV = "DATAPIPE_TERMINATION_LOG"


def container_termination(pod: k8s.V1Pod | None, container: str) -> tuple[int, str] | None:
    """The exit code and termination message of ``container`` in ``pod``; ``None`` if it has
    not terminated (the pod was evicted, never started, or was deleted)."""
    statuses = (pod.status.container_statuses if pod is not None and pod.status else None) or []
    for status in statuses:
        if status.name != container or status.state is None or status.state.terminated is None:
            continue
        terminated = status.state.terminated
        return int(terminated.exit_code), terminated.message or ""
    return None


def container_security_context() -> k8s.V1SecurityContext:
    """The stage container's security context (restricted Pod Security Standard)."""
    return k8s.V1SecurityContext(
        run_as_non_root=True,
        read_only_root_filesystem=True,
        allow_privilege_escalation=False,
        privileged=False,
        capabilities=k8s.V1Capabilities(drop=["ALL"]),
        seccomp_profile=k8s.V1SeccompProfile(type="RuntimeDefault"),
    )


def pod_security_context(settings: StageSettings) -> k8s.V1PodSecurityContext:
    """The pod's security context: the image's non-root uid, the data group, seccomp."""
    kube = settings.kubernetes
    return k8s.V1PodSecurityContext(
        run_as_non_root=True,
        run_as_user=kube.run_as_user,
        run_as_group=kube.run_as_group,
        fs_group=kube.fs_group,
        seccomp_profile=k8s.V1SeccompProfile(type="RuntimeDefault"),
    )


def container_resources(settings: StageSettings, kind: str) -> k8s.V1ResourceRequirements:
    """Requests and limits of stage ``kind``."""
    stage = settings.kind(kind)
    return k8s.V1ResourceRequirements(
        requests=stage.requests.model_dump(), limits=stage.limits.model_dump()
    )


def volumes(settings: StageSettings) -> tuple[list[k8s.V1Volume], list[k8s.V1VolumeMount]]:
    """The data PVC at the data root, a size-limited ``emptyDir`` at ``/tmp`` and the
    configuration ConfigMaps, read-only, at their mount paths."""
    kube = settings.kubernetes
    pvc = k8s.V1PersistentVolumeClaimVolumeSource(claim_name=kube.data_volume_claim)
    scratch = k8s.V1EmptyDirVolumeSource(size_limit=kube.scratch_size_limit)
    volume_list = [
        k8s.V1Volume(name=DATA_VOLUME, persistent_volume_claim=pvc),
        k8s.V1Volume(name=SCRATCH_VOLUME, empty_dir=scratch),
    ]
    mounts = [
        k8s.V1VolumeMount(name=DATA_VOLUME, mount_path=settings.data_mount_path),
        k8s.V1VolumeMount(name=SCRATCH_VOLUME, mount_path="/tmp"),
    ]
    for config in kube.config_maps:
        source = k8s.V1ConfigMapVolumeSource(name=config.name)
        volume_list.append(k8s.V1Volume(name=config.name, config_map=source))
        mounts.append(
            k8s.V1VolumeMount(name=config.name, mount_path=config.mount_path, read_only=True)
        )
    return volume_list, mounts


def catalog_env(settings: StageSettings) -> list[k8s.V1EnvVar]:
    """The catalog's URL (no password) and ``PGPASSWORD`` from its Secret, if configured."""
    kube = settings.kubernetes
    env = []
    if kube.catalog_url:
        env.append(k8s.V1EnvVar(name="DATAPIPE_CATALOG_URL", value=kube.catalog_url))
    if kube.catalog_password_secret:
        ref = k8s.V1SecretKeySelector(
            name=kube.catalog_password_secret.name, key=kube.catalog_password_secret.key
        )
        env.append(
            k8s.V1EnvVar(name="PGPASSWORD", value_from=k8s.V1EnvVarSource(secret_key_ref=ref))
        )
    return env


def tolerations(settings: StageSettings) -> list[k8s.V1Toleration]:
    """The tolerations of the DataPipe nodes."""
    return [k8s.V1Toleration(**t.model_dump()) for t in settings.kubernetes.tolerations]


class DataPipePodOperator(KubernetesPodOperator):
    """Run ``datapipe <command...>`` in a pod of the stage image.

    Same arguments as :class:`~datapipe_airflow.operators.local.DataPipeLocalOperator`, plus
    ``campaign`` (templated, a pod label). Paths in ``command`` must be paths under the image's
    data root (the DAGs build them from ``DATAPIPE_DATA_ROOT``, which the workers set to the
    same mount path).
    """

    template_fields: Sequence[str] = tuple(
        dict.fromkeys((*KubernetesPodOperator.template_fields, *STAGE_TEMPLATE_FIELDS, "campaign"))
    )
    ui_color = "#fde9c9"

    def __init__(
        self,
        *,
        command: Sequence[str],
        settings: StageSettings | None = None,
        outputs: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        kind: str = "light",
        campaign: str = "",
        **kwargs: Any,
    ) -> None:
        settings = settings or load_stage_settings()
        kube = settings.kubernetes
        volume_list, mounts = volumes(settings)
        kwargs.setdefault("deferrable", kube.deferrable)
        super().__init__(
            kubernetes_conn_id=kube.connection_id,
            namespace=kube.namespace,
            image=settings.image,
            image_pull_policy=kube.image_pull_policy,
            name=f"datapipe-{kind.replace('_', '-')}",
            random_name_suffix=True,
            cmds=["datapipe"],
            arguments=None,
            service_account_name=kube.service_account,
            automount_service_account_token=False,
            container_resources=container_resources(settings, kind),
            security_context=pod_security_context(settings),
            container_security_context=container_security_context(),
            volumes=volume_list,
            volume_mounts=mounts,
            node_selector=dict(kube.node_selector) or None,
            tolerations=tolerations(settings) or None,
            env_from=(
                [k8s.V1EnvFromSource(secret_ref=k8s.V1SecretEnvSource(name=kube.catalog_secret))]
                if kube.catalog_secret
                else None
            ),
            image_pull_secrets=(
                [k8s.V1LocalObjectReference(name=name) for name in kube.image_pull_secrets] or None
            ),
            get_logs=True,
            # Reading events needs RBAC on events, which the chart does not grant (pods and
            # their logs only); `kubectl describe pod` shows them.
            log_events_on_failure=False,
            on_finish_action="delete_succeeded_pod",
            termination_message_policy="FallbackToLogsOnError",
            startup_timeout_seconds=kube.startup_timeout_seconds,
            do_xcom_push=False,
            **kwargs,
        )
        self.command = list(command) if not isinstance(command, str) else command
        self.outputs = list(outputs) if not isinstance(outputs, str) else outputs
        self.env = dict(env or {})
        self.kind = kind
        self.campaign = campaign
        self.data_mount_path = settings.data_mount_path
        self.catalog_env = catalog_env(settings)

    def build_pod_request_obj(self, context: Any = None, *, dry_run: bool = False) -> k8s.V1Pod:
        """The pod of this stage: our command, environment and labels on the provider's pod."""
        self.arguments = [str(part) for part in self.command]
        stage_env = {
            **self.env,
            "DATAPIPE_DATA_ROOT": self.data_mount_path,
            TERMINATION_LOG_ENV: TERMINATION_MESSAGE_PATH,
        }
        self.env_vars = [
            *self.catalog_env,
            *(k8s.V1EnvVar(name=name, value=str(value)) for name, value in stage_env.items()),
        ]
        self.labels = {**(self.labels or {}), **self.stage_labels(context)}
        return super().build_pod_request_obj(context, dry_run=dry_run)

    def stage_labels(self, context: Any = None) -> dict[str, str]:
        """``campaign``, ``run`` and ``stage`` labels, made valid label values."""
        run_id = context["run_id"] if context else ""
        labels = {
            f"{LABEL_PREFIX}/campaign": self.campaign,
            f"{LABEL_PREFIX}/run": run_id,
            f"{LABEL_PREFIX}/stage": self.kind,
            f"{LABEL_PREFIX}/task": self.task_id,
        }
        return {key: make_safe_label_value(str(value)) for key, value in labels.items()}

    def execute(self, context: Any) -> list[str]:
        """Run the pod; the task's XCom value is its declared outputs (as for every backend).

        Deferrable: this creates the pod and defers; :meth:`trigger_reentry` finishes the task.
        """
        super().execute(context)
        return check_outputs(self.outputs)

    def trigger_reentry(self, context: Any, event: dict[str, Any]) -> list[str]:
        """Resume after the deferred wait; check and return the declared outputs."""
        super().trigger_reentry(context, event)
        return check_outputs(self.outputs)

    def cleanup(
        self,
        pod: k8s.V1Pod,
        remote_pod: k8s.V1Pod,
        xcom_result: dict | None = None,
        context: Any = None,
    ) -> None:
        """The provider's clean-up (delete or keep the pod), then the stage's own failure.

        The provider fails a failed pod with a retryable error whatever the stage said; a stage
        that exited 2 with its ``datapipe: error:`` line fails here without retries instead.
        """
        try:
            super().cleanup(pod, remote_pod, xcom_result=xcom_result, context=context)
        except (AirflowFailException, AirflowSkipException):
            raise
        except AirflowException:
            termination = container_termination(remote_pod, self.base_container_name)
            if termination is not None:
                exit_code, message = termination
                raise_for_exit(self.command, exit_code, message.splitlines())
            raise
