"""The kubernetes backend: every stage kind's pod, rendered as the provider builds it, is a valid
Pod (kubernetes-validate --strict, bundled schemas) that runs locked down with its resources."""

from __future__ import annotations

import json

import pytest
from airflow_env import RUN_ID, kubernetes_validate, render_pod
from datapipe_airflow.operators.kubernetes import DataPipePodOperator
from datapipe_airflow.stage import stage_task
from datapipe_airflow.stage_config import load_stage_settings

pytestmark = pytest.mark.requirement("DPPS-DP-R-150")

SETTINGS = load_stage_settings()
KINDS = sorted(SETTINGS.kinds)


@pytest.fixture(scope="module")
def pods() -> dict[str, dict]:
    out = {}
    for kind in KINDS:
        op = stage_task(
            f"stage_{kind}",
            [kind.replace("_", "-"), "/data/in/{{ ds }}.h5", "--output", "/data/out.h5"],
            kind=kind,
            outputs=["/data/out.h5"],
            backend="kubernetes",
        )
        assert isinstance(op, DataPipePodOperator)
        out[kind] = render_pod(op)
    return out


def test_every_stage_pod_is_a_valid_pod(pods, tmp_path):
    result = kubernetes_validate(list(pods.values()), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_validation_can_fail(pods, tmp_path):
    broken = json.loads(json.dumps(pods["light"]))
    broken["spec"]["containers"][0]["securityContext"]["runAsNonRoot"] = "yes"
    broken["spec"]["containers"][0]["colour"] = "blue"
    result = kubernetes_validate([broken], tmp_path)
    assert result.returncode != 0


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.requirement("DPPS-DP-R-151")
def test_pod_runs_locked_down(pods, kind):
    spec = pods[kind]["spec"]
    (container,) = spec["containers"]
    security = container["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] == SETTINGS.kubernetes.run_as_user != 0
    assert spec["automountServiceAccountToken"] is False
    assert spec["restartPolicy"] == "Never"


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.requirement("DPPS-DP-R-151")
def test_pod_has_the_resources_of_its_kind(pods, kind):
    (container,) = pods[kind]["spec"]["containers"]
    expected = SETTINGS.kind(kind)
    assert container["resources"]["requests"] == expected.requests.model_dump()
    assert container["resources"]["limits"] == expected.limits.model_dump()


def test_pod_runs_the_stage_command_on_the_data_volume(pods):
    pod = pods["dl0_to_dl1"]
    spec = pod["spec"]
    (container,) = spec["containers"]
    assert container["image"] == SETTINGS.image
    assert container["command"] == ["datapipe"]
    assert container["args"] == ["dl0-to-dl1", "/data/in/2026-11-24.h5", "--output", "/data/out.h5"]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    data = volumes[mounts[SETTINGS.data_mount_path]]
    assert data["persistentVolumeClaim"]["claimName"] == SETTINGS.kubernetes.data_volume_claim
    assert "emptyDir" in volumes[mounts["/tmp"]]
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}
    assert env["DATAPIPE_DATA_ROOT"] == SETTINGS.data_mount_path
    assert env["DATAPIPE_CATALOG_URL"] == SETTINGS.kubernetes.catalog_url
    assert env["PGPASSWORD"] == {"secretKeyRef": {"name": "datapipe-catalog", "key": "password"}}
    for config in SETTINGS.kubernetes.config_maps:
        (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == config.mount_path]
        assert mount["readOnly"] is True
        assert volumes[mount["name"]]["configMap"]["name"] == config.name
    assert env["AIRFLOW_CTX_DAG_RUN_ID"] == RUN_ID
    assert env["AIRFLOW_CTX_TASK_ID"] == "stage_dl0_to_dl1"
    assert env["DATAPIPE_CAMPAIGN"] == "nightly-2026"
    assert container["terminationMessagePolicy"] == "FallbackToLogsOnError"


def test_pod_is_scheduled_on_datapipe_nodes_and_labelled(pods):
    pod = pods["train"]
    spec = pod["spec"]
    assert spec["nodeSelector"] == SETTINGS.kubernetes.node_selector
    assert [t["key"] for t in spec["tolerations"]] == [
        t.key for t in SETTINGS.kubernetes.tolerations
    ]
    labels = pod["metadata"]["labels"]
    assert labels["datapipe.ctao.org/campaign"] == "nightly-2026"
    assert labels["datapipe.ctao.org/stage"] == "train"
    # a run id is not a valid label value as it is: made safe, still recognisable
    assert labels["datapipe.ctao.org/run"].startswith("scheduled__2026-11-24T12")
    assert pod["metadata"]["namespace"] == SETTINGS.kubernetes.namespace
    assert pod["metadata"]["name"].startswith("datapipe-train")


def test_pod_is_deleted_on_success_only_and_deferrable():
    op = stage_task("t", ["info"], backend="kubernetes")
    assert op.on_finish_action.value == "delete_succeeded_pod"
    assert op.get_logs is True
    assert op.deferrable is SETTINGS.kubernetes.deferrable
