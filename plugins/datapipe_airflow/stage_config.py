"""The execution backend setting and the per-kind stage resources (``include/airflow/stages.yaml``).

The backend is read once per DAG parse, in this order: the environment variable
``DATAPIPE_EXECUTION_BACKEND``; the Airflow Variable ``datapipe_execution_backend`` (which Airflow
itself also reads from ``AIRFLOW_VAR_DATAPIPE_EXECUTION_BACKEND``); ``local``.

The stage configuration is YAML validated by pydantic: an unknown key, a kind without resources or
a wrong type stops the DAG parse with one line naming the file and the key.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

Backend = Literal["local", "container", "kubernetes"]
BACKENDS: tuple[str, ...] = ("local", "container", "kubernetes")
BACKEND_ENV = "DATAPIPE_EXECUTION_BACKEND"
BACKEND_VARIABLE = "datapipe_execution_backend"
CONFIG_ENV = "DATAPIPE_STAGE_CONFIG"


class StageConfigError(ValueError):
    """The stage configuration or the backend setting is invalid (one line: file and problem)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Resources(_Strict):
    """Kubernetes-style quantities (``cpu: 500m``, ``memory: 2Gi``)."""

    cpu: str
    memory: str


class StageKind(_Strict):
    """What one kind of stage needs: its pool and its container resources."""

    description: str = ""
    pool: str = "default_pool"
    requests: Resources
    limits: Resources


class Toleration(_Strict):
    """A Kubernetes toleration (``key``/``operator``/``value``/``effect``)."""

    key: str
    operator: Literal["Equal", "Exists"] = "Equal"
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None


class KubernetesSettings(_Strict):
    """Pod settings of the ``kubernetes`` backend."""

    namespace: str = "datapipe"
    connection_id: str = "kubernetes_default"
    service_account: str | None = None
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    data_volume_claim: str
    scratch_size_limit: str = "2Gi"
    run_as_user: int = Field(default=10001, gt=0)
    run_as_group: int = Field(default=0, ge=0)
    fs_group: int = Field(default=0, ge=0)
    node_selector: dict[str, str] = Field(default_factory=dict)
    tolerations: list[Toleration] = Field(default_factory=list)
    catalog_secret: str | None = None
    deferrable: bool = True
    startup_timeout_seconds: int = Field(default=600, gt=0)


class ContainerSettings(_Strict):
    """Settings of the ``container`` backend (a Docker-API engine on this machine)."""

    docker_url: str = ""
    data_dir: str = ""
    network_mode: str = ""


class StageSettings(_Strict):
    """The whole ``stages.yaml``."""

    image: str
    data_mount_path: str = "/data"
    kubernetes: KubernetesSettings
    container: ContainerSettings = Field(default_factory=ContainerSettings)
    kinds: dict[str, StageKind]

    def kind(self, name: str) -> StageKind:
        """The settings of stage kind ``name``; an unknown kind names the known ones."""
        try:
            return self.kinds[name]
        except KeyError:
            known = ", ".join(sorted(self.kinds))
            raise StageConfigError(
                f"{config_path()}: unknown stage kind '{name}' (known: {known})"
            ) from None


def repository_root() -> Path:
    """The repository checkout holding ``plugins/`` (and ``include/``, ``dags/``)."""
    return Path(__file__).resolve().parents[2]


def config_path() -> Path:
    """``$DATAPIPE_STAGE_CONFIG`` if set, else the repository's ``include/airflow/stages.yaml``."""
    configured = os.environ.get(CONFIG_ENV)
    if configured:
        return Path(configured)
    return repository_root() / "include" / "airflow" / "stages.yaml"


@functools.lru_cache(maxsize=8)
def _load(path: Path) -> StageSettings:
    import yaml

    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise StageConfigError(f"{path}: stage configuration file does not exist") from None
    except yaml.YAMLError as exc:
        raise StageConfigError(f"{path}: not valid YAML ({exc.__class__.__name__})") from None
    try:
        return StageSettings.model_validate(data or {})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "<top level>"
        raise StageConfigError(f"{path}: key '{where}': {first['msg']}") from None


def load_stage_settings(path: str | Path | None = None) -> StageSettings:
    """Read and validate the stage configuration (cached per path)."""
    return _load(Path(path) if path is not None else config_path())


def _airflow_variable(key: str) -> str | None:
    try:
        from airflow.sdk import Variable

        value = Variable.get(key, default=None)
    except Exception:  # no metadata DB / API reachable at parse time: fall back to the default
        return None
    return None if value is None else str(value)


def execution_backend() -> str:
    """The configured execution backend: env, then Airflow Variable, then ``local``."""
    value = os.environ.get(BACKEND_ENV) or _airflow_variable(BACKEND_VARIABLE) or "local"
    value = value.strip().lower()
    if value not in BACKENDS:
        raise StageConfigError(
            f"{BACKEND_ENV}/{BACKEND_VARIABLE}: unknown execution backend '{value}' "
            f"(choose one of: {', '.join(BACKENDS)})"
        )
    return value
