"""The Helm chart charts/datapipe: lint, render, validate, and what the rendered objects allow.

No cluster: ``helm lint`` / ``helm template`` with the default values (plus the required image
tag) and with production-like values, every manifest validated by ``kubernetes-validate
--strict`` (bundled schemas), and assertions on the objects in the style of the official Airflow
chart's ``helm_tests``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from chart_env import CHART, DEFAULT_SET, NAMESPACE, PRODUCTION_VALUES, run_helm

pytestmark = pytest.mark.requirement("DPPS-DP-R-151")

VALUE_SETS = ["default", "production"]


def objects(manifests: list[dict], kind: str) -> list[dict]:
    return [m for m in manifests if m["kind"] == kind]


def one(manifests: list[dict], kind: str) -> dict:
    (found,) = objects(manifests, kind)
    return found


def pod_specs(manifests: list[dict]) -> list[tuple[str, dict]]:
    """Every pod spec the chart renders (pods and pod templates), with its object's name."""
    specs = []
    for m in manifests:
        if m["kind"] == "Pod":
            specs.append((m["metadata"]["name"], m["spec"]))
        elif "template" in m.get("spec", {}):
            specs.append((m["metadata"]["name"], m["spec"]["template"]["spec"]))
    return specs


# --- lint, render, validate ------------------------------------------------------------------


@pytest.mark.parametrize("values", VALUE_SETS)
def test_helm_lint(helm, values):
    args = DEFAULT_SET if values == "default" else ("-f", str(PRODUCTION_VALUES))
    result = run_helm(helm, "lint", str(CHART), "--strict", *args)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("values", VALUE_SETS)
def test_every_rendered_manifest_is_valid(rendered, values, tmp_path):
    paths = []
    for i, manifest in enumerate(rendered[values]):
        path = tmp_path / f"{i:02d}-{manifest['kind']}.json"
        path.write_text(json.dumps(manifest))
        paths.append(str(path))
    tool = Path(sys.executable).with_name("kubernetes-validate")
    result = subprocess.run(
        [str(tool), "--strict", "--quiet", *paths], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    kinds = {m["kind"] for m in rendered[values]}
    assert kinds == {
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "PersistentVolumeClaim",
        "ConfigMap",
        "NetworkPolicy",
        "Job",
        "Pod",
    }


# --- RBAC ----------------------------------------------------------------------------------

#: What the kubernetes backend does with pods, and nothing more.
MINIMAL_RULES = {
    ("", "pods"): {"create", "delete", "get", "list", "patch", "watch"},
    ("", "pods/log"): {"get"},
}


@pytest.mark.parametrize("values", VALUE_SETS)
def test_rbac_is_exactly_the_minimal_namespaced_set(rendered, values):
    manifests = rendered[values]
    assert not objects(manifests, "ClusterRole")
    assert not objects(manifests, "ClusterRoleBinding")
    role = one(manifests, "Role")
    assert role["metadata"]["namespace"] == NAMESPACE
    rules: dict[tuple[str, str], set[str]] = {}
    for rule in role["rules"]:
        assert set(rule) == {"apiGroups", "resources", "verbs"}  # no resourceNames tricks
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                rules.setdefault((group, resource), set()).update(rule["verbs"])
    assert rules == MINIMAL_RULES
    binding = one(manifests, "RoleBinding")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": role["metadata"]["name"],
    }
    assert {(s["kind"], s["name"], s["namespace"]) for s in binding["subjects"]} == {
        ("ServiceAccount", name, NAMESPACE)
        for name in ("airflow-scheduler", "airflow-worker", "airflow-triggerer")
    }
    stage_account = one(manifests, "ServiceAccount")
    assert stage_account["automountServiceAccountToken"] is False
    assert stage_account["metadata"]["name"] not in {s["name"] for s in binding["subjects"]}


# --- pod security ----------------------------------------------------------------------------


