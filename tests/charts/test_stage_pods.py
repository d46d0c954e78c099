"""The stage pods the kubernetes backend renders from the chart's stages.yaml fit the chart.

Each stage kind's pod, built by the stage-task factory exactly as the provider builds it from the
``datapipe-stages`` ConfigMap the chart renders, uses the chart's service account, volumes and
security context, is selected by its NetworkPolicy, and the Kubernetes API calls the backend
makes to run it (recorded by a fake client) are all allowed by the chart's Role.
"""

from __future__ import annotations

import pytest
from airflow.sdk.exceptions import AirflowException
from airflow_env import kubernetes_validate, render_pod
from datapipe_airflow import stage_config
from datapipe_airflow.stage import stage_task
from datapipe_airflow.stage_config import load_stage_settings
from fake_kubernetes import install, run_pod_task

pytestmark = pytest.mark.requirement("DPPS-DP-R-151")

VALUE_SETS = ["default", "production"]


def chart_objects(manifests: list[dict]) -> dict[tuple[str, str], dict]:
    return {(m["kind"], m["metadata"]["name"]): m for m in manifests}


@pytest.fixture(params=VALUE_SETS)
def chart(request, rendered, tmp_path, monkeypatch):
    """The chart rendered with one value set, its stages.yaml installed as the configuration."""
    manifests = rendered[request.param]
    stages = chart_objects(manifests)[("ConfigMap", "datapipe-stages")]["data"]["stages.yaml"]
    path = tmp_path / "stages.yaml"
    path.write_text(stages)
    monkeypatch.setenv(stage_config.CONFIG_ENV, str(path))
    monkeypatch.setenv("DATAPIPE_EXECUTION_BACKEND", "kubernetes")
    return manifests


def stage_pods(kinds) -> dict[str, dict]:
    pods = {}
    for kind in kinds:
        op = stage_task(
            f"stage_{kind}",
            [kind.replace("_", "-"), "/data/in.h5", "--output", "/data/out.h5"],
            kind=kind,
            outputs=["/data/out.h5"],
        )
        pods[kind] = render_pod(op)
    return pods


def test_stage_pods_use_the_charts_identity_volumes_and_security(chart, tmp_path):
    objects = chart_objects(chart)
    settings = load_stage_settings()
    pods = stage_pods(sorted(settings.kinds))
    assert kubernetes_validate(list(pods.values()), tmp_path).returncode == 0
    role = objects[("Role", "datapipe-pod-launcher")]
    (account,) = [m for m in chart if m["kind"] == "ServiceAccount"]
    (job,) = [m for m in chart if m["kind"] == "Job"]
    chart_pod = job["spec"]["template"]["spec"]
    chart_env = {e["name"]: e for e in chart_pod["containers"][0]["env"]}
    selector = objects[("NetworkPolicy", "datapipe-stages")]["spec"]["podSelector"]
    (required_label,) = [e["key"] for e in selector["matchExpressions"]]
    for kind, pod in pods.items():
        spec = pod["spec"]
        assert pod["metadata"]["namespace"] == role["metadata"]["namespace"], kind
        assert spec["serviceAccountName"] == account["metadata"]["name"], kind
        assert spec["automountServiceAccountToken"] is False
        assert spec["securityContext"] == chart_pod["securityContext"], kind
        (container,) = spec["containers"]
        assert container["securityContext"] == chart_pod["containers"][0]["securityContext"]
        assert container["image"] == chart_pod["containers"][0]["image"]
        assert required_label in pod["metadata"]["labels"], kind  # under the NetworkPolicy
        for volume in spec["volumes"]:
            if "persistentVolumeClaim" in volume:
                claim = volume["persistentVolumeClaim"]["claimName"]
                assert ("PersistentVolumeClaim", claim) in objects, claim
            elif "configMap" in volume:
                assert ("ConfigMap", volume["configMap"]["name"]) in objects
            else:
                assert set(volume) == {"name", "emptyDir"}, volume
        env = {e["name"]: e for e in container["env"]}
        assert env["PGPASSWORD"] == chart_env["PGPASSWORD"]
        assert env["DATAPIPE_CATALOG_URL"] == chart_env["DATAPIPE_CATALOG_URL"]
        mounts = {m["mountPath"] for m in container["volumeMounts"]}
        assert {"/data", "/tmp"} < mounts


@pytest.mark.parametrize("exit_code", [0, 2, 137])
def test_the_backend_needs_only_what_the_role_grants(chart, monkeypatch, tmp_path, exit_code):
    objects = chart_objects(chart)
    granted = {
        (verb, resource)
        for rule in objects[("Role", "datapipe-pod-launcher")]["rules"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    cluster = install(monkeypatch)
    message = "datapipe: error: /data/in.h5: no such file" if exit_code == 2 else ""
    calls = set()
    for deferrable in (True, False):
        api = cluster(exit_code, message=message, log=("working",))
        out = tmp_path / "out.h5"
        out.write_bytes(b"")
        op = stage_task("calibrate", ["dl0-to-dl1", "/data/in.h5"], kind="dl0_to_dl1")
        op.deferrable = deferrable
        op.outputs = [str(out)]
        if exit_code:
            with pytest.raises(AirflowException):
                run_pod_task(op)
        else:
            assert run_pod_task(op) == [str(out)]
        calls |= set(api.calls)
    assert calls <= granted
    assert {("create", "pods"), ("get", "pods"), ("get", "pods/log")} <= calls