@pytest.mark.parametrize("values", VALUE_SETS)
def test_every_pod_meets_the_restricted_standard(rendered, values):
    specs = pod_specs(rendered[values])
    assert {name for name, _ in specs} == {"datapipe-catalog-init", "datapipe-stage-image-test"}
    for name, spec in specs:
        pod_security = spec["securityContext"]
        assert pod_security["runAsNonRoot"] is True, name
        assert pod_security["runAsUser"] > 0, name
        assert pod_security["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert spec["automountServiceAccountToken"] is False, name
        assert spec["serviceAccountName"] == "datapipe-stage", name
        for key in ("hostNetwork", "hostPID", "hostIPC"):
            assert not spec.get(key), name
        assert all("hostPath" not in v for v in spec.get("volumes", [])), name
        for container in spec.get("initContainers", []) + spec["containers"]:
            security = container["securityContext"]
            assert security["runAsNonRoot"] is True, name
            assert security["readOnlyRootFilesystem"] is True, name
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["privileged"] is False, name
            assert security["capabilities"] == {"drop": ["ALL"]}, name
            assert security["seccompProfile"] == {"type": "RuntimeDefault"}, name
            assert container["resources"]["limits"], name


# --- secrets, catalog, network ----------------------------------------------------------------


@pytest.mark.parametrize("values", VALUE_SETS)
def test_no_secret_in_values_or_config_maps(rendered, values):
    manifests = rendered[values]
    assert not objects(manifests, "Secret")  # the chart never holds a secret
    for config_map in objects(manifests, "ConfigMap"):
        text = json.dumps(config_map["data"])
        assert not re.search(r"://[^/@\s]*:[^/@\s]*@", text), config_map["metadata"]["name"]
        assert "PGPASSWORD" not in text
    secret = "dpps-catalog-credentials" if values == "production" else "datapipe-catalog"
    (job,) = objects(manifests, "Job")
    env = {e["name"]: e for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["PGPASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == secret
    assert "value" not in env["PGPASSWORD"]
    assert "@" in env["DATAPIPE_CATALOG_URL"]["value"]
    assert ":" not in env["DATAPIPE_CATALOG_URL"]["value"].split("://")[1].split("@")[0]


def test_config_maps_hold_include_config(rendered):
    config_maps = {m["metadata"]["name"]: m for m in objects(rendered["default"], "ConfigMap")}
    source = Path(CHART).parents[1] / "include" / "config"
    for directory in sorted(p for p in source.iterdir() if p.is_dir()):
        data = config_maps[f"datapipe-config-{directory.name.replace('_', '-')}"]["data"]
        assert data == {f.name: f.read_text() for f in directory.iterdir() if f.is_file()}


def test_network_policy_lets_stage_pods_reach_the_catalog_and_dns_only(rendered):
    policy = one(rendered["production"], "NetworkPolicy")["spec"]
    assert policy["podSelector"] == {
        "matchExpressions": [{"key": "datapipe.ctao.org/stage", "operator": "Exists"}]
    }
    assert set(policy["policyTypes"]) == {"Ingress", "Egress"}
    assert policy["ingress"] == []
    catalog, dns = policy["egress"]
    assert catalog == {
        "to": [{"ipBlock": {"cidr": "10.20.30.40/32"}}],
        "ports": [{"protocol": "TCP", "port": 5432}],
    }
    assert {p["port"] for p in dns["ports"]} == {53}
    assert dns["to"][0]["podSelector"] == {"matchLabels": {"k8s-app": "kube-dns"}}
    for manifest in rendered["production"]:
        if manifest["kind"] in {"Pod", "Job"}:
            meta = manifest if manifest["kind"] == "Pod" else manifest["spec"]["template"]
            assert "datapipe.ctao.org/stage" in meta["metadata"]["labels"]


# --- the values schema ------------------------------------------------------------------------


def test_schema_rejects_a_missing_image_tag(helm):
    result = run_helm(helm, "template", "datapipe", str(CHART))
    assert result.returncode != 0
    assert "/image/tag" in result.stderr


@pytest.mark.parametrize(
    ("setting", "where"),
    [
        (("--set-string", "catalog.port=five-four-three-two"), "/catalog/port"),
        (("--set", "stages.runAsUser=0"), "/stages/runAsUser"),
        (("--set", "data.persistence.size=lots"), "/data/persistence/size"),
        (("--set", "stages.colour=blue"), "/stages"),
        (("--set-string", "catalog.user=datapipe:hunter2"), "/catalog/user"),
    ],
)
def test_schema_rejects_wrong_values_naming_the_key(helm, setting, where):
    result = run_helm(helm, "template", "datapipe", str(CHART), *DEFAULT_SET, *setting)
    assert result.returncode != 0
    assert f"at '{where}'" in result.stderr, result.stderr


def test_every_values_key_has_a_comment():
    lines = (CHART / "values.yaml").read_text().splitlines()
    for i, line in enumerate(lines):
        if re.match(r"^\s*[A-Za-z0-9_.-]+:", line):
            previous = lines[i - 1].strip() if i else ""
            assert previous.startswith("#"), f"values.yaml:{i + 1}: {line.strip()} has no comment"


def test_airflow_values_configure_the_kubernetes_backend():
    values = yaml.safe_load((CHART / "airflow-values.yaml").read_text())
    env = {e["name"]: e["value"] for e in values["env"]}
    assert env["DATAPIPE_EXECUTION_BACKEND"] == "kubernetes"
    assert values["config"]["datapipe"]["execution_backend"] == "kubernetes"
    assert ":" not in env["DATAPIPE_CATALOG_URL"].split("://")[1].split("@")[0]
    assert values["secret"] == [
        {"envName": "PGPASSWORD", "secretName": "datapipe-catalog", "secretKey": "password"}
    ]
    mounts = {m["name"]: m["mountPath"] for m in values["volumeMounts"]}
    assert env["DATAPIPE_STAGE_CONFIG"].startswith(mounts["datapipe-stages"] + "/")
    assert mounts["datapipe-data"] == env["DATAPIPE_DATA_ROOT"]
